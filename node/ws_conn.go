package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
)

// One connection: the reader (ServeHTTP's goroutine) decodes and handles
// client messages; one writer goroutine owns every write. They meet at
// send, a bounded queue. Replies wait for room in it (the reader stops
// reading: back-pressure on that client only); live deltas, offered by the
// committer, never wait: one that does not fit marks the connection for a
// resync, and the writer replaces what was queued by fresh snapshots.
// Presence changes never wait either: one that does not fit marks the
// connection presence-dirty, and the writer replaces the presence it had
// queued by the whole set under each subscription (presence_set).

type wsOutKind uint8

const (
	outFrame    wsOutKind = iota // a reply, encoded
	outLive                      // a live change
	outSub                       // a new subscription's snapshot or catch-up
	outPresence                  // a presence change, encoded
)

type wsOut struct {
	kind  wsOutKind
	t     string // outFrame's message type, for metrics
	frame []byte
	live  *liveChange
	sub   *wsSub
}

type wsConn struct {
	h    *WSHandler
	n    *Node
	ws   *websocket.Conn
	opts *WSOptions

	ctx    context.Context
	cancel context.CancelFunc

	send      chan wsOut
	wake      chan struct{} // the committer's nudge after an overflow
	overflow  atomic.Bool   // a live delta did not fit; resync before anything else
	presDirty atomic.Bool   // a presence change did not fit, or is to be confirmed: resend the sets
	presHeld  bool          // the client may hold others' presence from us; writer only
	gen       uint64        // the hub's dedup stamp; committer goroutine only

	// Set by ServeHTTP and hello, before the writer starts; read-only
	// after. grant is nil when auth is off.
	log     *slog.Logger
	grant   *Grant
	replica crdt.ReplicaID
	connID  string // names the connection in presence states
	binary  bool
	resume  crdt.VersionVector // hello's cursor; nil without one

	mu   sync.Mutex
	subs map[uint64]*wsSub

	claim   *wsCursor // what the client may resume from; writer only
	limiter tokenBucket
	sem     chan struct{} // deltas in flight
	deltas  sync.WaitGroup
}

// wsWaitShare is how many of one connection's deltas may wait at once for
// dots not received yet (Config.UnseenDotsWait): enough for a client that
// read ahead, too few for one connection to take MaxWaitingDeltas.
const wsWaitShare = 8

func newWSConn(h *WSHandler, ws *websocket.Conn) *wsConn {
	ctx, cancel := context.WithCancel(withWaitShare(context.Background(), wsWaitShare))
	return &wsConn{
		h: h, n: h.n, ws: ws, opts: &h.opts, log: h.log,
		ctx: ctx, cancel: cancel,
		send:    make(chan wsOut, h.opts.SendQueue),
		wake:    make(chan struct{}, 1),
		subs:    map[uint64]*wsSub{},
		limiter: tokenBucket{rate: h.opts.Rate, burst: float64(h.opts.Burst), tokens: float64(h.opts.Burst), last: time.Now()},
		sem:     make(chan struct{}, h.opts.MaxInFlight),
	}
}

// run serves the connection until either side ends it.
func (c *wsConn) run() {
	defer c.cancel()
	c.ws.SetReadLimit(c.opts.MaxFrame)
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(c.opts.IdleTimeout))
	})
	if !c.hello() {
		return
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	c.readLoop()
	c.cancel()
	c.ws.Close()
	<-writerDone
	c.mu.Lock()
	for _, s := range c.subs {
		c.h.hub.remove(s)
	}
	c.mu.Unlock()
	c.n.presence.dropConn(c.connID)
	c.deltas.Wait()
}

// closeWith ends a connection the writer has not started on: a close frame
// with code, then a short wait for the client's answer.
func (c *wsConn) closeWith(code int, reason string) {
	if code != websocket.CloseNormalClosure {
		c.h.metrics.errors.WithLabelValues(reason).Inc()
	}
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(c.opts.WriteTimeout))
	_ = c.ws.SetReadDeadline(time.Now().Add(closeGrace))
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			break
		}
	}
	c.ws.Close()
}

