package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/prometheus/client_golang/prometheus"
)

// The WebSocket server: docs/protocol.md is its contract. This file holds
// the handler and its options; ws_conn.go one connection's reader and
// writer; ws_hub.go the subscriptions and the fan-out of committed changes.

// Defaults of WSOptions; docs/protocol.md's "Limits" table lists them too.
const (
	// DefaultWSMaxFrame bounds an incoming frame: a delta of a few thousand
	// elements fits, and a client cannot make the node buffer more.
	DefaultWSMaxFrame = 1 << 20
	// DefaultWSMaxSubs is per connection: a page subscribes to a few
	// documents, not hundreds.
	DefaultWSMaxSubs = 256
	// DefaultWSRate and DefaultWSBurst are the per-connection token
	// bucket: far above what a person typing makes, low enough that one
	// client cannot take the committer for itself.
	DefaultWSRate  = 1000
	DefaultWSBurst = 2000
	// DefaultWSMaxInFlight deltas per connection are joined concurrently;
	// beyond it the node stops reading that connection.
	DefaultWSMaxInFlight = 64
	// DefaultWSSendQueue messages wait for a connection's writer; a live
	// delta that does not fit turns into a resync.
	DefaultWSSendQueue = 1024
	// DefaultWSSnapshotChunk bytes of object states fill one snapshot page.
	DefaultWSSnapshotChunk = snapshotChunk
	// DefaultWSWriteTimeout is how long one write may take before the
	// client counts as not reading.
	DefaultWSWriteTimeout = 10 * time.Second
	// DefaultWSIdleTimeout closes a connection that sent nothing, not even
	// a pong, for this long; DefaultWSPingInterval keeps a healthy one busy.
	DefaultWSIdleTimeout  = 60 * time.Second
	DefaultWSPingInterval = 25 * time.Second
	// DefaultWSMaxConns bounds the connections of one handler: each holds
	// a send queue and two goroutines, so ten thousand is some hundreds of
	// MiB at worst, and a flood of idle sockets cannot take the node down.
	DefaultWSMaxConns = 10_000
)

// WSOptions configures the WebSocket endpoint. The zero value is the
// documented defaults with same-host origins only.
type WSOptions struct {
	// AllowAnyOrigin accepts upgrades from pages of any origin. Default
	// false: a browser's Origin must name the host the request was sent to
	// (requests without an Origin, from non-browser clients, pass).
	AllowAnyOrigin bool
	// CheckOrigin, if set, decides instead of the rule above.
	CheckOrigin func(r *http.Request) bool
	// MaxFrame bounds an incoming message in bytes; a larger one closes the
	// connection with 1009. Default DefaultWSMaxFrame (1 MiB).
	MaxFrame int64
	// MaxSubs bounds subscriptions per connection. Default 256.
	MaxSubs int
	// Rate and Burst are the token bucket of incoming messages per
	// connection; a message over it gets rate_limited and is not
	// processed. Default 1,000 per second, bursts of 2,000.
	Rate  float64
	Burst int
	// MaxInFlight bounds the client deltas of one connection being joined
	// at once. Default 64.
	MaxInFlight int
	// SnapshotChunk is about the most bytes of object states in one
	// snapshot page; a larger object goes as parts, each in a page of its
	// own. Default DefaultWSSnapshotChunk (512 KiB).
	SnapshotChunk int
	// SendQueue bounds the messages queued for one connection's writer.
	// Default 1,024.
	SendQueue int
	// WriteTimeout is the deadline of each write; a client that does not
	// read for that long is closed (4008). Default 10 s.
	WriteTimeout time.Duration
	// IdleTimeout closes a connection from which nothing, not even a pong,
	// arrived for that long. Default 60 s.
	IdleTimeout time.Duration
	// PingInterval is how often the node pings. Default 25 s.
	PingInterval time.Duration
	// MaxConns bounds the open connections; an upgrade beyond it is
	// refused with 503 too_many_connections. Default 10,000.
	MaxConns int
	// Auth verifies clients' tokens: at the upgrade (Authorization: Bearer,
	// or ?token= for browsers), or in hello; then every sub must be within
	// a read prefix and every delta within a write prefix, and the session
	// closes with 4004 when the token expires. Default nil: no auth
	// (development only). NewHTTPHandler sets it from HTTPOptions.Auth.
	Auth *Authenticator
	// Logger receives connection events. Default: the node's logger.
	Logger *slog.Logger
}

