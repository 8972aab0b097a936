package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lattice-sync/lattice/node/store"

	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/frames"
	"github.com/lattice-sync/lattice/internal/protocol"
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
	n    *Backend
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
	binary  bool   // snapshots and deltas in binary frames
	// compact is the compact binary form (internal/frames): deltas in
	// multi-item frames written against the session's state, out (fw,
	// writer only) and in (fr, reader only).
	compact bool
	fw      frames.Writer
	fr      frames.Reader
	resume  crdt.VersionVector // hello's cursor; nil without one

	mu   sync.Mutex
	subs map[uint64]*wsSub

	claim   *wsCursor // what the client may resume from; writer only
	limiter tokenBucket
	sem     chan struct{} // deltas in flight
	deltas  sync.WaitGroup
}

// WSWaitShare is how many of one connection's deltas may wait at once for
// dots not received yet (Config.UnseenDotsWait): enough for a client that
// read ahead, too few for one connection to take MaxWaitingDeltas.
const WSWaitShare = 8

func newWSConn(h *WSHandler, ws *websocket.Conn) *wsConn {
	ctx, cancel := context.WithCancel(store.WithWaitShare(context.Background(), WSWaitShare))
	return &wsConn{
		h: h, n: h.n, ws: ws, opts: &h.opts, log: h.log,
		ctx: ctx, cancel: cancel,
		send:    make(chan wsOut, h.opts.SendQueue),
		wake:    make(chan struct{}, 1),
		subs:    map[uint64]*wsSub{},
		limiter: tokenBucket{rate: h.opts.Rate, burst: float64(h.opts.Burst), tokens: float64(h.opts.Burst), last: h.n.Clock.Now()},
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
	c.n.Presence.dropConn(c.connID)
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
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(protocol.CloseTokenExpired, "token_expired"), time.Now().Add(c.opts.WriteTimeout))
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
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(protocol.CloseTooSlow, "too_slow"), time.Now().Add(closeGrace))
	} else if !errors.Is(err, net.ErrClosed) && !errors.Is(err, websocket.ErrCloseSent) {
		c.log.Debug("websocket write failed", "err", err)
	}
	c.ws.Close()
}
