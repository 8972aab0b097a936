// Shared machinery of the WebSocket tests: a node behind an httptest server
// (wsNode), a raw gorilla client that reads frames (testWS), wsView, a
// client's copy of what it subscribed to built from the messages, and
// helpers that reach into the node (its WebSocket handler, connections,
// digests).

package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/transport"
)

var wsInc = crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1}

// wsNode is a node behind a real HTTP server.
type wsNode struct {
	n   *Node
	ws  *WSHandler // the handler behind url, for looking at connections
	srv *httptest.Server
	url string // ws://…/v1/ws
}

func startWSNode(t *testing.T, cfg Config, ws WSOptions, mem *transport.MemNetwork) *wsNode {
	t.Helper()
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if mem != nil {
		if err := n.Attach(mem.Add(n.Name())); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { n.Close() })
	return serveWS(t, n, ws)
}

// serveWS serves n's HTTP API (its WebSocket endpoint with ws) until the
// test ends; closing n is the caller's.
func serveWS(t *testing.T, n *Node, ws WSOptions) *wsNode {
	t.Helper()
	h := NewHTTPHandler(n, HTTPOptions{WS: ws})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &wsNode{n: n, ws: wsHandlerOf(t, h), srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/ws"}
}

// testWS is a gorilla client; a goroutine reads its frames into in.
type testWS struct {
	t       *testing.T
	c       *websocket.Conn
	replica uuid.UUID
	in      chan wsFrame
	done    chan struct{}
	err     error // the read error that ended the reader, once done is closed
}

type wsFrame struct {
	mt   int
	data []byte
}

func dialWS(t *testing.T, url string, read bool) *testWS {
	t.Helper()
	return dialWSWith(t, url, read, websocket.DefaultDialer)
}

func dialWSWith(t *testing.T, url string, read bool, d *websocket.Dialer) *testWS {
	t.Helper()
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &testWS{t: t, c: c, replica: uuid.New(), in: make(chan wsFrame, 100_000), done: make(chan struct{})}
	t.Cleanup(func() { c.Close() })
	if read {
		go w.readFrames()
	}
	return w
}

// readFrames queues every frame on w.in until the connection fails.
func (w *testWS) readFrames() {
	defer close(w.done)
	for {
		mt, data, err := w.c.ReadMessage()
		if err != nil {
			w.err = err
			return
		}
		w.in <- wsFrame{mt, data}
	}
}

func (w *testWS) send(v any) {
	w.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.c.WriteMessage(websocket.TextMessage, b); err != nil {
		w.t.Fatal(err)
	}
}

func (w *testWS) next() wsFrame {
	w.t.Helper()
	select {
	case f := <-w.in:
		return f
	case <-w.done:
		select {
		case f := <-w.in:
			return f
		default:
		}
		w.t.Fatalf("connection ended: %v", w.err)
	case <-time.After(10 * time.Second):
		w.t.Fatal("no message within 10 s")
	}
	return wsFrame{}
}

func decodeWS(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("node sent %q: %v", b, err)
	}
	return m
}

func (w *testWS) nextJSON() map[string]any {
	w.t.Helper()
	f := w.next()
	if f.mt != websocket.TextMessage {
		w.t.Fatalf("got a binary frame %q, want text", f.data)
	}
	return decodeWS(w.t, f.data)
}

func (w *testWS) expect(typ string) map[string]any {
	w.t.Helper()
	m := w.nextJSON()
	if m["t"] != typ {
		w.t.Fatalf("got %v, want a %s", m, typ)
	}
	return m
}

func (w *testWS) expectError(code string, id any) {
	w.t.Helper()
	m := w.expect("error")
	if m["code"] != code {
		w.t.Fatalf("got %v, want error %s", m, code)
	}
	if id != nil && fmt.Sprint(m["id"]) != fmt.Sprint(id) {
		w.t.Fatalf("error %v does not echo id %v", m, id)
	}
}

func (w *testWS) hello(extra map[string]any) map[string]any {
	w.t.Helper()
	m := map[string]any{"t": "hello", "v": 1, "replica": w.replica.String()}
	for k, v := range extra {
		m[k] = v
	}
	w.send(m)
	return w.expect("welcome")
}

// closeCode waits for the connection to end and returns its close code,
// or -1 if it ended without a close frame.
func (w *testWS) closeCode() int {
	w.t.Helper()
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		w.t.Fatal("connection still open after 10 s")
	}
	var ce *websocket.CloseError
	if errors.As(w.err, &ce) {
		return ce.Code
	}
	return -1
}

// view is a client's copy of what it subscribed to, built from messages.
type wsView struct {
	objs    map[string]*crdt.Object
	cursor  map[string]uint64
	kinds   map[string]int // messages seen, by type
	resyncs int
}

func newWSView() *wsView {
	return &wsView{objs: map[string]*crdt.Object{}, kinds: map[string]int{}}
}

