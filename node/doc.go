// Package node is a Lattice server node: it accepts operations and deltas,
// joins them into objects kept in Badger, numbers them in its own delta log,
// pushes them to peers at once, and repairs what pushes missed with
// anti-entropy.
//
// One goroutine, the committer, owns every write: requests queue on a
// channel and it applies a whole queue's worth in one Badger transaction, so
// concurrent writes share one sync and the log gets gap-free sequence
// numbers. A write is acknowledged only after its transaction is durable.
//
// The package must not know the CRDT semantics (that is crdt/) nor how bytes
// reach peers (that is transport/); it is the plumbing between them.
package node