// drain follows gorilla's 1009 close after an oversized frame: it reads
// and discards the rest of the frame for a moment, so the TCP connection
// is not reset with the close frame still unread by the client.
func (c *wsConn) drain() {
	c.h.metrics.errors.WithLabelValues("frame_too_big").Inc()
	c.h.sec.limitHits.WithLabelValues("frame_size").Inc()
	nc := c.ws.NetConn()
	_ = nc.SetReadDeadline(time.Now().Add(closeGrace))
	_, _ = io.CopyN(io.Discard, nc, 2*c.opts.MaxFrame)
}

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
	if mt != websocket.TextMessage || json.Unmarshal(data, &head) != nil || head.T != "hello" || decodeExact(data, &m) != nil {
		c.closeWith(closeHelloRequired, "hello_required")
		return false
	}
	var v int64
	if err := json.Unmarshal(m.V, &v); err != nil {
		c.closeWith(closeHelloRequired, "hello_required")
		return false
	}
	if v != 1 {
		c.closeWith(closeUnsupportedVersion, "unsupported_version")
		return false
	}
	id, err := parseLowerUUID(m.Replica)
	if err != nil || (m.Encoding != "" && m.Encoding != "json" && m.Encoding != "binary") {
		c.closeWith(closeHelloRequired, "hello_required")
		return false
	}
	if m.Cursor != nil {
		c.resume = crdt.VersionVector{}
		for k, s := range m.Cursor {
			o, err := parseLowerUUID(k)
			if err != nil {
				c.closeWith(closeHelloRequired, "hello_required")
				return false
			}
			c.resume[o] = s
		}
	}
	if !c.authenticate(m.Token, id) {
		return false
	}
	c.replica, c.binary = id, m.Encoding == "binary"
	c.connID = c.n.presence.newConn()
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
	}{"welcome", 1, c.n.Name(), c.n.ID().String(), c.n.cfg.ClusterID, vvJSON(c.n.VersionVector()),
		map[string]any{"max_frame": c.opts.MaxFrame, "max_subs": c.opts.MaxSubs, "rate": c.opts.Rate}})
	if err := c.writeFrame(websocket.TextMessage, "welcome", welcome); err != nil {
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
				return fail("expired", closeTokenExpired, "token_expired", err)
			}
			return fail("invalid", closeUnauthorized, "unauthorized", err)
		}
		c.grant = g
	}
	if c.grant == nil {
		return fail("missing", closeUnauthorized, "unauthorized", ErrTokenMissing)
	}
	if c.grant.Replica != replica {
		return fail("replica", closeUnauthorized, "unauthorized", fmt.Errorf("the token is for replica %s", c.grant.Replica))
	}
	if !c.grant.Expires.After(time.Now()) {
		return fail("expired", closeTokenExpired, "token_expired", ErrTokenExpired)
	}
	return true
}

// forbidden refuses a message the session's token does not cover.
func (c *wsConn) forbidden(id json.RawMessage, format string, args ...any) {
	c.h.sec.authFailures.WithLabelValues("ws", "forbidden").Inc()
	c.replyError(id, wsForbidden, format, args...)
}

func parseLowerUUID(s string) (crdt.ReplicaID, error) {
	id, err := uuid.Parse(s)
	if err == nil && id.String() != s {
		err = errors.New("not a lowercase UUID")
	}
	return id, err
}

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
			c.replyError(nil, wsRateLimited, "over %g messages per second", c.opts.Rate)
			return
		}
		msg := "a message is one JSON object"
		if checked != nil {
			msg += ": " + strings.TrimPrefix(checked.Error(), crdt.ErrInvalid.Error()+": ")
		}
		c.replyError(nil, wsBadJSON, "%s", msg)
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
		c.replyError(id, wsRateLimited, "over %g messages per second", c.opts.Rate)
		return
	}
	switch t {
	case "":
		c.replyError(id, wsBadMessage, `a message needs a string "t"`)
	case "hello":
		c.replyError(id, wsBadMessage, "hello was already said")
	case "sub":
		c.handleSub(id, data)
	case "unsub":
		c.handleUnsub(id, data)
	case "delta":
		c.handleDelta(id, data)
	case "presence":
		c.handlePresence(id, data)
	case "ping":
		var m struct {
			T  string          `json:"t"`
			ID json.RawMessage `json:"id"`
		}
		if err := decodeExact(data, &m); err != nil {
			c.replyError(id, wsBadMessage, "ping: %v", err)
			return
		}
		c.reply("pong", marshalWS(struct {
			T  string          `json:"t"`
			ID json.RawMessage `json:"id,omitempty"`
		}{"pong", id}))
	default:
		c.replyError(id, wsUnknownType, "unknown message type %q", t)
	}
}

type subMsg struct {
	T      string  `json:"t"`
	ID     *uint64 `json:"id"`
	Key    *string `json:"key"`
	Prefix *string `json:"prefix"`
	Fresh  bool    `json:"fresh"`
}