func (o *WSOptions) setDefaults(n *Backend) {
	if o.MaxFrame <= 0 {
		o.MaxFrame = DefaultWSMaxFrame
	}
	if o.MaxSubs <= 0 {
		o.MaxSubs = DefaultWSMaxSubs
	}
	if o.Rate <= 0 {
		o.Rate = DefaultWSRate
	}
	if o.Burst <= 0 {
		o.Burst = DefaultWSBurst
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultWSMaxInFlight
	}
	if o.SnapshotChunk <= 0 {
		o.SnapshotChunk = DefaultWSSnapshotChunk
	}
	if o.SendQueue <= 0 {
		o.SendQueue = DefaultWSSendQueue
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWSWriteTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultWSIdleTimeout
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultWSPingInterval
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultWSMaxConns
	}
	if o.Logger == nil {
		o.Logger = n.Logger
	}
}

// snapshotChunk is the most bytes of object states one snapshot message
// carries (one object larger than that goes alone); catch-up reads the log
// in pages of this size too.
const snapshotChunk = 512 << 10

// closeGrace is how long a closing connection waits for the client's
// close frame before dropping the TCP connection.
const closeGrace = time.Second

// WSHandler serves GET /v1/ws. NewHTTPHandler mounts one; use it alone to
// serve WebSocket clients on a listener of their own. Connections close
// with 1000 when the handler or the node closes.
type WSHandler struct {
	n        *Backend
	opts     WSOptions
	log      *slog.Logger
	hub      *wsHub
	metrics  *wsMetrics
	sec      *securityMetrics
	upgrader websocket.Upgrader
	active   atomic.Int64 // connections upgraded or being upgraded

	mu     sync.Mutex
	conns  map[*wsConn]struct{}
	done   chan struct{} // closed by Close
	once   sync.Once
	connWG sync.WaitGroup
}

// NewWSHandler returns the WebSocket endpoint of n. It registers an
// Observer on n, so every handler keeps its own subscriptions.
func NewWSHandler(n *Backend, opts WSOptions) *WSHandler {
	opts.setDefaults(n)
	h := &WSHandler{
		n:       n,
		opts:    opts,
		log:     opts.Logger,
		metrics: registerWSMetrics(n.Registry),
		sec:     registerSecurityMetrics(n.Registry),
		conns:   map[*wsConn]struct{}{},
		done:    make(chan struct{}),
	}
	h.hub = newWSHub(n)
	n.Observe(h.hub.observe)
	n.Presence.listen(h.hub)
	allowed := opts.CheckOrigin
	if allowed == nil {
		allowed = func(r *http.Request) bool { return opts.AllowAnyOrigin || sameHost(r) }
	}
	check := func(r *http.Request) bool {
		if !allowed(r) {
			h.sec.limitHits.WithLabelValues("origin").Inc()
			return false
		}
		return true
	}
	h.upgrader = websocket.Upgrader{
		HandshakeTimeout:  10 * time.Second,
		CheckOrigin:       check,
		EnableCompression: false, // so MaxFrame bounds what the node actually reads
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			writeJSON(w, status, wsHTTPError(status, reason.Error()))
		},
	}
	return h
}

