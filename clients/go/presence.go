package lattice

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lattice-sync/lattice/internal/protocol"
)

// Presence (docs/protocol.md): a small ephemeral state this client shows
// on a key to every subscriber of it, on every node, while it is
// connected, and the others' states on the keys it subscribes to. Never
// stored: the client sends its states again on every connection.

// PresenceHandler hears the others' presence on subscribed keys: the key,
// the publishing connection's name, its client's replica id, and the state
// as JSON ("null" when it is gone).
type PresenceHandler interface {
	OnPresence(key, conn, replica, state string)
}

// PresenceFunc adapts a function to PresenceHandler.
type PresenceFunc func(key, conn, replica, state string)

// OnPresence implements PresenceHandler.
func (f PresenceFunc) OnPresence(key, conn, replica, state string) { f(key, conn, replica, state) }

// maxPresenceBytes is the node's limit on one state.
const maxPresenceBytes = 1024

// SetPresence publishes this client's presence on key: a JSON object (at
// most 1 KiB), or "null" to clear it. It is sent now if online, and again
// on every new connection until cleared.
func (c *Client) SetPresence(key, state string) error {
	if key == "" || len(key) > 1024 {
		return fmt.Errorf("presence: key must be 1 to 1024 bytes")
	}
	s := strings.TrimSpace(state)
	if s != "null" && (!json.Valid([]byte(s)) || !strings.HasPrefix(s, "{")) {
		return fmt.Errorf("presence: state must be a JSON object or null")
	}
	if len(s) > maxPresenceBytes {
		return fmt.Errorf("presence: state of %d bytes exceeds %d", len(s), maxPresenceBytes)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if s == "null" {
		delete(c.presence, key)
	} else {
		c.presence[key] = s
	}
	if c.conn != nil {
		c.conn.kick()
	}
	return nil
}

// Presence returns the others' presence on key as a JSON array of
// {"conn","replica","state"}.
func (c *Client) Presence(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	type entry struct {
		Conn    string          `json:"conn"`
		Replica string          `json:"replica"`
		State   json.RawMessage `json:"state"`
	}
	out := []entry{}
	for conn, p := range c.others[key] {
		out = append(out, entry{conn, p.replica, json.RawMessage(p.state)})
	}
	b, _ := json.Marshal(out)
	return string(b)
}

type otherPresence struct{ replica, state string }

// presenceOwedLocked is what this connection has not been told of this
// client's presence: states changed since last sent, and clears.
func (cn *conn) presenceOwedLocked() [][]byte {
	c := cn.c
	var frames [][]byte
	send := func(key, state string) {
		b, _ := json.Marshal(struct {
			T     string          `json:"t"`
			Key   string          `json:"key"`
			State json.RawMessage `json:"state"`
		}{protocol.Presence, key, json.RawMessage(state)})
		frames = append(frames, b)
	}
	for key, s := range c.presence {
		if cn.presence[key] != s {
			cn.presence[key] = s
			send(key, s)
		}
	}
	for key := range cn.presence {
		if _, ok := c.presence[key]; !ok {
			delete(cn.presence, key)
			send(key, "null")
		}
	}
	return frames
}

// onPresenceLocked records another connection's presence and tells the
// handler.
func (c *Client) onPresenceLocked(m *inMsg) {
	if m.Key == "" || m.Conn == "" {
		return
	}
	state := strings.TrimSpace(string(m.State))
	if state == "" {
		state = "null"
	}
	if state == "null" {
		if _, ok := c.others[m.Key][m.Conn]; !ok {
			return
		}
		delete(c.others[m.Key], m.Conn)
		if len(c.others[m.Key]) == 0 {
			delete(c.others, m.Key)
		}
	} else {
		if c.others[m.Key] == nil {
			c.others[m.Key] = map[string]otherPresence{}
		}
		c.others[m.Key][m.Conn] = otherPresence{m.Replica, state}
	}
	c.postPresenceLocked(m.Key, m.Conn, m.Replica, state)
}

// forgetOthersLocked drops what a connection said of others' presence, as
// gone: the next connection's subscriptions tell it afresh.
func (c *Client) forgetOthersLocked() {
	for key, m := range c.others {
		for conn, p := range m {
			c.postPresenceLocked(key, conn, p.replica, "null")
		}
	}
	c.others = map[string]map[string]otherPresence{}
}

func (c *Client) postPresenceLocked(key, conn, replica, state string) {
	if h := c.set.onPresence; h != nil {
		c.events.post(func() { h.OnPresence(key, conn, replica, state) })
	}
}
