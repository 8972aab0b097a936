// WebSocket session basics: hello and welcome, subscribe (snapshot then
// live deltas), a client delta's ack, the origin check, and how a session ends.

package node

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/transport"
)

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
	if got := metricValue(t, s.n, "lattice_ws_connections"); got != 1 {
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
