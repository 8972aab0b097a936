package api

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
)

// The writer's side of a connection: the bounded send queue, and the one
// goroutine that writes frames.

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
	c.reply(protocol.Error, marshalWS(struct {
		T       string          `json:"t"`
		Code    string          `json:"code"`
		Message string          `json:"message"`
		ID      json.RawMessage `json:"id,omitempty"`
	}{protocol.Error, code, fmt.Sprintf(format, args...), id}))
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
	// Intervals are on Config.Clock; the socket's deadlines are the
	// network's, on the machine's clock.
	clock := c.n.Clock
	ping := clock.NewTicker(c.opts.PingInterval)
	defer ping.Stop()
	var expired <-chan time.Time // never, without auth
	if c.grant != nil {
		// The ticker's first tick is the token's expiry.
		t := clock.NewTicker(max(c.grant.Expires.Sub(clock.Now()), time.Millisecond))
		defer t.Stop()
		expired = t.C()
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
				if m.kind == outLive && c.compact {
					err = c.writeLiveBatch(m.live, true)
				} else {
					err = c.write(m)
				}
			case <-c.wake:
			case <-ping.C():
				err = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.opts.WriteTimeout))
				ping.Done()
			case <-c.ctx.Done():
				return
			case <-c.h.done:
				c.shutdown()
				return
			case <-c.n.Done:
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
		if c.compact {
			return c.writeLiveBatch(m.live, false)
		}
		want, own := c.liveFor(m.live.key)
		if !want {
			return nil // unsubscribed since, or the snapshot to come holds it
		}
		if err := c.writeLive(m.live, own); err != nil {
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
		c.n.Presence.locked("presence set", func() {
			set = c.n.Presence.matchingLocked(m.sub.key, m.sub.isPrefix, c.connID)
		})
		return c.writePresenceSet(m.sub.id, set)
	}
	return nil
}

// liveFor reports whether the connection wants a live change of key, and
// whether it must read the change's bases itself (own) rather than share
// the ones read once for every connection (forClients).
//
// Both are for "empty" subscriptions (ws_folded.go). A change that only
// such a subscription, not yet answered, wants is not sent: it was
// committed before the snapshot to come is read, which holds it. Once that
// snapshot left out folded writers' context entries, a raw entry of such a
// writer must not reach the client without its base, and bases read
// before the fold (by a connection that wrote the change earlier) lack
// it; read now, after the snapshot was, they have it.
func (c *wsConn) liveFor(key string) (want, own bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.subs {
		if !s.matches(key) || s.empty && !s.answered {
			continue
		}
		want = true
		own = own || s.forgot
	}
	return want, own
}

// clientDelta is lc's delta as this connection sends it: with the bases
// read once for every connection, or, when own, read now (liveFor).
func (c *wsConn) clientDelta(lc *liveChange, own bool) (*crdt.Object, error) {
	if own {
		return c.n.withBases(lc.key, lc.delta)
	}
	return lc.forClients(c.n)
}

func (c *wsConn) writeLive(lc *liveChange, own bool) error {
	d, err := c.clientDelta(lc, own)
	if err != nil {
		return err // a store read failed: the client resyncs on its next connection
	}
	if own {
		if c.binary {
			b, err := deltaFrameBinary(c.n, lc.cursor.JSON(), lc.key, d)
			if err != nil {
				return c.skipBad(lc.key, err)
			}
			return c.writeFrame(websocket.BinaryMessage, protocol.Delta, b)
		}
		b, err := deltaFrameJSON(lc.cursor.JSON(), lc.key, d)
		if err != nil {
			return c.skipBad(lc.key, err)
		}
		return c.writeFrame(websocket.TextMessage, protocol.Delta, b)
	}
	if c.binary {
		lc.binOnce.Do(func() { lc.bin, lc.binErr = deltaFrameBinary(c.n, lc.cursor.JSON(), lc.key, d) })
		if lc.binErr != nil {
			return c.skipBad(lc.key, lc.binErr)
		}
		return c.writeFrame(websocket.BinaryMessage, protocol.Delta, lc.bin)
	}
	lc.textOnce.Do(func() { lc.text, lc.textErr = deltaFrameJSON(lc.cursor.JSON(), lc.key, d) })
	if lc.textErr != nil {
		return c.skipBad(lc.key, lc.textErr)
	}
	return c.writeFrame(websocket.TextMessage, protocol.Delta, lc.text)
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