// sameHost reports whether the request's Origin, if any, names the host
// the request was sent to.
func sameHost(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

func wsHTTPError(status int, msg string) errorBody {
	var b errorBody
	b.Error.Code = "bad_request"
	switch status {
	case http.StatusForbidden:
		b.Error.Code = "forbidden_origin"
	case http.StatusServiceUnavailable:
		b.Error.Code = protocol.Unavailable
	}
	b.Error.Message = msg
	return b
}

// ServeHTTP upgrades the request and runs the connection until it ends.
// Before the upgrade it refuses, with a JSON error: a closing node (503
// unavailable), one at MaxConns (503 too_many_connections), an invalid
// token (401 unauthorized or token_expired) and a foreign Origin (403
// forbidden_origin).
func (h *WSHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := requestID(r.Header.Get("X-Request-Id"))
	w.Header().Set("X-Request-Id", id)
	log := h.log.With("request_id", id, "remote", r.RemoteAddr)
	if !h.n.Ready() || h.closed() {
		writeJSON(w, http.StatusServiceUnavailable, wsHTTPError(http.StatusServiceUnavailable, "the node is shutting down"))
		return
	}
	if h.active.Add(1) > int64(h.opts.MaxConns) {
		h.active.Add(-1)
		h.sec.limitHits.WithLabelValues("connections").Inc()
		// Debug: a flood of these is what the limit is for; the metric counts them.
		log.Debug("websocket upgrade refused: connection limit", "max_conns", h.opts.MaxConns)
		w.Header().Set("Retry-After", "1")
		var b errorBody
		b.Error.Code, b.Error.Message = "too_many_connections", fmt.Sprintf("this node serves at most %d connections; try again later or another node", h.opts.MaxConns)
		writeJSON(w, http.StatusServiceUnavailable, b)
		return
	}
	defer h.active.Add(-1)
	var grant *Grant
	if h.opts.Auth != nil {
		tok := bearer(r)
		if tok == "" {
			tok = r.URL.Query().Get("token")
		}
		if tok != "" { // otherwise it must come in hello
			g, err := h.opts.Auth.Verify(tok)
			if err != nil {
				reason := authReason(err)
				h.sec.authFailures.WithLabelValues("ws", reason).Inc()
				log.Info("websocket upgrade refused: bad token", "reason", reason, "err", err)
				var b errorBody
				b.Error.Code, b.Error.Message = protocol.Unauthorized, err.Error()
				if reason == "expired" {
					b.Error.Code = protocol.TokenExpired
				}
				writeJSON(w, http.StatusUnauthorized, b)
				return
			}
			grant = g
		}
	}
	ws, err := h.upgrader.Upgrade(w, r, http.Header{"X-Request-Id": {id}})
	if err != nil {
		return // the upgrader has answered
	}
	c := newWSConn(h, ws)
	c.grant, c.log = grant, log
	h.mu.Lock()
	if h.closed() {
		h.mu.Unlock()
		c.closeWith(websocket.CloseNormalClosure, "node shutting down")
		return
	}
	h.conns[c] = struct{}{}
	h.connWG.Add(1)
	h.mu.Unlock()
	h.metrics.connections.Inc()
	defer func() {
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
		h.metrics.connections.Dec()
		h.connWG.Done()
	}()
	c.run()
}

func (h *WSHandler) closed() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// SendQueues is the capacity of every open connection's send queue: the
// queue is a channel of WSOptions.SendQueue, bounded by construction.
func (h *WSHandler) SendQueues() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	qs := make([]int, 0, len(h.conns))
	for c := range h.conns {
		qs = append(qs, cap(c.send))
	}
	return qs
}

// Close closes every connection with 1000 and waits, at most a few
// seconds, for them to end. Later upgrades are refused with 503.
func (h *WSHandler) Close() error {
	h.once.Do(func() { close(h.done) })
	ended := make(chan struct{})
	go func() {
		h.connWG.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(h.opts.WriteTimeout + 2*closeGrace):
	}
	return nil
}

// wsMetrics are the endpoint's collectors, on the node's registry.
type wsMetrics struct {
	connections prometheus.Gauge
	messages    *prometheus.CounterVec
	resyncs     prometheus.Counter
	errors      *prometheus.CounterVec
}

func registerWSMetrics(reg *prometheus.Registry) *wsMetrics {
	m := &wsMetrics{
		connections: registerOnce(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lattice_ws_connections", Help: "Open WebSocket connections.",
		})),
		messages: registerOnce(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lattice_ws_messages_total", Help: "WebSocket messages, by direction (in, out) and protocol type.",
		}, []string{"dir", "type"})),
		resyncs: registerOnce(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_ws_resyncs_total", Help: "Slow connections whose queued deltas were dropped for a fresh snapshot.",
		})),
		errors: registerOnce(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lattice_ws_errors_total", Help: "WebSocket error messages and error closes, by code.",
		}, []string{"code"})),
	}
	for t := range inTypes { // at 0 from the start, as the doc says
		m.messages.WithLabelValues("in", t)
	}
	m.messages.WithLabelValues("in", "unknown")
	return m
}

// inTypes are the client message types counted by name; anything else is
// counted as "unknown", so a client cannot grow the label set.
var inTypes = map[string]bool{"hello": true, "sub": true, "unsub": true, "delta": true, "ping": true, "presence": true}

func (m *wsMetrics) in(t string) {
	if !inTypes[t] {
		t = "unknown"
	}
	m.messages.WithLabelValues("in", t).Inc()
}
