package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
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
	h := NewHTTPHandler(n, HTTPOptions{WS: ws})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		n.Close()
		srv.Close()
	})
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

func TestWSHelloWelcome(t *testing.T) {
	s := startWSNode(t, testConfig(t, "n1"), WSOptions{}, nil)
	w := dialWS(t, s.url, true)
	m := w.hello(map[string]any{"token": "ignored for now"})
	if m["node"] != "n1" || m["node_id"] != s.n.ID().String() || fmt.Sprint(m["v"]) != "1" {
		t.Fatalf("welcome %v", m)
	}
	limits := m["limits"].(map[string]any)
	if fmt.Sprint(limits["max_frame"]) != "1048576" || fmt.Sprint(limits["max_subs"]) != "256" || fmt.Sprint(limits["rate"]) != "1000" {
		t.Fatalf("limits %v", limits)
	}
	if _, ok := m["cursor"].(map[string]any); !ok {
		t.Fatalf("welcome without a cursor: %v", m)
	}
	w.send(map[string]any{"t": "ping", "id": 9})
	if p := w.expect("pong"); fmt.Sprint(p["id"]) != "9" {
		t.Fatalf("pong %v", p)
	}
	if got := testutil.ToFloat64(registerWSMetrics(s.n.Metrics().Registry()).connections); got != 1 {
		t.Fatalf("lattice_ws_connections %v, want 1", got)
	}
}

