package api

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/node/store"
)

// The reader's side of a connection: one client message decoded and handed to
// its handler, under the connection's rate limit.

// readLoop handles messages until the connection fails or closes.
func (c *wsConn) readLoop() {
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(c.opts.IdleTimeout))
		mt, data, err := c.ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.drain()
			}
			return
		}
		if mt == websocket.BinaryMessage {
			c.handleBinary(data)
		} else {
			c.handleText(data)
		}
		if c.ctx.Err() != nil {
			return
		}
	}
}

// inHead is what every client message has.
type inHead struct {
	T  *string         `json:"t"`
	ID json.RawMessage `json:"id"`
}

func (c *wsConn) handleText(data []byte) {
	var head inHead
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	checked := crdt.CheckJSON(data)
	if len(trimmed) == 0 || trimmed[0] != '{' || checked != nil || json.Unmarshal(data, &head) != nil {
		c.h.metrics.in("unknown")
		if !c.allow() {
			c.replyError(nil, protocol.RateLimited, "over %g messages per second", c.opts.Rate)
			return
		}
		msg := "a message is one JSON object"
		if checked != nil {
			msg += ": " + strings.TrimPrefix(checked.Error(), crdt.ErrInvalid.Error()+": ")
		}
		c.replyError(nil, protocol.BadJSON, "%s", msg)
		return
	}
	id := head.ID
	if string(id) == "null" {
		id = nil
	}
	t := ""
	if head.T != nil {
		t = *head.T
	}
	c.h.metrics.in(t)
	if !c.allow() {
		c.replyError(id, protocol.RateLimited, "over %g messages per second", c.opts.Rate)
		return
	}
	switch t {
	case "":
		c.replyError(id, protocol.BadMessage, `a message needs a string "t"`)
	case protocol.Hello:
		c.replyError(id, protocol.BadMessage, "hello was already said")
	case protocol.Sub:
		c.handleSub(id, data)
	case protocol.Unsub:
		c.handleUnsub(id, data)
	case protocol.Delta:
		c.handleDelta(id, data)
	case protocol.Presence:
		c.handlePresence(id, data)
	case protocol.Ping:
		var m struct {
			T  string          `json:"t"`
			ID json.RawMessage `json:"id"`
		}
		if err := decodeExact(data, &m); err != nil {
			c.replyError(id, protocol.BadMessage, "ping: %v", err)
			return
		}
		c.reply(protocol.Pong, marshalWS(struct {
			T  string          `json:"t"`
			ID json.RawMessage `json:"id,omitempty"`
		}{protocol.Pong, id}))
	default:
		c.replyError(id, protocol.UnknownType, "unknown message type %q", t)
	}
}

type subMsg struct {
	T      string  `json:"t"`
	ID     *uint64 `json:"id"`
	Key    *string `json:"key"`
	Prefix *string `json:"prefix"`
	Fresh  bool    `json:"fresh"`
	// Empty says the client holds nothing under the target, no object and
	// no delta of its own (ws_folded.go); it implies fresh.
	Empty bool `json:"empty"`
	// Resume continues a cut-off snapshot from the position its last page
	// carried (ws_snapshot.go).
	Resume json.RawMessage `json:"resume"`
}

func (c *wsConn) handleSub(id json.RawMessage, data []byte) {
	var m subMsg
	if err := decodeExact(data, &m); err != nil {
		c.replyError(id, protocol.BadMessage, "sub: %v", err)
		return
	}
	if m.ID == nil || (m.Key == nil) == (m.Prefix == nil) {
		c.replyError(id, protocol.BadMessage, `sub needs an "id" and exactly one of "key" and "prefix"`)
		return
	}
	if m.Empty && m.Resume != nil {
		c.replyError(id, protocol.BadMessage, `sub: "empty" and "resume" contradict: a client resuming a snapshot holds its first pages`)
		return
	}
	s := &wsSub{c: c, id: *m.ID, fresh: m.Fresh || m.Empty, empty: m.Empty}
	if m.Key != nil {
		if err := store.CheckKey(*m.Key); err != nil {
			c.replyError(id, protocol.InvalidKey, "%v", err)
			return
		}
		s.key = *m.Key
	} else {
		// A prefix may be empty (everything) but is otherwise held to the
		// rules of keys.
		if *m.Prefix != "" && store.CheckKey(*m.Prefix) != nil {
			c.replyError(id, protocol.InvalidKey, "prefix must be at most %d bytes of UTF-8", store.MaxKeyLen)
			return
		}
		s.key, s.isPrefix = *m.Prefix, true
	}
	if m.Resume != nil {
		from, err := parseResumeRaw(m.Resume, s)
		if err != nil {
			c.replyError(id, protocol.BadMessage, "sub: %v", err)
			return
		}
		s.from = from
	}
	if c.grant != nil && !c.grant.CanReadPrefix(s.key) {
		what := "key"
		if s.isPrefix {
			what = "prefix"
		}
		c.forbidden(id, "the token may not read %s %q", what, s.key)
		return
	}
	c.mu.Lock()
	_, dup := c.subs[s.id]
	full := len(c.subs) >= c.opts.MaxSubs
	if !dup && !full {
		c.subs[s.id] = s
	}
	c.mu.Unlock()
	switch {
	case dup:
		c.replyError(id, protocol.DuplicateSub, "subscription %d exists", s.id)
		return
	case full:
		c.h.sec.limitHits.WithLabelValues("subscriptions").Inc()
		c.replyError(id, protocol.TooManySubs, "at most %d subscriptions per connection", c.opts.MaxSubs)
		return
	}
	// Registered before the writer reads its snapshot, so no change falls
	// between the two; one in both arrives twice, which joins harmlessly.
	// The same holds for presence: the writer reads the set after the
	// snapshot, and a change queued before it is at most repeated.
	c.h.hub.add(s)
	c.enqueue(wsOut{kind: outSub, sub: s})
}

