package crdt

import "errors"

// Store is one object's leaves as the mutators and the join reach them. The
// in-memory Object is one; the node keeps another in Badger, a key per leaf
// and a key per dot, so that applying a delta reads and writes only the
// leaves the delta touches. Both run the same Apply and JoinInto, so there
// is one implementation of the semantics.
//
// Entries passed to SetLeaf become the store's; entries returned by Leaf
// and Leaves must not be modified. Errors are the store's own (I/O); the
// algorithms return them wrapped.
type Store interface {
	// Leaf returns the entries at key, nil if there are none.
	Leaf(key string) ([]Entry, error)
	// SetLeaf replaces the entries at key; empty entries delete the leaf.
	// The store keeps its dot index in step.
	SetLeaf(key string, entries []Entry) error
	// ReplicaLeaf returns the entries of writer r in the counter leaf at
	// key, nil if there are none. A counter keeps one group of entries per
	// writer, and a store keeps them apart, so that a write by one writer
	// costs that writer's entries whatever the number of writers.
	ReplicaLeaf(key string, r ReplicaID) ([]Entry, error)
	// SetReplicaLeaf replaces writer r's entries in the counter leaf at key,
	// keeping the dot index and the leaf's Tally in step.
	SetReplicaLeaf(key string, r ReplicaID, entries []Entry) error
	// CounterTally returns the Tally of the counter leaf at key.
	CounterTally(key string) (Tally, error)
	// Range calls fn for every leaf with lo <= key < hi, in key order; an
	// empty hi means no upper bound. Returning ErrStop from fn ends the walk
	// without error.
	Range(lo, hi string, fn func(key string, entries []Entry) error) error
	// Dots calls fn for every dot of replica r with lo <= seq <= hi that
	// some leaf holds, with that leaf's key, in any order.
	Dots(r ReplicaID, lo, hi uint64, fn func(d Dot, key string) error) error
}

// ErrStop ends a Leaves or Dots walk early; the walk then returns nil.
var ErrStop = errors.New("crdt: stop walk")

// Leaves walks the leaves of st whose keys start with prefix, in key order.
func Leaves(st Store, prefix string, fn func(key string, entries []Entry) error) error {
	return st.Range(prefix, prefixEnd(prefix), fn)
}

// prefixEnd is the least key greater than every key starting with p, or ""
// (no bound) if there is none.
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// hasLeaves reports whether any leaf starts with prefix.
func hasLeaves(st Store, prefix string) (bool, error) {
	found := false
	err := Leaves(st, prefix, func(string, []Entry) error {
		found = true
		return ErrStop
	})
	return found, err
}

// dotsUnder returns every dot held below prefix.
func dotsUnder(st Store, prefix string) ([]Dot, error) {
	var ds []Dot
	err := Leaves(st, prefix, func(_ string, es []Entry) error {
		for _, e := range es {
			e.EachLiveDot(func(d Dot) { ds = append(ds, d) })
		}
		return nil
	})
	return ds, err
}
