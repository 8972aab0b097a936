package protocol

// Version is the protocol version a client names in hello; a node refuses
// any other with CloseUnsupportedVersion.
const Version = 1

// Message types: the "t" field of every JSON message.
const (
	// Client to node.
	Hello    = "hello"
	Sub      = "sub"
	Unsub    = "unsub"
	Delta    = "delta" // also node to client: a live change
	Ping     = "ping"
	Presence = "presence" // also node to client: a presence change

	// Node to client.
	Welcome     = "welcome"
	Snapshot    = "snapshot"
	Catchup     = "catchup"
	Ack         = "ack"
	Resync      = "resync"
	Error       = "error"
	Pong        = "pong"
	PresenceSet = "presence_set"
)

// Features a node lists in welcome ("features"): what it supports beyond
// version 1's base. A client uses one only when welcome lists it.
const (
	// FeatureSnapshotResume: snapshot pages carry "resume" and sub accepts
	// it (docs/protocol.md, "Resumable snapshots").
	FeatureSnapshotResume = "snapshot_resume"
	// FeatureCompact: hello accepts "encoding":"binary2", the compact
	// binary form (docs/protocol.md, "Compact binary form").
	FeatureCompact = "binary2"
	// FeatureEmptySub: sub accepts "empty" (docs/protocol.md, "sub"); an
	// older node refuses the field as unknown (bad_message).
	FeatureEmptySub = "empty_sub"
)

// Features is every feature this version of the node supports.
var Features = []string{FeatureSnapshotResume, FeatureCompact, FeatureEmptySub}

// Encodings a client may ask for in hello.
const (
	EncodingJSON   = "json"
	EncodingBinary = "binary"
	// EncodingCompact is the compact binary form (internal/frames):
	// multi-delta frames, a per-session replica table, the cursor as a
	// difference.
	EncodingCompact = "binary2"
)