func TestWSSubscribeSnapshotThenLive(t *testing.T) {
	mem := transport.NewMemNetwork()
	a := startWSNode(t, testConfig(t, "a"), WSOptions{}, mem)
	b := startWSNode(t, testConfig(t, "b"), WSOptions{}, mem)
	ctx := context.Background()
	for _, k := range []string{"board/1/x", "board/1/y", "board/2/z"} {
		if _, err := a.n.Apply(ctx, k, wsInc); err != nil {
			t.Fatal(err)
		}
	}
	w := dialWS(t, a.url, true)
	w.hello(nil)
	w.send(map[string]any{"t": "sub", "id": 1, "prefix": "board/1/"})
	w.send(map[string]any{"t": "sub", "id": 2, "key": "board/2/z"})
	v := newWSView()
	v.readUntil(t, w, func() bool { return v.kinds["snapshot"] == 2 })
	if len(v.objs) != 3 || !v.same(t, a.n, "board/1/x", "board/1/y", "board/2/z") {
		t.Fatalf("snapshots gave %d objects", len(v.objs))
	}
	// Live: an HTTP write on this node, and writes on the peer.
	resp, err := http.Post(a.srv.URL+"/v1/objects/board/1/x", "application/json", strings.NewReader(`{"type":"counter","op":"inc","by":5}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST: %v %v", err, resp)
	}
	resp.Body.Close()
	for i := 0; i < 5; i++ {
		for _, k := range []string{"board/1/new", "board/2/z", "board/3/elsewhere"} {
			if _, err := b.n.Apply(ctx, k, wsInc); err != nil {
				t.Fatal(err)
			}
		}
	}
	v.readUntil(t, w, func() bool {
		return wsCounter(t, a.n, "board/2/z") == 6 && v.same(t, a.n, "board/1/x", "board/1/new", "board/2/z")
	})
	if wsCounter(t, a.n, "board/1/x") != 6 || v.objs["board/3/elsewhere"] != nil {
		t.Fatalf("view %v", v.objs)
	}
	// Unsubscribed keys stop coming.
	w.send(map[string]any{"t": "unsub", "id": 2})
	w.send(map[string]any{"t": "unsub", "id": 2})
	w.expectError(protocol.UnknownSub, nil)
	if _, err := a.n.Apply(ctx, "board/2/z", wsInc); err != nil {
		t.Fatal(err)
	}
	if _, err := a.n.Apply(ctx, "board/1/x", wsInc); err != nil {
		t.Fatal(err)
	}
	m := w.expect("delta")
	if m["key"] != "board/1/x" {
		t.Fatalf("after unsub got %v", m)
	}
}

func TestWSClientDeltaAck(t *testing.T) {
	s := startWSNode(t, testConfig(t, "n"), WSOptions{}, nil)
	w := dialWS(t, s.url, true)
	w.hello(nil)
	d := clientDelta(t, crdt.NewObject(), w.replica, time.Now().UnixMilli(), wsInc)
	for i := 1; i <= 3; i++ { // a resend has one effect
		w.send(map[string]any{"t": "delta", "id": i, "key": "c", "delta": wsDeltaJSON(t, d)})
		if m := w.expect("ack"); fmt.Sprint(m["id"]) != fmt.Sprint(i) {
			t.Fatalf("ack %v for delta %d", m, i)
		}
		if got := wsCounter(t, s.n, "c"); got != 1 { // durable before the ack
			t.Fatalf("after send %d the counter is %d", i, got)
		}
	}
	// Many in flight: every one acked, by its own id.
	const many = 200
	local := crdt.NewObject()
	for i := 0; i < many; i++ {
		d := clientDelta(t, local, w.replica, time.Now().UnixMilli(), wsInc)
		local.Join(d)
		w.send(map[string]any{"t": "delta", "id": 1000 + i, "key": "many", "delta": wsDeltaJSON(t, d)})
	}
	seen := map[string]bool{}
	for len(seen) < many {
		m := w.expect("ack")
		seen[fmt.Sprint(m["id"])] = true
	}
	if got := wsCounter(t, s.n, "many"); got != many {
		t.Fatalf("counter %d, want %d", got, many)
	}
}

// TestWSResumeCatchUp: a client leaves node a with a cursor and resumes
// on node b; it gets only the deltas it missed, then catchup.
func TestWSResumeCatchUp(t *testing.T) {
	mem := transport.NewMemNetwork()
	a := startWSNode(t, testConfig(t, "a"), WSOptions{}, mem)
	b := startWSNode(t, testConfig(t, "b"), WSOptions{}, mem)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if _, err := a.n.Apply(ctx, "doc/c", wsInc); err != nil {
			t.Fatal(err)
		}
	}
	w := dialWS(t, a.url, true)
	w.hello(nil)
	w.send(map[string]any{"t": "sub", "id": 1, "prefix": "doc/"})
	v := newWSView()
	v.readUntil(t, w, func() bool { return v.kinds["snapshot"] == 1 })
	for i := 0; i < 3; i++ {
		if _, err := a.n.Apply(ctx, "doc/c", wsInc); err != nil {
			t.Fatal(err)
		}
	}
	v.readUntil(t, w, func() bool { return v.kinds["delta"] >= 3 })
	w.c.Close()
	cursor := v.cursor
	t.Logf("left with cursor %v", cursor)

	// Missed while away, on both nodes.
	for i := 0; i < 4; i++ {
		if _, err := a.n.Apply(ctx, "doc/c", wsInc); err != nil {
			t.Fatal(err)
		}
		if _, err := b.n.Apply(ctx, "doc/s", crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.MustInt(int64(i))}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.n.Apply(ctx, "other/k", wsInc); err != nil {
			t.Fatal(err)
		}
	}
	wsWaitConverged(t, a.n, b.n)

	w2 := dialWS(t, b.url, true)
	w2.replica = w.replica
	w2.hello(map[string]any{"cursor": cursor})
	w2.send(map[string]any{"t": "sub", "id": 1, "prefix": "doc/"})
	v2 := &wsView{objs: v.objs, kinds: map[string]int{}}
	v2.readUntil(t, w2, func() bool { return v2.kinds["catchup"] == 1 })
	if v2.kinds["snapshot"] != 0 {
		t.Fatalf("resume sent a snapshot: %v", v2.kinds)
	}
	if v2.kinds["delta"] < 8 || v2.kinds["delta"] > 12 {
		t.Fatalf("resume sent %d deltas for 8 missed changes", v2.kinds["delta"])
	}
	if !v2.same(t, b.n, "doc/c", "doc/s") || wsCounter(t, b.n, "doc/c") != 17 {
		t.Fatalf("resumed view differs from the node")
	}
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

// TestWSResumeBelowFloor: a cursor the logs no longer reach gets a snapshot.
func TestWSResumeBelowFloor(t *testing.T) {
	cfg := testConfig(t, "n")
	cfg.LogRetention = 5
	s := startWSNode(t, cfg, WSOptions{}, transport.NewMemNetwork())
	ctx := context.Background()
	old := map[string]uint64{s.n.ID().String(): 1}
	for i := 0; i < 30; i++ {
		if _, err := s.n.Apply(ctx, "k", wsInc); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.n.floorOf(s.n.ID()) <= 1 {
		if time.Now().After(deadline) {
			t.Fatal("the log was never truncated")
		}
		time.Sleep(20 * time.Millisecond)
	}
	w := dialWS(t, s.url, true)
	w.hello(map[string]any{"cursor": old})
	w.send(map[string]any{"t": "sub", "id": 1, "key": "k"})
	v := newWSView()
	v.readUntil(t, w, func() bool { return v.kinds["snapshot"] == 1 })
	if v.kinds["catchup"] != 0 || !v.same(t, s.n, "k") {
		t.Fatalf("got %v", v.kinds)
	}
}

func TestWSBinary(t *testing.T) {
	s := startWSNode(t, testConfig(t, "n"), WSOptions{}, nil)
	ctx := context.Background()
	if _, err := s.n.Apply(ctx, "b/1", wsInc); err != nil {
		t.Fatal(err)
	}
	w := dialWS(t, s.url, true)
	w.hello(map[string]any{"encoding": "binary"})
	w.send(map[string]any{"t": "sub", "id": 7, "prefix": "b/"})
	f := w.next()
	if f.mt != websocket.BinaryMessage || f.data[0] != 's' {
		t.Fatalf("snapshot frame %q", f.data)
	}
	r := f.data[1:]
	sub, k := binary.Uvarint(r)
	r = r[k:]
	done := r[0]
	cl, k := binary.Uvarint(r[1:])
	cursor := r[1+k : 1+k+int(cl)]
	batch, err := crdt.UnmarshalBatch(r[1+k+int(cl):])
	if err != nil || sub != 7 || done != 1 || len(batch.Items) != 1 || batch.Items[0].Key != "b/1" || !json.Valid(cursor) {
		t.Fatalf("snapshot: sub %d done %d cursor %s items %v err %v", sub, done, cursor, batch.Items, err)
	}
	// A client delta in binary, acked in JSON.
	d := clientDelta(t, crdt.NewObject(), w.replica, time.Now().UnixMilli(), wsInc)
	raw, err := crdt.Batch{Items: []crdt.BatchItem{{Key: "b/1", Delta: d}}}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	frame := append(binary.AppendUvarint([]byte{'D'}, 42), raw...)
	if err := w.c.WriteMessage(websocket.BinaryMessage, frame); err != nil {
		t.Fatal(err)
	}
	var gotAck, gotDelta bool
	for !gotAck || !gotDelta {
		f := w.next()
		switch {
		case f.mt == websocket.TextMessage:
			m := decodeWS(t, f.data)
			if m["t"] != "ack" || fmt.Sprint(m["id"]) != "42" {
				t.Fatalf("got %v", m)
			}
			gotAck = true
		case f.data[0] == 'd':
			cl, k := binary.Uvarint(f.data[1:])
			b, err := crdt.UnmarshalBatch(f.data[1+k+int(cl):])
			if err != nil || len(b.Items) != 1 || !b.Items[0].Delta.Equal(d) {
				t.Fatalf("live delta: %v %v", b.Items, err)
			}
			gotDelta = true
		default:
			t.Fatalf("frame %q", f.data)
		}
	}
	if wsCounter(t, s.n, "b/1") != 2 {
		t.Fatal("binary delta not applied")
	}
	// A binary frame that does not decode.
	if err := w.c.WriteMessage(websocket.BinaryMessage, []byte{'D', 1, 0xff}); err != nil {
		t.Fatal(err)
	}
	w.expectError(protocol.BadMessage, 1)
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

func TestWSSlowConsumerResync(t *testing.T) {
	s := startWSNode(t, testConfig(t, "n"), WSOptions{SendQueue: 16, WriteTimeout: 20 * time.Second}, nil)
	ctx := context.Background()
	w := dialWSWith(t, s.url, false, wsSmallBufferDialer)
	w.send(map[string]any{"t": "hello", "v": 1, "replica": w.replica.String()})
	w.send(map[string]any{"t": "sub", "id": 1, "prefix": "slow/"})
	resyncs := registerWSMetrics(s.n.Metrics().Registry()).resyncs
	for i := 0; testutil.ToFloat64(resyncs) == 0; i++ {
		if i > 2000 {
			t.Fatal("no resync after 2000 large writes to a client that does not read")
		}
		if _, err := s.n.Apply(ctx, fmt.Sprintf("slow/%d", i%4), wsBigValue(i, 16<<10)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 50; i++ { // more while it still does not read
		if _, err := s.n.Apply(ctx, "slow/c", wsInc); err != nil {
			t.Fatal(err)
		}
	}
	// Now it reads: a resync, then a snapshot that brings it up to date.
	go w.readFrames()
	v := newWSView()
	keys := []string{"slow/0", "slow/1", "slow/2", "slow/3", "slow/c"}
	v.readUntil(t, w, func() bool { return v.resyncs > 0 && v.same(t, s.n, keys...) })
	if wsCounter(t, s.n, "slow/c") != 50 {
		t.Fatal("counter")
	}
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

// wsConnsOf lists the connections s's WebSocket endpoint serves.
func wsConnsOf(t *testing.T, s *wsNode) []*wsConn {
	t.Helper()
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	var out []*wsConn
	for c := range s.ws.conns {
		out = append(out, c)
	}
	return out
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

// TestWSBadInput sends each kind of bad input while a second client
// watches a key a third party keeps writing: the bad client gets its
// documented error or close code, the stored state does not change, and
// the watcher misses nothing.
func TestWSBadInput(t *testing.T) {
	ctx := context.Background()
	other := uuid.New()
	now := time.Now().UnixMilli()
	cases := []struct {
		name string
		opts WSOptions
		run  func(t *testing.T, s *wsNode)
	}{
		{"oversized frame", WSOptions{}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true)
			w.hello(nil)
			big := `{"t":"ping","pad":"` + strings.Repeat("x", 2<<20) + `"}`
			_ = w.c.WriteMessage(websocket.TextMessage, []byte(big))
			if code := w.closeCode(); code != websocket.CloseMessageTooBig {
				t.Fatalf("close %d (%v), want 1009", code, w.err)
			}
		}},
		{"malformed JSON", WSOptions{}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true)
			w.hello(nil)
			for _, bad := range []string{`{"t":"ping"`, `[1,2]`, `"hello"`, ``, `{"t":"ping"} {}`} {
				if err := w.c.WriteMessage(websocket.TextMessage, []byte(bad)); err != nil {
					t.Fatal(err)
				}
				w.expectError(protocol.BadJSON, nil)
			}
			w.send(map[string]any{"t": "sub", "id": 1, "key": "a", "prefix": "b"})
			w.expectError(protocol.BadMessage, 1)
			w.send(map[string]any{"t": "delta", "id": 2, "key": 5, "delta": map[string]any{}})
			w.expectError(protocol.BadMessage, 2)
			w.send(map[string]any{"t": "delta", "id": 3, "key": "k", "delta": map[string]any{"types": "nope"}})
			w.expectError(protocol.InvalidDelta, 3)
			w.send(map[string]any{"t": "sub", "id": 4, "key": ""})
			w.expectError(protocol.InvalidKey, 4)
			w.send(map[string]any{"t": "ping", "id": 5})
			w.expect("pong")
		}},
		{"unknown type", WSOptions{}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true)
			w.hello(nil)
			w.send(map[string]any{"t": "frobnicate", "id": 8})
			w.expectError(protocol.UnknownType, 8)
			w.send(map[string]any{"t": "ping"})
			w.expect("pong")
		}},
		{"unknown protocol version", WSOptions{}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true)
			w.send(map[string]any{"t": "hello", "v": 2, "replica": w.replica.String()})
			if code := w.closeCode(); code != protocol.CloseUnsupportedVersion {
				t.Fatalf("close %d (%v), want 4001", code, w.err)
			}
		}},
		{"no hello first", WSOptions{}, func(t *testing.T, s *wsNode) {
			for _, first := range []any{
				map[string]any{"t": "sub", "id": 1, "key": "k"},
				map[string]any{"t": "hello", "v": 1, "replica": "NOT-A-UUID"},
				map[string]any{"t": "hello", "v": 1, "replica": strings.ToUpper(uuid.NewString())},
			} {
				w := dialWS(t, s.url, true)
				w.send(first)
				if code := w.closeCode(); code != protocol.CloseHelloRequired {
					t.Fatalf("first %v: close %d (%v), want 4002", first, code, w.err)
				}
			}
		}},
		{"type confusion", WSOptions{}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true)
			w.hello(nil)
			d := clientDelta(t, crdt.NewObject(), w.replica, now, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("x")})
			w.send(map[string]any{"t": "delta", "id": 11, "key": "target/c", "delta": wsDeltaJSON(t, d)})
			w.expectError(protocol.WrongType, 11)
		}},
		{"forged dot", WSOptions{}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true)
			w.hello(nil)
			d := clientDelta(t, crdt.NewObject(), other, now, wsInc) // minted under another replica
			w.send(map[string]any{"t": "delta", "id": 12, "key": "target/c", "delta": wsDeltaJSON(t, d)})
			w.expectError(protocol.ForgedDot, 12)
		}},
		{"subscription limits", WSOptions{MaxSubs: 3}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true)
			w.hello(nil)
			for i := 1; i <= 3; i++ {
				w.send(map[string]any{"t": "sub", "id": i, "key": fmt.Sprint("target/", i)})
				w.expect("snapshot")
			}
			w.send(map[string]any{"t": "sub", "id": 3, "key": "target/x"})
			w.expectError(protocol.DuplicateSub, 3)
			w.send(map[string]any{"t": "sub", "id": 4, "key": "target/x"})
			w.expectError(protocol.TooManySubs, 4)
		}},
		{"connection limit", WSOptions{MaxConns: 2}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true) // the watcher is the first
			w.hello(nil)
			_, resp, err := websocket.DefaultDialer.Dial(s.url, nil)
			if err == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("a third connection: %v", err)
			}
			if body := readBody(t, resp); !strings.Contains(body, "too_many_connections") {
				t.Fatalf("a third connection: %s", body)
			}
			w.c.Close()
			deadline := time.Now().Add(5 * time.Second)
			for { // a slot frees once the node has seen the close
				c, _, err := websocket.DefaultDialer.Dial(s.url, nil)
				if err == nil {
					c.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no slot after a connection closed: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got := testutil.ToFloat64(registerSecurityMetrics(s.n.Metrics().Registry()).limitHits.WithLabelValues("connections")); got < 1 {
				t.Fatalf("lattice_limit_hits_total{limit=connections} = %v", got)
			}
		}},
		{"cross-origin upgrade", WSOptions{}, func(t *testing.T, s *wsNode) {
			for _, origin := range []string{"http://evil.example", "null", "http://127.0.0.1.evil.example"} {
				_, resp, err := websocket.DefaultDialer.Dial(s.url, http.Header{"Origin": {origin}})
				if err == nil || resp.StatusCode != http.StatusForbidden {
					t.Fatalf("upgrade from %s: %v", origin, err)
				}
				if body := readBody(t, resp); !strings.Contains(body, "forbidden_origin") {
					t.Fatalf("upgrade from %s: %s", origin, body)
				}
			}
			if got := testutil.ToFloat64(registerSecurityMetrics(s.n.Metrics().Registry()).limitHits.WithLabelValues("origin")); got != 3 {
				t.Fatalf("lattice_limit_hits_total{limit=origin} = %v", got)
			}
		}},
		{"flood", WSOptions{}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true)
			w.hello(nil)
			const flood = 10_000
			for i := 0; i < flood; i++ {
				if err := w.c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"t":"ping","id":%d}`, i)); err != nil {
					t.Fatal(err)
				}
			}
			pongs, limited := 0, 0
			for pongs+limited < flood {
				m := w.nextJSON()
				switch {
				case m["t"] == "pong":
					pongs++
				case m["t"] == "error" && m["code"] == protocol.RateLimited:
					limited++
				default:
					t.Fatalf("flood answered with %v", m)
				}
			}
			t.Logf("flood of %d: %d answered, %d rate limited", flood, pongs, limited)
			if limited == 0 || pongs < DefaultWSBurst {
				t.Fatalf("%d pongs, %d rate_limited", pongs, limited)
			}
		}},
		{"client that never reads", WSOptions{WriteTimeout: 500 * time.Millisecond}, func(t *testing.T, s *wsNode) {
			w := dialWSWith(t, s.url, false, wsSmallBufferDialer)
			w.send(map[string]any{"t": "hello", "v": 1, "replica": w.replica.String()})
			w.send(map[string]any{"t": "sub", "id": 1, "prefix": "slow/"})
			var conns []*wsConn
			for len(conns) < 2 { // the watcher and this one
				conns = wsConnsOf(t, s)
			}
			// The send queue is a channel of the configured capacity, so it
			// is bounded by construction; the client is dropped, not queued
			// for without end.
			for _, c := range conns {
				if cap(c.send) != DefaultWSSendQueue {
					t.Fatalf("send queue of capacity %d, want %d", cap(c.send), DefaultWSSendQueue)
				}
			}
			// Large writes fill the socket's buffers; then the write
			// deadline must pass, however long a loaded machine takes to
			// fire it, so after the writes the loop only waits.
			deadline := time.Now().Add(2 * time.Minute)
			for i := 0; len(wsConnsOf(t, s)) > 1; i++ {
				if time.Now().After(deadline) {
					t.Fatal("a client that never reads is still connected 2 minutes after its buffers filled")
				}
				if i < 3000 {
					if _, err := s.n.Apply(ctx, fmt.Sprintf("slow/%d", i%8), wsBigValue(i, 16<<10)); err != nil {
						t.Fatal(err)
					}
				} else {
					time.Sleep(10 * time.Millisecond)
				}
			}
			if got := testutil.ToFloat64(registerWSMetrics(s.n.Metrics().Registry()).errors.WithLabelValues("too_slow")); got != 1 {
				t.Fatalf("lattice_ws_errors_total{code=too_slow} is %v", got)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			s := startWSNode(t, testConfig(t, "n"), tc.opts, nil)
			if _, err := s.n.Apply(ctx, "target/c", wsInc); err != nil {
				t.Fatal(err)
			}
			watcher := dialWS(t, s.url, true)
			watcher.hello(nil)
			watcher.send(map[string]any{"t": "sub", "id": 1, "key": "watch/x"})
			v := newWSView()
			v.readUntil(t, watcher, func() bool { return v.kinds["snapshot"] == 1 })

			stop := make(chan struct{})
			var writes atomic.Int64
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // the third party
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := s.n.Apply(ctx, "watch/x", wsInc); err != nil {
						t.Error(err)
						return
					}
					writes.Add(1)
					time.Sleep(2 * time.Millisecond)
				}
			}()
			before := wsDigestExcept(t, s.n, "watch/")
			// The watcher reads throughout; the view is checked at the end.
			var vmu sync.Mutex
			watchDone := make(chan struct{})
			go func() {
				defer close(watchDone)
				for {
					select {
					case f := <-watcher.in:
						vmu.Lock()
						v.apply(t, f.data)
						vmu.Unlock()
					case <-stop:
						return
					}
				}
			}()

			tc.run(t, s)

			for writes.Load() < 50 { // the watcher sees a stream, not a write or two
				time.Sleep(5 * time.Millisecond)
			}
			close(stop)
			wg.Wait()
			<-watchDone
			if after := wsDigestExcept(t, s.n, "watch/"); after != before && !strings.Contains(tc.name, "never reads") {
				t.Fatal("bad input changed the stored state")
			}
			want := writes.Load()
			v.readUntil(t, watcher, func() bool { return v.objs["watch/x"] != nil && v.objs["watch/x"].Value() == want })
			if v.resyncs != 0 || !v.same(t, s.n, "watch/x") {
				t.Fatalf("the watcher was disturbed: %v", v.kinds)
			}
			t.Logf("watcher saw %d writes: %v", want, v.kinds)
		})
	}
}

