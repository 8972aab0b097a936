package lattice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/lattice-sync/lattice/internal/frames"
	"github.com/lattice-sync/lattice/internal/protocol"
)

// maxInFlight bounds the deltas sent on a connection and not yet
// acknowledged; more wait (and keep joining per key) until acks come. The
// node's own bound is 64.
const maxInFlight = 32

// writeTimeout bounds one frame's write.
const writeTimeout = 10 * time.Second

// conn is one WebSocket session with a node. The session goroutine reads;
// one writer goroutine owns every write and pulls what to send from the
// client's state, so a write never blocks an edit.
type conn struct {
	c        *Client
	ws       *websocket.Conn
	url      string
	ctx      context.Context
	cancel   context.CancelFunc
	wakeup   chan struct{}
	heard    atomic.Int64 // unix ms of the last message from the node
	welcomed bool         // guarded by c.mu, like everything below
	fatal    error        // why the session must end now (a node of another cluster)
	node     string
	subs     map[uint64]string // sub id -> target
	subIDs   map[string]uint64 // target -> sub id
	unsubs   []uint64
	answered map[string]bool   // targets answered on this connection
	refused  map[string]string // targets the node refused, with the code
	presence map[string]string // this client's presence states sent on this connection
	resumes  bool              // the node's welcome lists snapshot_resume
	empties  bool              // the node's welcome lists empty_sub
	// The compact binary form's session state (Options.Binary): fw for
	// what this client sends (guarded by c.mu, and frames are written in
	// the order owed makes them), fr for what the node sends (reader only).
	fw frames.Writer
	fr frames.Reader
}

// kick tells the writer there may be something to send.
func (cn *conn) kick() {
	select {
	case cn.wakeup <- struct{}{}:
	default:
	}
}

// unsubLocked forgets target on this connection and queues its unsub.
func (cn *conn) unsubLocked(target string) {
	id, ok := cn.subIDs[target]
	if !ok {
		return
	}
	delete(cn.subIDs, target)
	delete(cn.subs, id)
	delete(cn.answered, target)
	delete(cn.refused, target)
	cn.unsubs = append(cn.unsubs, id)
	cn.kick()
}

// dropLocked ends the current connection, if any; nothing it says is heard
// from here on (so an ack in flight is lost, the case resending is for).
func (c *Client) dropLocked() {
	cn := c.conn
	if cn == nil {
		return
	}
	c.conn = nil
	c.forgetOthersLocked()
	cn.cancel()
	if cn.ws != nil {
		cn.ws.Close()
	}
	for _, p := range c.pending {
		if p.conn == cn {
			p.conn = nil
		}
	}
}

// session dials the current URL and serves the connection until it ends.
// It reports whether a node welcomed it, and why it ended (nil when the
// client ended it).
func (c *Client) session() (bool, error) {
	c.mu.Lock()
	if c.closed || c.offline {
		c.mu.Unlock()
		return false, nil
	}
	url := c.set.urls[c.urlIdx%len(c.set.urls)]
	ctx, cancel := context.WithCancel(context.Background())
	cn := &conn{
		c: c, url: url, ctx: ctx, cancel: cancel,
		wakeup:   make(chan struct{}, 1),
		subs:     map[uint64]string{},
		subIDs:   map[string]uint64{},
		answered: map[string]bool{},
		refused:  map[string]string{},
		presence: map[string]string{},
	}
	c.conn = cn
	token := c.token
	c.setStatusLocked(StatusConnecting)
	c.mu.Unlock()
	defer cancel()

	ws, err := c.dial(ctx, url, token)
	c.mu.Lock()
	if c.conn != cn { // dropped while dialing
		c.mu.Unlock()
		if ws != nil {
			ws.Close()
		}
		return false, nil
	}
	if err != nil {
		c.conn = nil
		var he *handshakeError
		if errors.As(err, &he) && (he.status == http.StatusUnauthorized || he.status == http.StatusForbidden) {
			// Credentials, not the network: the app may want a new token.
			c.reportLocked("unauthorized", err.Error(), "")
			err = fmt.Errorf("%w: %w", ErrUnauthorized, err)
		}
		c.mu.Unlock()
		return false, err
	}
	cn.ws = ws
	hello := c.helloLocked(token)
	c.mu.Unlock()
	defer ws.Close()

	_ = ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := ws.WriteMessage(websocket.TextMessage, hello); err != nil {
		return false, c.ended(cn, fmt.Errorf("sending hello to %s: %w", url, err))
	}
	_ = ws.SetReadDeadline(time.Now().Add(c.set.connectTimeout))
	writerDone := make(chan struct{})
	defer func() {
		cancel()
		ws.Close()
		<-writerDone
	}()
	started := false
	for {
		mt, data, err := ws.ReadMessage()
		if err != nil {
			if !started {
				close(writerDone)
			}
			return cn.welcomed, c.ended(cn, c.readError(url, err))
		}
		cn.heard.Store(time.Now().UnixMilli())
		_ = ws.SetReadDeadline(time.Now().Add(2*c.set.pingInterval + writeTimeout))
		switch {
		case mt == websocket.TextMessage:
			c.handle(cn, data)
		case c.set.binary:
			c.handleBinary(cn, data)
		default:
			c.report("bad_message", "a binary frame arrived, but this client asked for JSON", "")
			continue
		}
		if err := cn.fatalErr(); err != nil {
			if !started {
				close(writerDone)
			}
			return false, c.ended(cn, err)
		}
		if !started && cn.isWelcomed() {
			started = true
			go func() {
				defer close(writerDone)
				cn.writeLoop()
			}()
		}
	}
}

