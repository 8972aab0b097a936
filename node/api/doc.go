// Package api is a node's client API: HTTP (objects, listings, digest,
// cluster view, health, metrics, admin faults) and the WebSocket protocol
// (docs/api.md, docs/protocol.md), with auth, limits and presence.
//
// It owns:
//   - the HTTP handler (http.go, and a file per concern beside it: routes
//     and errors, strict JSON, auth, listings, objects, faults, metrics);
//   - the WebSocket endpoint (ws.go) and its connections, one file per
//     concept: ws_conn.go a connection's life, ws_hello.go the handshake and
//     auth, ws_dispatch.go reading and dispatching messages, ws_join.go a
//     delta's way to the committer, ws_send.go the send queue and writer,
//     ws_hub.go subscriptions and live deltas, ws_catchup.go catch-up,
//     ws_snapshot.go snapshot pages, ws_compact.go the compact binary form,
//     ws_folded.go folded counter writers in what clients get;
//   - tokens and grants (auth.go), the per-connection rate limit
//     (token_bucket.go), strict decoding of client JSON (json_exact.go);
//   - presence (presence.go): ephemeral states in memory, fed by connections
//     and by peers, never stored.
//
// It serves a Backend: the node's store, which it reads and whose committer
// it submits to, its presence table, its metrics registry, its clock, and
// the few things only the node knows (its cluster view, its observers, when
// it closes). The node makes the Backend; the api does not import the node
// package, nor replication (node/replica): peers reach it only through the
// Backend's functions.
//
// It must not: write Badger but through the store's committer; trust a
// client's delta before crdt.ClientRule passed it in the committer; block
// the committer (observers offer to bounded queues); keep presence on disk.
package api