func (c *wsConn) handleSub(id json.RawMessage, data []byte) {
	var m subMsg
	if err := decodeExact(data, &m); err != nil {
		c.replyError(id, wsBadMessage, "sub: %v", err)
		return
	}
	if m.ID == nil || (m.Key == nil) == (m.Prefix == nil) {
		c.replyError(id, wsBadMessage, `sub needs an "id" and exactly one of "key" and "prefix"`)
		return
	}
	s := &wsSub{c: c, id: *m.ID, fresh: m.Fresh}
	if m.Key != nil {
		if err := checkKey(*m.Key); err != nil {
			c.replyError(id, wsInvalidKey, "%v", err)
			return
		}
		s.key = *m.Key
	} else {
		// A prefix may be empty (everything) but is otherwise held to the
		// rules of keys.
		if *m.Prefix != "" && checkKey(*m.Prefix) != nil {
			c.replyError(id, wsInvalidKey, "prefix must be at most %d bytes of UTF-8", MaxKeyLen)
			return
		}
		s.key, s.isPrefix = *m.Prefix, true
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
		c.replyError(id, wsDuplicateSub, "subscription %d exists", s.id)
		return
	case full:
		c.h.sec.limitHits.WithLabelValues("subscriptions").Inc()
		c.replyError(id, wsTooManySubs, "at most %d subscriptions per connection", c.opts.MaxSubs)
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
		c.replyError(id, wsBadMessage, "%v", err)
		return
	}
	if err := checkKey(key); err != nil {
		c.replyError(id, wsInvalidKey, "%v", err)
		return
	}
	if c.grant != nil && !c.grant.CanRead(key) {
		c.forbidden(id, "the token may not read key %q", key)
		return
	}
	if len(state) > MaxPresenceBytes {
		c.h.sec.limitHits.WithLabelValues("presence_size").Inc()
		c.replyError(id, wsPresenceLimit, "a presence state is at most %d bytes of JSON, not %d", MaxPresenceBytes, len(state))
		return
	}
	p := Presence{Key: key, Conn: c.connID, Replica: c.replica.String(), State: state}
	if !p.gone() && !c.n.presence.has(c.connID, key) && c.n.presence.localCount(c.connID) >= MaxPresenceKeys {
		c.h.sec.limitHits.WithLabelValues("presence_keys").Inc()
		c.replyError(id, wsPresenceLimit, "a connection is present on at most %d keys", MaxPresenceKeys)
		return
	}
	c.n.presence.publish(p)
}

// presenceFrame is the message telling a client of a presence state.
func presenceFrame(p Presence) []byte {
	return marshalWS(struct {
		T string `json:"t"`
		Presence
		TTL int64 `json:"ttl"`
	}{"presence", p, presenceClientTTL.Milliseconds()})
}

func (c *wsConn) handleUnsub(id json.RawMessage, data []byte) {
	var m struct {
		T  string  `json:"t"`
		ID *uint64 `json:"id"`
	}
	if err := decodeExact(data, &m); err != nil || m.ID == nil {
		c.replyError(id, wsBadMessage, `unsub needs a numeric "id"`)
		return
	}
	c.mu.Lock()
	s := c.subs[*m.ID]
	delete(c.subs, *m.ID)
	c.mu.Unlock()
	if s == nil {
		c.replyError(id, wsUnknownSub, "no subscription %d", *m.ID)
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
		c.replyError(id, wsBadMessage, "delta: %v", err)
		return
	}
	if m.ID == nil || m.Key == nil || len(m.Delta) == 0 {
		c.replyError(id, wsBadMessage, `delta needs "id", "key" and "delta"`)
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
		c.replyError(nil, wsRateLimited, "over %g messages per second", c.opts.Rate)
		return
	}
	if !c.binary {
		c.replyError(nil, wsBadMessage, `binary frames need "encoding":"binary" in hello`)
		return
	}
	if len(data) == 0 || data[0] != 'D' {
		c.replyError(nil, wsBadMessage, "unknown binary message")
		return
	}
	id, n := binary.Uvarint(data[1:])
	if n <= 0 {
		c.replyError(nil, wsBadMessage, "binary delta: bad id")
		return
	}
	idJSON := json.RawMessage(fmt.Sprint(id))
	b, err := crdt.UnmarshalBatch(data[1+n:])
	if err != nil || len(b.Items) != 1 {
		c.replyError(idJSON, wsBadMessage, "binary delta: not a one-item batch")
		return
	}
	it := b.Items[0]
	c.join(id, it.Key, func() (*crdt.Object, error) { return it.Delta, nil })
}