func (cn *conn) fatalErr() error {
	cn.c.mu.Lock()
	defer cn.c.mu.Unlock()
	return cn.fatal
}

func (cn *conn) isWelcomed() bool {
	cn.c.mu.Lock()
	defer cn.c.mu.Unlock()
	return cn.welcomed
}

// ended cleans up after a connection; it returns nil if the client itself
// ended it (Close, SetOffline, Reconnect), err otherwise.
func (c *Client) ended(cn *conn, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != cn {
		return nil
	}
	c.dropLocked()
	return err
}

// readError turns a read error into a reason, reporting close codes the
// protocol documents.
func (c *Client) readError(url string, err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if reason, ok := protocol.CloseReason(ce.Code); ok {
			c.report(reason, fmt.Sprintf("%s closed the connection: %d %s", url, ce.Code, ce.Text), "")
		}
		if ce.Code == protocol.CloseUnauthorized || ce.Code == protocol.CloseTokenExpired {
			return fmt.Errorf("%w: connection to %s: %w", ErrUnauthorized, url, err)
		}
	}
	return fmt.Errorf("connection to %s: %w", url, err)
}

func (c *Client) report(code, msg, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reportLocked(code, msg, key)
}

func (c *Client) dial(ctx context.Context, url, token string) (*websocket.Conn, error) {
	d := websocket.Dialer{
		Proxy:             http.ProxyFromEnvironment,
		HandshakeTimeout:  c.set.connectTimeout,
		TLSClientConfig:   c.set.tls.Clone(),
		EnableCompression: false,
	}
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	dctx, cancel := context.WithTimeout(ctx, c.set.connectTimeout)
	defer cancel()
	ws, resp, err := d.DialContext(dctx, url, h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dialing %s: %w", url, &handshakeError{status: resp.StatusCode, err: err})
		}
		return nil, fmt.Errorf("dialing %s: %w", url, err)
	}
	return ws, nil
}

// handshakeError is an upgrade the server answered with an HTTP status.
type handshakeError struct {
	status int
	err    error
}

func (e *handshakeError) Error() string { return fmt.Sprintf("%v (HTTP %d)", e.err, e.status) }
func (e *handshakeError) Unwrap() error { return e.err }

// helloLocked is the hello message. The cursor goes with it whenever it
// speaks for some target, subscribed yet or not: an app typically
// subscribes right after Open, possibly after hello has gone, and each sub
// says itself whether it may resume (fresh is false only for targets the
// cursor speaks for), so the node catches up exactly those.
func (c *Client) helloLocked(token string) []byte {
	m := helloMsg{T: protocol.Hello, V: protocol.Version, Replica: c.replica.String(), Token: token, Encoding: protocol.EncodingJSON}
	if c.set.binary {
		m.Encoding = protocol.EncodingCompact
	}
	if c.cursor != nil && len(c.synced) > 0 {
		m.Cursor = c.cursor
	}
	b, _ := json.Marshal(m)
	return b
}

