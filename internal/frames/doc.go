// Package frames is the compact binary form of the WebSocket client
// protocol ("encoding":"binary2" in hello, docs/protocol.md "Compact binary
// form"): the frames that carry several keyed deltas at once, written
// against state the two ends of a session share, so that what repeats from
// frame to frame crosses the wire once.
//
// Each direction of a session has its own Writer (the sender's side) and
// Reader (the receiver's side), which must see the same frames in the same
// order. They hold:
//
//   - the replica table: a replica id is sent in full the first time the
//     direction needs it and then by its index in the table;
//   - the last clock: a delta's clock is sent as the difference from the
//     previous one;
//   - (node to client) the last cursor: a frame's cursor is sent as the
//     entries that changed.
//
// A delta's own encoding is crdt's (crdt.Batch, one item): its body is
// copied as it is, and a Reader rebuilds the canonical one-item batch so
// that crdt.UnmarshalBatch, which refuses everything non-canonical, decodes
// it. Reading a frame that does not decode leaves the Reader unchanged.
package frames
