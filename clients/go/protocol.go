package lattice

import "encoding/json"

// The messages of docs/protocol.md that this client sends and reads as
// JSON; the frames of the compact binary form are in binary.go.

type helloMsg struct {
	T        string            `json:"t"`
	V        int               `json:"v"`
	Replica  string            `json:"replica"`
	Token    string            `json:"token,omitempty"`
	Encoding string            `json:"encoding"`
	Cursor   map[string]uint64 `json:"cursor,omitzero"`
}

type subMsg struct {
	T      string  `json:"t"`
	ID     uint64  `json:"id"`
	Key    *string `json:"key,omitempty"`
	Prefix *string `json:"prefix,omitempty"`
	Fresh  bool    `json:"fresh,omitempty"`
	// Empty: the client holds nothing under the target (holdsNothingLocked).
	Empty bool `json:"empty,omitempty"`
	// Resume continues a snapshot cut off with the connection, from the
	// position its last page carried (docs/protocol.md, "Resumable
	// snapshots").
	Resume json.RawMessage `json:"resume,omitempty"`
}

type unsubMsg struct {
	T  string `json:"t"`
	ID uint64 `json:"id"`
}

type deltaMsg struct {
	T     string          `json:"t"`
	ID    uint64          `json:"id"`
	Key   string          `json:"key"`
	Delta json.RawMessage `json:"delta"`
}

type pingMsg struct {
	T  string `json:"t"`
	ID uint64 `json:"id"`
}

// inMsg is every message a node sends, by its fields.
type inMsg struct {
	T       string            `json:"t"`
	ID      json.RawMessage   `json:"id"`
	Sub     *uint64           `json:"sub"`
	Node    string            `json:"node"`
	Cluster string            `json:"cluster"`
	Objects []snapObject      `json:"objects"`
	Done    bool              `json:"done"`
	Cursor  map[string]uint64 `json:"cursor"`
	Resume  json.RawMessage   `json:"resume"`   // snapshot pages but the last
	Feats   []string          `json:"features"` // welcome
	Key     string            `json:"key"`
	Delta   json.RawMessage   `json:"delta"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Conn    string            `json:"conn"`    // presence
	Replica string            `json:"replica"` // presence
	State   json.RawMessage   `json:"state"`   // presence
}

type snapObject struct {
	Key   string          `json:"key"`
	State json.RawMessage `json:"state"`
}

// id reads a message id; ok is false when there is none or it is not ours
// (a number).
func (m *inMsg) id() (uint64, bool) {
	if len(m.ID) == 0 {
		return 0, false
	}
	var id uint64
	if err := json.Unmarshal(m.ID, &id); err != nil {
		return 0, false
	}
	return id, true
}