// holdsNothingLocked reports whether the client holds nothing under
// target t: no object and no pending delta. A sub says so ("empty"), and
// its first snapshot then leaves out the context entries of counter
// writers folded on the nodes (docs/protocol.md); a copy holding a raw
// entry of such a writer would count it twice beside the fold entry.
func (c *Client) holdsNothingLocked(t string) bool {
	under := func(key string) bool {
		if t[0] == 'p' {
			return strings.HasPrefix(key, t[2:])
		}
		return key == t[2:]
	}
	for k := range c.objects {
		if under(k) {
			return false
		}
	}
	for _, p := range c.pending {
		if under(p.key) {
			return false
		}
	}
	return true
}

// writeLoop sends what the client's state says this connection owes:
// subscriptions it lacks, unsubscriptions, pending deltas not sent on it
// (at most maxInFlight unacknowledged), and pings.
func (cn *conn) writeLoop() {
	c := cn.c
	ping := time.NewTicker(c.set.pingInterval)
	defer ping.Stop()
	cn.kick()
	for {
		var out [][]byte
		select {
		case <-cn.ctx.Done():
			return
		case <-ping.C:
			if time.Now().UnixMilli()-cn.heard.Load() > 2*c.set.pingInterval.Milliseconds() {
				c.log.Debug("no answer to ping; dropping the connection", "url", cn.url)
				cn.ws.Close() // the reader sees it and ends the session
				return
			}
			c.mu.Lock()
			b, _ := json.Marshal(pingMsg{T: protocol.Ping, ID: c.nextIDLocked()})
			c.mu.Unlock()
			out = append(out, b)
		case <-cn.wakeup:
			out = cn.owed()
		}
		for _, f := range out {
			_ = cn.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			mt := websocket.TextMessage
			if len(f) > 0 && f[0] != '{' { // a JSON message is an object; the rest are binary2 frames
				mt = websocket.BinaryMessage
			}
			if err := cn.ws.WriteMessage(mt, f); err != nil {
				cn.ws.Close()
				return
			}
		}
	}
}

// owed collects the frames this connection should send now.
func (cn *conn) owed() [][]byte {
	c := cn.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != cn || !cn.welcomed {
		return nil
	}
	var out [][]byte
	for _, id := range cn.unsubs {
		b, _ := json.Marshal(unsubMsg{T: protocol.Unsub, ID: id})
		out = append(out, b)
	}
	cn.unsubs = nil
	for t := range c.subs {
		if _, ok := cn.subIDs[t]; ok {
			continue
		}
		id := c.nextIDLocked()
		cn.subIDs[t], cn.subs[id] = id, t
		m := subMsg{T: protocol.Sub, ID: id, Fresh: !c.synced[t]}
		if pos, ok := c.resume[t]; ok && cn.resumes {
			m.Resume = pos
			c.stats.resumed++
		} else {
			m.Empty = m.Fresh && cn.empties && c.holdsNothingLocked(t)
		}
		if t[0] == 'p' {
			p := t[2:]
			m.Prefix = &p
		} else {
			k := t[2:]
			m.Key = &k
		}
		b, _ := json.Marshal(m)
		out = append(out, b)
	}
	out = append(out, cn.presenceOwedLocked()...)
	inFlight := 0
	for _, p := range c.pending {
		if p.conn == cn {
			inFlight++
		}
	}
	var send []*pendingDelta // binary2: framed together below
	for _, p := range c.pending {
		if inFlight >= maxInFlight {
			break
		}
		if p.conn == cn {
			continue
		}
		if c.set.binary {
			p.conn = cn
			inFlight++
			send = append(send, p)
			continue
		}
		d, err := p.delta.MarshalJSON()
		if err != nil {
			c.reportLocked("invalid_delta", fmt.Sprintf("encoding pending delta for %q: %v", p.key, err), p.key)
			continue
		}
		p.conn = cn
		inFlight++
		b, _ := json.Marshal(deltaMsg{T: protocol.Delta, ID: p.id, Key: p.key, Delta: d})
		out = append(out, b)
	}
	return append(out, cn.deltaFramesLocked(send)...)
}