// join runs one client delta on a goroutine of its own, at most
// MaxInFlight at once: when they are all busy the reader waits here.
func (c *wsConn) join(id uint64, key string, decode func() (*crdt.Object, error)) {
	if c.grant != nil && !c.grant.CanWrite(key) {
		c.forbidden(json.RawMessage(fmt.Sprint(id)), "the token may not write %q", key)
		return
	}
	select {
	case c.sem <- struct{}{}:
	case <-c.ctx.Done():
		return
	}
	c.deltas.Add(1)
	go func() {
		defer func() {
			<-c.sem
			c.deltas.Done()
		}()
		idJSON := json.RawMessage(fmt.Sprint(id))
		d, err := decode()
		if err != nil {
			c.replyError(idJSON, wsInvalidDelta, "%s", userMessage(err))
			return
		}
		if err := checkKey(key); err != nil {
			c.replyError(idJSON, wsInvalidKey, "%s", userMessage(err))
			return
		}
		if !c.n.Ready() {
			c.replyError(idJSON, wsUnavailable, "the node is shutting down")
			return
		}
		if err := c.n.JoinClient(c.ctx, c.replica, key, d); err != nil {
			code, msg := c.classify(err)
			c.replyError(idJSON, code, "%s", msg)
			return
		}
		c.reply("ack", marshalWS(struct {
			T  string `json:"t"`
			ID uint64 `json:"id"`
		}{"ack", id}))
	}()
}

func (c *wsConn) classify(err error) (code, msg string) {
	switch {
	case errors.Is(err, ErrInvalidKey):
		return wsInvalidKey, userMessage(err)
	case errors.Is(err, ErrForgedDot):
		return wsForgedDot, userMessage(err)
	case errors.Is(err, crdt.ErrOutOfRange):
		return wsOutOfRange, userMessage(err)
	case errors.Is(err, crdt.ErrUnseenDots):
		return wsUnseenDots, userMessage(err) + "; resend the delta later"
	case errors.Is(err, crdt.ErrWrongType):
		return wsWrongType, userMessage(err)
	case errors.Is(err, crdt.ErrInvalid), errors.Is(err, crdt.ErrLimit):
		return wsInvalidDelta, userMessage(err)
	case errors.Is(err, ErrClosed), !c.n.Ready():
		return wsUnavailable, "the node is shutting down"
	case c.ctx.Err() != nil:
		return wsUnavailable, "the connection is closing"
	}
	c.log.Error("websocket delta failed", "err", err)
	return wsInternal, "internal error; the delta may be resent"
}

// enqueue waits for room in the send queue, unless the connection ends.
func (c *wsConn) enqueue(m wsOut) {
	select {
	case c.send <- m:
	case <-c.ctx.Done():
	}
}

func (c *wsConn) reply(t string, frame []byte) {
	c.enqueue(wsOut{kind: outFrame, t: t, frame: frame})
}

func (c *wsConn) replyError(id json.RawMessage, code, format string, args ...any) {
	c.h.metrics.errors.WithLabelValues(code).Inc()
	c.reply("error", marshalWS(struct {
		T       string          `json:"t"`
		Code    string          `json:"code"`
		Message string          `json:"message"`
		ID      json.RawMessage `json:"id,omitempty"`
	}{"error", code, fmt.Sprintf(format, args...), id}))
}

// offerPresence queues a presence frame if there is room. If not, it
// marks the connection presence-dirty: the writer then resends the sets,
// which hold what this frame said.
func (c *wsConn) offerPresence(frame []byte) {
	select {
	case c.send <- wsOut{kind: outPresence, t: "presence", frame: frame}:
	default:
		c.h.metrics.errors.WithLabelValues("presence_dropped").Inc()
		c.markPresence()
	}
}

// markPresence has the writer resend the presence under every subscription.
// It never waits.
func (c *wsConn) markPresence() {
	c.presDirty.Store(true)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// offer queues a live change without ever waiting: it runs on the
// committer. If the queue is full the connection is marked for a resync,
// and until the writer gets to it further changes are not queued at all:
// the snapshots it sends will hold them.
func (c *wsConn) offer(lc *liveChange) {
	if c.overflow.Load() {
		return
	}
	select {
	case c.send <- wsOut{kind: outLive, live: lc}:
	default:
		if c.overflow.CompareAndSwap(false, true) {
			c.h.metrics.resyncs.Inc()
		}
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// writeLoop is the connection's only writer.
func (c *wsConn) writeLoop() {
	defer c.cancel() // a reader waiting for queue room must not wait on a dead writer
	ping := time.NewTicker(c.opts.PingInterval)
	defer ping.Stop()
	var expired <-chan time.Time // never, without auth
	if c.grant != nil {
		t := time.NewTimer(time.Until(c.grant.Expires))
		defer t.Stop()
		expired = t.C
	}
	for {
		var err error
		if c.overflow.Load() {
			err = c.resync()
		} else if c.presDirty.Load() {
			err = c.presenceResync()
		} else {
			select {
			case m := <-c.send:
				err = c.write(m)
			case <-c.wake:
			case <-ping.C:
				err = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.opts.WriteTimeout))
			case <-c.ctx.Done():
				return
			case <-c.h.done:
				c.shutdown()
				return
			case <-c.n.quit:
				c.shutdown()
				return
			case <-expired:
				c.expire()
				return
			}
		}
		if err != nil {
			c.fail(err)
			return
		}
	}
}

// shutdown says goodbye with 1000 and gives the client a moment to answer
// before the reader gives up.
func (c *wsConn) shutdown() {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "node shutting down"), time.Now().Add(c.opts.WriteTimeout))
	_ = c.ws.SetReadDeadline(time.Now().Add(closeGrace))
}

