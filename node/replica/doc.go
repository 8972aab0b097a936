// Package replica is replication between nodes: it pushes every new log
// entry of this node to its peers, repairs what a push missed with
// anti-entropy, and catches a peer up by state transfer when the logs no
// longer reach back far enough.
//
// It owns:
//   - the peer table: what each peer last reported of its version vector,
//     when it was heard from, and the entries sent to or received from it
//     lately, which answers leave out (replication.go, members.go);
//   - the peer wire format, a one-byte message kind and then its body
//     (wire.go);
//   - a bounded pool of workers for what peers' messages ask for, one task
//     of a peer at a time and a bounded queue per peer, so that a fast or
//     hostile peer costs a worker, not a goroutine per message
//     (peer_work.go);
//   - state transfer: digests, wants, ranges and the finish that sets the
//     receiver's log floor (statesync.go);
//   - full-state mode, the baseline lattice bench measures deltas against
//     (fullstate.go);
//   - the fold rule and scheduler: which node folds a retired counter
//     writer (its decider, by the peers' reported views and vectors) and
//     when (Config.FoldAfter), through the store's fold request (fold.go).
//
// Everything a peer sends that changes data goes to the store's committer
// as a request (store.Request); log truncation is the store's too
// (Store.TruncateLogs, asked for once an anti-entropy round). Presence
// states pass through as JSON, for the node to hand to the presence table.
//
// It must not: write Badger other than through the store's committer; know
// clients, HTTP or WebSocket (that is node/api); know how bytes reach a
// peer (that is transport/); import the node package.
package replica
