package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/node/store"
)

// A connection's first message: hello, the protocol version, the token and the
// replica it claims.

type helloMsg struct {
	T        string            `json:"t"`
	V        json.RawMessage   `json:"v"`
	Replica  string            `json:"replica"`
	Token    string            `json:"token"` // ignored when auth is off
	Encoding string            `json:"encoding"`
	Cursor   map[string]uint64 `json:"cursor"`
}

// hello reads the first message and answers welcome; on a bad one it
// closes the connection (4001, 4002) and reports false.
func (c *wsConn) hello() bool {
	_ = c.ws.SetReadDeadline(time.Now().Add(c.opts.IdleTimeout))
	mt, data, err := c.ws.ReadMessage()
	if err != nil {
		if errors.Is(err, websocket.ErrReadLimit) {
			c.drain()
		}
		c.ws.Close()
		return false
	}
	c.h.metrics.in("hello")
	var m helloMsg
	var head struct {
		T string `json:"t"`
	}
	if mt != websocket.TextMessage || json.Unmarshal(data, &head) != nil || head.T != protocol.Hello || decodeExact(data, &m) != nil {
		c.closeWith(protocol.CloseHelloRequired, "hello_required")
		return false
	}
	var v int64
	if err := json.Unmarshal(m.V, &v); err != nil {
		c.closeWith(protocol.CloseHelloRequired, "hello_required")
		return false
	}
	if v != 1 {
		c.closeWith(protocol.CloseUnsupportedVersion, "unsupported_version")
		return false
	}
	id, err := parseClientReplica(m.Replica)
	if err != nil || (m.Encoding != "" && m.Encoding != "json" && m.Encoding != "binary" && m.Encoding != protocol.EncodingCompact) {
		c.closeWith(protocol.CloseHelloRequired, "hello_required")
		return false
	}
	if m.Cursor != nil {
		c.resume = crdt.VersionVector{}
		for k, s := range m.Cursor {
			o, err := parseLowerUUID(k)
			if err != nil {
				c.closeWith(protocol.CloseHelloRequired, "hello_required")
				return false
			}
			c.resume[o] = s
		}
	}
	if !c.authenticate(m.Token, id) {
		return false
	}
	c.replica = id
	c.binary = m.Encoding == "binary" || m.Encoding == protocol.EncodingCompact
	c.compact = m.Encoding == protocol.EncodingCompact
	c.connID = c.n.Presence.newConn()
	c.log = c.log.With("replica", id.String())
	if c.grant != nil {
		c.log = c.log.With("sub", c.grant.Subject)
	}
	c.log.Debug("websocket session opened", "encoding", m.Encoding, "resume", m.Cursor != nil)
	// No subscription exists yet, so the cursor vacuously holds; later
	// ones are snapshotted or caught up at least to it.
	c.claim = c.h.hub.safe.Load()
	welcome := marshalWS(struct {
		T       string            `json:"t"`
		V       int               `json:"v"`
		Node    string            `json:"node"`
		NodeID  string            `json:"node_id"`
		Cluster string            `json:"cluster,omitempty"`
		Cursor  map[string]uint64 `json:"cursor"`
		Limits  map[string]any    `json:"limits"`
		Feats   []string          `json:"features"`
	}{protocol.Welcome, 1, c.n.Name, c.n.Store.ID().String(), c.n.ClusterID, store.VVJSON(c.n.Store.VersionVector()),
		map[string]any{"max_frame": c.opts.MaxFrame, "max_subs": c.opts.MaxSubs, "rate": c.opts.Rate, "snapshot_chunk": c.opts.SnapshotChunk},
		protocol.Features})
	if err := c.writeFrame(websocket.TextMessage, protocol.Welcome, welcome); err != nil {
		c.ws.Close()
		return false
	}
	return true
}

// authenticate settles the session's grant when auth is on: the hello's
// token if it has one, else the upgrade's; a session without a valid one
// closes with 4003 (4004 if it expired). The token must name the hello's
// replica, so that the dots the node accepts from this client (only the
// hello replica's) are the token holder's.
func (c *wsConn) authenticate(token string, replica crdt.ReplicaID) bool {
	auth := c.opts.Auth
	if auth == nil {
		return true
	}
	fail := func(reason string, code int, text string, err error) bool {
		c.h.sec.authFailures.WithLabelValues("ws", reason).Inc()
		c.log.Info("websocket session refused", "reason", reason, "replica", replica.String(), "err", err)
		c.closeWith(code, text)
		return false
	}
	if token != "" {
		g, err := auth.Verify(token)
		if err != nil {
			if errors.Is(err, ErrTokenExpired) {
				return fail("expired", protocol.CloseTokenExpired, "token_expired", err)
			}
			return fail("invalid", protocol.CloseUnauthorized, "unauthorized", err)
		}
		c.grant = g
	}
	if c.grant == nil {
		return fail("missing", protocol.CloseUnauthorized, "unauthorized", ErrTokenMissing)
	}
	if c.grant.Replica != replica {
		return fail("replica", protocol.CloseUnauthorized, "unauthorized", fmt.Errorf("the token is for replica %s", c.grant.Replica))
	}
	if !c.grant.Expires.After(c.n.Clock.Now()) {
		return fail("expired", protocol.CloseTokenExpired, "token_expired", ErrTokenExpired)
	}
	return true
}

// forbidden refuses a message the session's token does not cover.
func (c *wsConn) forbidden(id json.RawMessage, format string, args ...any) {
	c.h.sec.authFailures.WithLabelValues("ws", "forbidden").Inc()
	c.replyError(id, protocol.Forbidden, format, args...)
}

// parseClientReplica parses a client's replica id: a lowercase UUID that
// is not version 5, the version of the nodes' fold replicas
// (crdt.FoldReplica), under which a client could mint the dots of a node's
// folds (docs/crdt-cost.md).
func parseClientReplica(s string) (crdt.ReplicaID, error) {
	id, err := parseLowerUUID(s)
	if err == nil && id.Version() == 5 {
		err = errors.New("a version 5 UUID, which names a node's fold replica")
	}
	return id, err
}

func parseLowerUUID(s string) (crdt.ReplicaID, error) {
	id, err := uuid.Parse(s)
	if err == nil && id.String() != s {
		err = errors.New("not a lowercase UUID")
	}
	return id, err
}