// expire closes a session whose token has expired with 4004: the client
// gets a new token and reconnects with its cursor.
func (c *wsConn) expire() {
	c.h.sec.authFailures.WithLabelValues("ws", "expired").Inc()
	c.h.metrics.errors.WithLabelValues("token_expired").Inc()
	c.log.Info("websocket token expired; closing")
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeTokenExpired, "token_expired"), time.Now().Add(c.opts.WriteTimeout))
	_ = c.ws.SetReadDeadline(time.Now().Add(closeGrace))
}

// fail ends the connection after a failed write. A client that stopped
// reading is told 4008 if the close frame still gets through; usually its
// buffers are full and it just sees the connection drop.
func (c *wsConn) fail(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.h.metrics.errors.WithLabelValues("too_slow").Inc()
		c.log.Info("websocket client too slow; closing")
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeTooSlow, "too_slow"), time.Now().Add(closeGrace))
	} else if !errors.Is(err, net.ErrClosed) && !errors.Is(err, websocket.ErrCloseSent) {
		c.log.Debug("websocket write failed", "err", err)
	}
	c.ws.Close()
}

func (c *wsConn) writeFrame(mt int, t string, b []byte) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	if err := c.ws.WriteMessage(mt, b); err != nil {
		return err
	}
	c.h.metrics.messages.WithLabelValues("out", t).Inc()
	return nil
}

func (c *wsConn) write(m wsOut) error {
	switch m.kind {
	case outFrame:
		return c.writeFrame(websocket.TextMessage, m.t, m.frame)
	case outPresence:
		c.presHeld = true
		return c.writeFrame(websocket.TextMessage, m.t, m.frame)
	case outLive:
		if !c.wants(m.live.key) {
			return nil // unsubscribed since
		}
		if err := c.writeLive(m.live); err != nil {
			return err
		}
		c.claim = m.live.cursor
		return nil
	case outSub:
		c.mu.Lock()
		active := c.subs[m.sub.id] == m.sub
		c.mu.Unlock()
		if !active {
			return nil
		}
		if err := c.answer(m.sub); err != nil {
			return err
		}
		var set []Presence
		c.n.presence.locked("presence set", func() {
			set = c.n.presence.matchingLocked(m.sub.key, m.sub.isPrefix, c.connID)
		})
		return c.writePresenceSet(m.sub.id, set)
	}
	return nil
}

func (c *wsConn) wants(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.subs {
		if s.matches(key) {
			return true
		}
	}
	return false
}

func (c *wsConn) writeLive(lc *liveChange) error {
	if c.binary {
		lc.binOnce.Do(func() { lc.bin, lc.binErr = deltaFrameBinary(c.n, lc.cursor.JSON(), lc.key, lc.delta) })
		if lc.binErr != nil {
			return c.skipBad(lc.key, lc.binErr)
		}
		return c.writeFrame(websocket.BinaryMessage, "delta", lc.bin)
	}
	lc.textOnce.Do(func() { lc.text, lc.textErr = deltaFrameJSON(lc.cursor.JSON(), lc.key, lc.delta) })
	if lc.textErr != nil {
		return c.skipBad(lc.key, lc.textErr)
	}
	return c.writeFrame(websocket.TextMessage, "delta", lc.text)
}

// skipBad logs a change that does not encode; it cannot happen to a delta
// the node accepted, and must not end the connection if it does.
func (c *wsConn) skipBad(key string, err error) error {
	c.log.Error("websocket: a delta does not encode", "key", key, "err", err)
	return nil
}

// refreshClaim advances the cursor the client may resume from, when the
// writer has written everything queued: every change the hub had handed
// out up to its safe vector has then reached this client. The order of
// the two reads matters.
func (c *wsConn) refreshClaim() {
	safe := c.h.hub.safe.Load()
	if len(c.send) == 0 && !c.overflow.Load() {
		c.claim = safe
	}
}