func (v *wsView) join(t *testing.T, key string, state json.RawMessage) {
	t.Helper()
	o, err := crdt.UnmarshalObjectJSON(state)
	if err != nil {
		t.Fatalf("state of %s: %v", key, err)
	}
	if v.objs[key] == nil {
		v.objs[key] = crdt.NewObject()
	}
	v.objs[key].Join(o)
}

func (v *wsView) setCursor(t *testing.T, c json.RawMessage) {
	if len(c) == 0 {
		return
	}
	v.cursor = map[string]uint64{}
	if err := json.Unmarshal(c, &v.cursor); err != nil {
		t.Fatalf("cursor %s: %v", c, err)
	}
}

// apply folds one JSON message in and returns its type.
func (v *wsView) apply(t *testing.T, b []byte) string {
	t.Helper()
	var m struct {
		T       string          `json:"t"`
		Key     string          `json:"key"`
		Delta   json.RawMessage `json:"delta"`
		Cursor  json.RawMessage `json:"cursor"`
		Done    bool            `json:"done"`
		Objects []struct {
			Key   string          `json:"key"`
			State json.RawMessage `json:"state"`
		} `json:"objects"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	v.kinds[m.T]++
	switch m.T {
	case "snapshot":
		for _, o := range m.Objects {
			v.join(t, o.Key, o.State)
		}
		v.setCursor(t, m.Cursor)
	case "delta":
		v.join(t, m.Key, m.Delta)
		v.setCursor(t, m.Cursor)
	case "catchup":
		v.setCursor(t, m.Cursor)
	case "resync":
		v.resyncs++
	}
	return m.T
}

// readUntil applies messages until cond holds.
func (v *wsView) readUntil(t *testing.T, w *testWS, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met; seen %v", v.kinds)
		}
		f := w.next()
		if f.mt != websocket.TextMessage {
			t.Fatalf("binary frame on a JSON connection")
		}
		v.apply(t, f.data)
	}
}

func wsCanon(t *testing.T, o *crdt.Object) string {
	t.Helper()
	if o == nil {
		return "<nil>"
	}
	b, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// same reports whether the view holds what the node holds under keys.
func (v *wsView) same(t *testing.T, n *Node, keys ...string) bool {
	for _, k := range keys {
		o, err := n.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		if wsCanon(t, v.objs[k]) != wsCanon(t, o) {
			return false
		}
	}
	return true
}

func wsCounter(t *testing.T, n *Node, key string) int64 {
	t.Helper()
	o, err := n.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	if o.Type() == 0 {
		return 0
	}
	return o.Value().(int64)
}

func wsDeltaJSON(t *testing.T, d *crdt.Object) json.RawMessage {
	t.Helper()
	b, err := d.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wsWaitConverged(t *testing.T, nodes ...*Node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d0, _, _ := nodes[0].Digest()
		same := true
		for _, n := range nodes[1:] {
			if d, _, _ := n.Digest(); d != d0 {
				same = false
			}
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("nodes did not converge")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wsSmallBufferDialer makes a client whose socket takes little before the
// node's writes block.
var wsSmallBufferDialer = &websocket.Dialer{
	NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(128 << 10) // above the loopback MSS, or the window never reopens
		}
		return c, err
	},
	HandshakeTimeout: 5 * time.Second,
}

// wsBigValue makes an LWW write of size bytes.
func wsBigValue(i, size int) crdt.Op {
	return crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Value: crdt.String(fmt.Sprintf("%d:%s", i, strings.Repeat("x", size)))}
}

// wsHandlerOf finds the WebSocket endpoint in what NewHTTPHandler made.
func wsHandlerOf(t *testing.T, h http.Handler) *WSHandler {
	t.Helper()
	mux, ok := h.(*http.ServeMux)
	if !ok {
		t.Fatalf("NewHTTPHandler returned a %T, not a *http.ServeMux", h)
	}
	wh, _ := mux.Handler(httptest.NewRequest(http.MethodGet, "/v1/ws", nil))
	ws, ok := wh.(*WSHandler)
	if !ok {
		t.Fatalf("GET /v1/ws is served by a %T, not a *WSHandler", wh)
	}
	return ws
}

// wsDigestExcept hashes every object but those under skip: the keys a third
// party writes to during a test.
func wsDigestExcept(t *testing.T, n *Node, skip string) string {
	t.Helper()
	h := sha256.New()
	err := n.Scan("", func(k string, o *crdt.Object) error {
		if strings.HasPrefix(k, skip) {
			return nil
		}
		b, err := o.MarshalBinary()
		h.Write([]byte(k))
		h.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// metricValue is the value of the counter or gauge name on n's registry
// whose labels include every name=value pair given; 0 if there is none.
func metricValue(t testing.TB, n *Node, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := n.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for _, kv := range labels {
				k, v, _ := strings.Cut(kv, "=")
				if have[k] != v {
					continue metrics
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