// handlePresence publishes the connection's presence state on a key (a
// JSON object of at most MaxPresenceBytes; null clears it). Anyone who may
// read the key may be present on it.
func (c *wsConn) handlePresence(id json.RawMessage, data []byte) {
	key, state, err := presenceOf(data)
	if err != nil {
		c.replyError(id, protocol.BadMessage, "%v", err)
		return
	}
	if err := store.CheckKey(key); err != nil {
		c.replyError(id, protocol.InvalidKey, "%v", err)
		return
	}
	if c.grant != nil && !c.grant.CanRead(key) {
		c.forbidden(id, "the token may not read key %q", key)
		return
	}
	if len(state) > MaxPresenceBytes {
		c.h.sec.limitHits.WithLabelValues("presence_size").Inc()
		c.replyError(id, protocol.PresenceLimit, "a presence state is at most %d bytes of JSON, not %d", MaxPresenceBytes, len(state))
		return
	}
	p := Presence{Key: key, Conn: c.connID, Replica: c.replica.String(), State: state}
	if !p.gone() && !c.n.Presence.has(c.connID, key) && c.n.Presence.LocalCount(c.connID) >= MaxPresenceKeys {
		c.h.sec.limitHits.WithLabelValues("presence_keys").Inc()
		c.replyError(id, protocol.PresenceLimit, "a connection is present on at most %d keys", MaxPresenceKeys)
		return
	}
	c.n.Presence.Publish(p)
}

// presenceFrame is the message telling a client of a presence state.
func presenceFrame(p Presence) []byte {
	return marshalWS(struct {
		T string `json:"t"`
		Presence
		TTL int64 `json:"ttl"`
	}{protocol.Presence, p, PresenceClientTTL.Milliseconds()})
}

func (c *wsConn) handleUnsub(id json.RawMessage, data []byte) {
	var m struct {
		T  string  `json:"t"`
		ID *uint64 `json:"id"`
	}
	if err := decodeExact(data, &m); err != nil || m.ID == nil {
		c.replyError(id, protocol.BadMessage, `unsub needs a numeric "id"`)
		return
	}
	c.mu.Lock()
	s := c.subs[*m.ID]
	delete(c.subs, *m.ID)
	c.mu.Unlock()
	if s == nil {
		c.replyError(id, protocol.UnknownSub, "no subscription %d", *m.ID)
		return
	}
	c.h.hub.remove(s)
}

type deltaMsg struct {
	T     string          `json:"t"`
	ID    *uint64         `json:"id"`
	Key   *string         `json:"key"`
	Delta json.RawMessage `json:"delta"`
}

func (c *wsConn) handleDelta(id json.RawMessage, data []byte) {
	var m deltaMsg
	if err := decodeExact(data, &m); err != nil {
		c.replyError(id, protocol.BadMessage, "delta: %v", err)
		return
	}
	if m.ID == nil || m.Key == nil || len(m.Delta) == 0 {
		c.replyError(id, protocol.BadMessage, `delta needs "id", "key" and "delta"`)
		return
	}
	raw := m.Delta
	c.join(*m.ID, *m.Key, func() (*crdt.Object, error) { return crdt.UnmarshalObjectJSON(raw) })
}

// handleBinary takes a client delta in the binary form: 'D', uvarint id,
// a one-item crdt.Batch.
func (c *wsConn) handleBinary(data []byte) {
	c.h.metrics.in("delta")
	if !c.allow() {
		c.replyError(nil, protocol.RateLimited, "over %g messages per second", c.opts.Rate)
		return
	}
	if !c.binary {
		c.replyError(nil, protocol.BadMessage, `binary frames need "encoding":"binary" in hello`)
		return
	}
	if c.compact {
		c.handleCompact(data)
		return
	}
	if len(data) == 0 || data[0] != 'D' {
		c.replyError(nil, protocol.BadMessage, "unknown binary message")
		return
	}
	id, n := binary.Uvarint(data[1:])
	if n <= 0 {
		c.replyError(nil, protocol.BadMessage, "binary delta: bad id")
		return
	}
	idJSON := json.RawMessage(fmt.Sprint(id))
	b, err := crdt.UnmarshalBatch(data[1+n:])
	if err != nil || len(b.Items) != 1 {
		c.replyError(idJSON, protocol.BadMessage, "binary delta: not a one-item batch")
		return
	}
	it := b.Items[0]
	c.join(id, it.Key, func() (*crdt.Object, error) { return it.Delta, nil })
}

// allow takes a token from the rate limiter, counting a refusal.
func (c *wsConn) allow() bool {
	if c.limiter.allow(c.n.Clock.Now()) {
		return true
	}
	c.h.sec.limitHits.WithLabelValues("rate").Inc()
	return false
}