// answer sends a new subscription's catch-up, when hello brought a cursor
// the logs still cover, and its snapshot otherwise.
func (c *wsConn) answer(s *wsSub) error {
	c.refreshClaim()
	if c.resume != nil && !s.fresh {
		ok, err := c.catchUp(s)
		if err != nil || ok {
			s.answered = err == nil
			return err
		}
	}
	if err := c.snapshot(s); err != nil {
		return err
	}
	s.answered = true
	return nil
}

// catchUp sends the changes s covers that the client's cursor lacks, read
// from the logs, then catchup. It reports false, having perhaps sent some
// deltas, when the logs do not hold everything after the cursor.
func (c *wsConn) catchUp(s *wsSub) (bool, error) {
	ranges, ok := c.n.logRangesAfter(c.resume)
	if !ok {
		return false, nil
	}
	cursor := c.claim
	for _, r := range ranges {
		next := r.from // entries up to r.contigTo must all be there
		for from := r.from; from <= r.to; {
			page, err := c.n.readLogPage(r.origin, from, r.to)
			if err != nil {
				return false, err
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				if e.seq <= r.contigTo && e.seq != next {
					return false, nil // truncated under us
				}
				next = e.seq + 1
				if err := c.writeLogEntry(s, cursor, e); err != nil {
					return false, err
				}
			}
			from = page[len(page)-1].seq + 1
		}
		if next <= r.contigTo {
			return false, nil
		}
	}
	return true, c.writeFrame(websocket.TextMessage, "catchup", marshalWS(struct {
		T      string          `json:"t"`
		Sub    uint64          `json:"sub"`
		Cursor json.RawMessage `json:"cursor"`
	}{"catchup", s.id, cursor.JSON()}))
}

func (c *wsConn) writeLogEntry(s *wsSub, cursor *wsCursor, e logEntry) error {
	b, err := crdt.UnmarshalBatch(e.raw)
	if err != nil {
		return nil // the replicator drops these too
	}
	for _, it := range b.Items {
		if !s.matches(it.Key) {
			continue
		}
		var frame []byte
		mt := websocket.TextMessage
		if c.binary {
			mt = websocket.BinaryMessage
			frame, err = deltaFrameBinary(c.n, cursor.JSON(), it.Key, it.Delta)
		} else {
			frame, err = deltaFrameJSON(cursor.JSON(), it.Key, it.Delta)
		}
		if err != nil {
			if err := c.skipBad(it.Key, err); err != nil {
				return err
			}
			continue
		}
		if err := c.writeFrame(mt, "delta", frame); err != nil {
			return err
		}
	}
	return nil
}

// snapshot sends what s covers now, in chunks, the cursor on the last.
func (c *wsConn) snapshot(s *wsSub) error {
	c.refreshClaim()
	cursor := c.claim
	encode := func(o *crdt.Object) ([]byte, error) {
		if c.binary {
			return o.MarshalBinary()
		}
		return o.MarshalJSON()
	}
	if !s.isPrefix {
		o, err := c.n.Get(s.key)
		if err != nil {
			return err
		}
		var objs []snapObject
		if o.Type() != 0 {
			b, err := encode(o)
			if err != nil {
				return err
			}
			objs = append(objs, snapObject{s.key, o, b})
		}
		return c.writeSnapshot(s.id, objs, true, cursor)
	}
	after := ""
	for {
		objs, more, err := c.n.scanPage(s.key, after, snapshotChunk, encode)
		if err != nil {
			return err
		}
		if err := c.writeSnapshot(s.id, objs, !more, cursor); err != nil {
			return err
		}
		if !more {
			return nil
		}
		after = objs[len(objs)-1].key
	}
}

// snapObject is one object of a snapshot chunk, encoded for the client.
type snapObject struct {
	key string
	obj *crdt.Object
	enc []byte
}

func (c *wsConn) writeSnapshot(sub uint64, objs []snapObject, done bool, cursor *wsCursor) error {
	if c.binary {
		b := []byte{'s'}
		b = binary.AppendUvarint(b, sub)
		var cj []byte
		if done {
			b = append(b, 1)
			cj = cursor.JSON()
		} else {
			b = append(b, 0)
		}
		b = binary.AppendUvarint(b, uint64(len(cj)))
		b = append(b, cj...)
		batch := crdt.Batch{Clock: c.n.now()}
		for _, o := range objs {
			batch.Items = append(batch.Items, crdt.BatchItem{Key: o.key, Delta: o.obj})
		}
		raw, err := batch.MarshalBinary()
		if err != nil {
			return err
		}
		return c.writeFrame(websocket.BinaryMessage, "snapshot", append(b, raw...))
	}
	b := fmt.Appendf(nil, `{"t":"snapshot","sub":%d,"objects":[`, sub)
	for i, o := range objs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		b = append(b, jsonString(o.key)...)
		b = append(b, `,"state":`...)
		b = append(b, o.enc...)
		b = append(b, '}')
	}
	b = fmt.Appendf(b, `],"done":%t`, done)
	if done {
		b = append(b, `,"cursor":`...)
		b = append(b, cursor.JSON()...)
	}
	return c.writeFrame(websocket.TextMessage, "snapshot", append(b, '}'))
}

