// Package node is a Lattice server node: it accepts operations and deltas,
// joins them into objects kept in Badger, numbers them in its own delta log,
// pushes them to peers at once, and repairs what pushes missed with
// anti-entropy.
//
// The work is done by three packages below this one, and this one wires
// them (docs/architecture.md, "Layout"):
//   - node/store: Badger and the committer, the one goroutine that writes
//     it. Requests queue on a channel and it applies a whole queue's worth in
//     one Badger transaction, so concurrent writes share one sync and the
//     log gets gap-free sequence numbers. A write is acknowledged only after
//     its transaction is durable.
//   - node/replica: replication between nodes, which reaches the store only
//     through committer requests and reads.
//   - node/api: the HTTP and WebSocket client API, which serves a Backend
//     this package makes.
//
// Open opens the store and the presence table; Attach starts replication.
// Each commit, once durable, goes to the observers (the WebSocket hub's
// live deltas) and then to replication's push. The names the client API's
// callers use (NewHTTPHandler, HTTPOptions, the auth functions) are here too
// (serve.go), so that cmd/lattice and the tests open a Node and serve it.
//
// Time and chance come in through Config: Config.Clock for every interval
// and timer the node keeps, Config.Now for the hybrid clock's physical
// time, Config.Rand for its random choices. The node counts the work it
// has under way (busy.go), so that a simulation that injects all three
// and a transport.SimNet can take one event at a time and replay a seed
// (docs/architecture.md, "Simulation"). Socket deadlines stay on the
// machine's clock: they belong to the network.
//
// The package must not know the CRDT semantics (that is crdt/) nor how bytes
// reach peers (that is transport/); no package below imports it.
package node
