// Package store is a node's storage: its Badger database and the committer,
// the one goroutine that writes it.
//
// It owns:
//   - the storage layout (keys.go): an object's meta head, its causal context
//     one key per replica (meta.go, metacache.go), a leaf per key and a dot per
//     key (object.go), a counter's writers and tally (counter.go);
//   - the committer (committer.go): requests (a Request: an operation, a
//     client delta, peers' log entries or states, a state transfer's ranges,
//     a floor, a truncation, a fold of a counter writer: Store.Fold, whose
//     rule the caller gives as a gate the committer runs) queue on one channel and are joined with crdt in
//     group commits, one Badger transaction and one sync per batch, pipelined
//     two deep; a request is answered only once its batch is durable;
//   - the delta logs: the log index, the node version vector and the floors
//     (log.go), and truncation past LogRetention (truncate.go), which is a
//     committer request like any write;
//   - the hybrid clock that stamps this node's operations (Store.Now);
//   - what a write is answered with (hot.go) and a client delta's wait for
//     dots it covers that have not arrived yet (unseen.go);
//   - reads from snapshots: objects, listings, log pages and snapshot pages
//     (store.go, list.go, reads.go).
//
// Every commit, once durable, is handed in commit order to the function
// given to Open (the node's: live deltas to subscribers, then the push to
// peers); that function runs on the committer and must not block.
//
// It must not: write Badger from anywhere but the committer; know peers,
// messages or sockets (that is node/replica and node/api); know the CRDT
// semantics beyond calling crdt (that is crdt/); import any other package of
// node/.
package store