// resync replaces what an overflowed queue held: live deltas are dropped,
// every answered subscription gets resync, then a snapshot taken now.
// Every resync goes out before the first snapshot, so no cursor the client
// sees in between claims a dropped delta for a subscription it still
// counts as current.
func (c *wsConn) resync() error {
	c.overflow.Store(false)
	c.presDirty.Store(true) // the presence sets follow the snapshots
	keep := c.drainExcept(outLive)
	subs, _ := c.answeredSubs()
	for _, s := range subs {
		if err := c.writeFrame(websocket.TextMessage, "resync", fmt.Appendf(nil, `{"t":"resync","sub":%d}`, s.id)); err != nil {
			return err
		}
	}
	for _, s := range subs {
		c.mu.Lock()
		active := c.subs[s.id] == s
		c.mu.Unlock()
		if !active {
			continue
		}
		if err := c.snapshot(s); err != nil {
			return err
		}
	}
	for _, m := range keep {
		if err := c.write(m); err != nil {
			return err
		}
	}
	return nil
}

// presenceResync replaces the presence frames queued by the whole set under
// every answered subscription. It drains the queue and reads the sets under
// the presence table's lock, which the table holds while it queues changes:
// so every change a drained frame said is in the sets, and every frame
// queued later is of a later change.
func (c *wsConn) presenceResync() error {
	subs, all := c.answeredSubs()
	var keep []wsOut
	sets := make([][]Presence, len(subs))
	c.n.presence.locked("presence resync", func() {
		c.presDirty.Store(false)
		keep = c.drainExcept(outPresence)
		for i, s := range subs {
			sets[i] = c.n.presence.matchingLocked(s.key, s.isPrefix, c.connID)
		}
	})
	empty := true
	for i, s := range subs {
		empty = empty && len(sets[i]) == 0
		if err := c.writePresenceSet(s.id, sets[i]); err != nil {
			return err
		}
	}
	if all && empty {
		c.presHeld = false // every subscription was just told: nothing
	}
	for _, m := range keep {
		if err := c.write(m); err != nil {
			return err
		}
	}
	return nil
}

// writePresenceSet tells the client every state under subscription sub, in
// pages of at most about snapshotChunk bytes; the last says done. A client
// that holds nothing of anyone's presence is not told of an empty set.
func (c *wsConn) writePresenceSet(sub uint64, set []Presence) error {
	if len(set) == 0 && !c.presHeld {
		return nil
	}
	c.presHeld = c.presHeld || len(set) > 0
	for {
		n, size := 0, 0
		for n < len(set) && (n == 0 || size+presenceSize(set[n]) <= snapshotChunk) {
			size += presenceSize(set[n])
			n++
		}
		page := marshalWS(struct {
			T      string     `json:"t"`
			Sub    uint64     `json:"sub"`
			States []Presence `json:"states"`
			Done   bool       `json:"done"`
			TTL    int64      `json:"ttl"`
		}{"presence_set", sub, append([]Presence{}, set[:n]...), n == len(set), presenceClientTTL.Milliseconds()})
		if err := c.writeFrame(websocket.TextMessage, "presence_set", page); err != nil {
			return err
		}
		set = set[n:]
		if len(set) == 0 {
			return nil
		}
	}
}

// presenceSize bounds p's size in a message.
func presenceSize(p Presence) int {
	return len(p.Key) + len(p.Conn) + len(p.Replica) + len(p.State) + 64
}

// drainExcept takes what the send queue holds, at most its capacity, and
// returns what was not of kind, in order. Writer only.
func (c *wsConn) drainExcept(kind wsOutKind) []wsOut {
	var keep []wsOut
	for range cap(c.send) {
		select {
		case m := <-c.send:
			if m.kind != kind {
				keep = append(keep, m)
			}
		default:
			return keep
		}
	}
	return keep
}