func TestWSCloseOnNodeClose(t *testing.T) {
	s := startWSNode(t, testConfig(t, "n"), WSOptions{}, nil)
	w := dialWS(t, s.url, true)
	w.hello(nil)
	s.n.Close()
	if code := w.closeCode(); code != websocket.CloseNormalClosure {
		t.Fatalf("close %d (%v), want 1000", code, w.err)
	}
}

func TestWSHandlerClose(t *testing.T) {
	n, err := Open(testConfig(t, "n"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	h := NewWSHandler(n, WSOptions{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	w := dialWS(t, "ws"+strings.TrimPrefix(srv.URL, "http"), true)
	w.hello(nil)
	h.Close()
	if code := w.closeCode(); code != websocket.CloseNormalClosure {
		t.Fatalf("close %d (%v), want 1000", code, w.err)
	}
	if _, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade after Close: %v", err)
	}
}

func TestWSOrigin(t *testing.T) {
	s := startWSNode(t, testConfig(t, "n"), WSOptions{}, nil)
	hdr := http.Header{"Origin": {"http://evil.example"}}
	if _, resp, err := websocket.DefaultDialer.Dial(s.url, hdr); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin upgrade: %v", err)
	}
	open := startWSNode(t, testConfig(t, "m"), WSOptions{AllowAnyOrigin: true}, nil)
	c, _, err := websocket.DefaultDialer.Dial(open.url, hdr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
