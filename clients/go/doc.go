// Package lattice is the offline-first Go client of Lattice, for mobile,
// desktop and command-line apps. A Client is a replica: it keeps a local
// copy of the keys it touches in a Badger directory the app chooses,
// applies edits to it at once, with or without a network, and syncs with
// any node of a cluster over the WebSocket protocol of docs/protocol.md
// (JSON encoding, or the compact binary form with Options.Binary).
//
//	c, err := lattice.Open(&lattice.Options{
//		Dir:  filepath.Join(appDir, "replica"),
//		URLs: "wss://a.example.com,wss://b.example.com",
//	})
//	sub, err := c.SubscribePrefix("todo/", handler) // sync todo/… and hear of changes
//	err = c.Inc("todo/count", "", 1)                 // works offline
//	err = c.Set("todo/list", "t1/title", lattice.JSONString("Buy milk"))
//	v, err := c.Get("todo/list")                     // {"t1":{"title":"Buy milk"}}
//
// How it syncs (the same rules as the JavaScript client, clients/js):
//
//   - Every edit mints a dot under the client's own replica id (a UUID made
//     when the directory is first used), so a delta means the same thing
//     however often it arrives. Each edit's delta is persisted, and synced
//     to disk, as pending before the call returns, then sent; it stays
//     pending until a node acknowledges it, and is sent again after every
//     reconnect, to whichever node answers. Resending joins harmlessly:
//     that is what makes a retry after a lost acknowledgement, or a
//     failover to another node, take effect exactly once.
//   - Edits to one key made while no connection carries them are joined
//     into one pending delta.
//   - The resume cursor (a node version vector) is kept, and persisted,
//     only from messages that arrive while every subscription it will
//     resume has been answered, and it then speaks for exactly the
//     subscriptions answered. hello carries it whenever it speaks for
//     some subscription; a subscription it does not speak for goes with
//     "fresh" and is answered by a snapshot, and also with "empty" when
//     the client holds no object and no pending delta under its target
//     and the node's welcome lists empty_sub (that snapshot then leaves folded counter writers out of its
//     context). When the nodes' logs no longer reach back to it, they
//     answer with a snapshot too.
//   - A snapshot cut off by a dropped connection continues on the next
//     one from the position of the last page joined (the sub's "resume"),
//     when the node lists the snapshot_resume feature.
//   - Node URLs are tried in turn, moving on to the next one after a
//     failure, with jittered exponential backoff.
//
// The package must not implement CRDT semantics of its own: every
// mutation is crdt.Apply and every merge crdt's Join, the one
// implementation the nodes run. It must not call app code while holding
// its lock (handlers run on one event goroutine, in order), must not send
// a delta before it is durable on disk (a crash would then let the
// replica mint the same dot twice), and must not drop a pending delta
// except when a node refuses its content.
//
// # Binding with gomobile
//
// The bound surface uses only strings, int64, bool, []byte, the structs
// Options, Client and Subscription, and the callback interfaces
// ChangeHandler, StatusHandler and ErrorHandler (checked with gobind:
// only Client.ApplyOp, Options.RootCAs, Options.Logger and ChangeFunc are
// left out). Values and structured
// results cross as JSON text: a value argument is one JSON scalar
// ("\"milk\"", "42", "true", "null"; JSONString quotes a string), Get
// returns the plain value as JSON, Keys a JSON array. A path names map
// fields from the root down, joined by "/" ("" is the key itself); Apply
// takes any operation in the JSON form of docs/crdt.md, for field names
// that contain "/". Durations are int64 milliseconds. Options.RootCAs and
// Options.Logger are Go-only (gomobile skips them); use Options.CAPEM or
// Options.CAFile from other languages.
package lattice
