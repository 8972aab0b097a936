// Package crdt is Lattice's pure core: delta-state CRDTs, the causality
// metadata they carry, a hybrid logical clock, and the canonical encodings
// that make equal states byte-identical.
//
// It must stay pure, like etcd's raft: no network, no disk, no goroutines and
// no wall clock. Time comes in as a Timestamp the caller made from its own
// clock; bytes come in as slices. That is what lets the node, the Go client
// and the tests share one implementation and trust it.
//
// # Model
//
// Every object is a causal CRDT in the sense of Almeida, Shoker and Baquero
// ("Delta State Replicated Data Types"): a dot store plus a CausalContext.
// The dot store is kept flat: a sorted set of leaves, each addressed by a
// Path from the object's root type down through map fields and set
// elements. A leaf is a small dot store (a dot set, or a dot function
// mapping each dot to a counter pair, a register value or a timestamped
// value, or a text block's pieces). Keeping it flat is what lets the node store and join one leaf at a
// time, so writing one field of a huge map costs the size of the delta, not
// of the map.
//
//	o := crdt.NewObject()
//	d, err := o.Apply(replica, now, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("x")})
//	// d is the delta: send it anywhere, any number of times, in any order.
//	other.Join(d)
//
// Join is commutative, associative and idempotent for every type, and
// join(x, delta) equals the state the mutator produced. Equal states encode
// to equal bytes (MarshalBinary, MarshalJSON), so a hash of the encoding
// identifies a state.
//
// The types are G-counter, PN-counter, add-wins observed-remove set,
// observed-remove map with nested CRDT values, last-writer-wins register on
// the hybrid logical clock, multi-value register, enable-wins flag,
// collaborative text (Fugue, text.go) and list with move (Fugue positions,
// list.go). See docs/crdt.md for their semantics
// with examples.
//
// A node may fold a retired writer of a root counter into an entry of its
// own (Fold, fold.go): the writer's entry becomes a base that adds nothing
// and may be kept out of the hot state, and the writer still counts once
// if it comes back (docs/crdt-cost.md, "What is reclaimed, and what is
// not").
package crdt