// answeredSubs returns the subscriptions whose snapshot or catch-up went
// out, by id, and whether that is every subscription. Writer only.
func (c *wsConn) answeredSubs() (subs []*wsSub, all bool) {
	c.mu.Lock()
	all = true
	for _, s := range c.subs {
		if s.answered {
			subs = append(subs, s)
		} else {
			all = false
		}
	}
	c.mu.Unlock()
	slices.SortFunc(subs, func(a, b *wsSub) int { return cmpUint(a.id, b.id) })
	return subs, all
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// deltaFrameJSON is a live or catch-up delta message.
func deltaFrameJSON(cursor []byte, key string, d *crdt.Object) ([]byte, error) {
	dj, err := d.MarshalJSON()
	if err != nil {
		return nil, err
	}
	b := append([]byte(`{"t":"delta","key":`), jsonString(key)...)
	b = append(b, `,"delta":`...)
	b = append(b, dj...)
	b = append(b, `,"cursor":`...)
	b = append(b, cursor...)
	return append(b, '}'), nil
}

// deltaFrameBinary is the binary form: 'd', the cursor's JSON with its
// length, a one-item batch.
func deltaFrameBinary(n *Node, cursor []byte, key string, d *crdt.Object) ([]byte, error) {
	raw, err := crdt.Batch{Clock: n.now(), Items: []crdt.BatchItem{{Key: key, Delta: d}}}.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := binary.AppendUvarint([]byte{'d'}, uint64(len(cursor)))
	b = append(b, cursor...)
	return append(b, raw...), nil
}

// marshalWS encodes a message without HTML escaping, so that embedded
// canonical JSON stays canonical.
func marshalWS(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only our own message types reach here
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func jsonString(s string) []byte { return marshalWS(s) }

// allow takes a token from the rate limiter, counting a refusal.
func (c *wsConn) allow() bool {
	if c.limiter.allow(time.Now()) {
		return true
	}
	c.h.sec.limitHits.WithLabelValues("rate").Inc()
	return false
}

// tokenBucket is a connection's rate limit; the reader alone uses it.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *tokenBucket) allow(now time.Time) bool {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Reading the store for subscriptions.

// wsLogRange is the part of one origin's log a resuming client lacks:
// entries from..to, of which those up to contiguous must all be held.
type wsLogRange struct {
	origin             crdt.ReplicaID
	from, to, contigTo uint64
}

// logRangesAfter returns, per origin, the log entries this node holds past
// cursor, or false if its logs no longer reach back to the cursor.
func (n *Node) logRangesAfter(cursor crdt.VersionVector) ([]wsLogRange, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var rs []wsLogRange
	for _, o := range n.logs.origins() {
		if cursor[o] < n.logs.floor[o] {
			return nil, false
		}
		if hi := n.logs.maxHeld(o); hi > cursor[o] {
			rs = append(rs, wsLogRange{origin: o, from: cursor[o] + 1, to: hi, contigTo: n.logs.vv[o]})
		}
	}
	return rs, true
}

// readLogPage reads about snapshotChunk bytes of o's log from seq from.
func (n *Node) readLogPage(o crdt.ReplicaID, from, to uint64) ([]logEntry, error) {
	var page []logEntry
	err := n.db.View(func(txn *badger.Txn) error {
		_, err := readLog(txn, o, from, to, snapshotChunk, func(seq uint64, raw []byte) {
			page = append(page, logEntry{seq: seq, raw: raw})
		})
		return err
	})
	return page, err
}

// scanPage returns, encoded, the objects under prefix after the key after,
// in key order, up to maxBytes of encoding (at least one object), and
// whether more follow.
func (n *Node) scanPage(prefix, after string, maxBytes int, encode func(*crdt.Object) ([]byte, error)) (objs []snapObject, more bool, err error) {
	err = n.db.View(func(txn *badger.Txn) error {
		p := metaKey(prefix)
		seek := p
		if after != "" {
			seek = append(metaKey(after), 0)
		}
		total := 0
		for {
			keys, rest := metaKeys(txn, p, seek, 64)
			for _, k := range keys {
				o, _, err := loadObject(readKV{txn}, k)
				if err != nil {
					return err
				}
				b, err := encode(o)
				if err != nil {
					return err
				}
				if len(objs) > 0 && total+len(b) > maxBytes {
					more = true
					return nil
				}
				objs = append(objs, snapObject{k, o, b})
				total += len(b)
			}
			if !rest {
				return nil
			}
			seek = append(metaKey(keys[len(keys)-1]), 0)
		}
	})
	return objs, more, err
}

// metaKeys lists up to limit object keys under prefix p from seek, and
// whether more follow.
func metaKeys(txn *badger.Txn, p, seek []byte, limit int) ([]string, bool) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: false})
	defer it.Close()
	var keys []string
	for it.Seek(seek); it.ValidForPrefix(p); it.Next() {
		if len(keys) == limit {
			return keys, true
		}
		keys = append(keys, string(it.Item().Key()[1:]))
	}
	return keys, false
}
