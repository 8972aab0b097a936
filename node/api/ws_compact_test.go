package api

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/frames"
)

// TestWSCompactBatch: the live changes queued for a connection go out as
// one frame, in order, with the last one's cursor; one for a key the
// connection no longer wants is left out, and a reply queued behind them
// follows the frame.
func TestWSCompactBatch(t *testing.T) {
	n := newTestBackend(t, nil)
	h := NewWSHandler(n, WSOptions{})
	t.Cleanup(func() { h.Close() })
	conns := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		conns <- ws
	}))
	t.Cleanup(srv.Close)
	cl, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	c := newWSConn(h, <-conns)
	defer c.cancel()
	c.binary, c.compact = true, true
	c.subs[1] = &wsSub{c: c, id: 1, key: "k/", isPrefix: true}

	r := uuid.New()
	objs := map[string]*crdt.Object{}
	var lcs []*liveChange
	for i, key := range []string{"k/a", "k/a", "other", "k/b"} {
		if objs[key] == nil {
			objs[key] = crdt.NewObject()
		}
		d := clientDelta(t, objs[key], r, 1_700_000_000_000+int64(i), wsInc)
		lcs = append(lcs, &liveChange{key: key, delta: d, cursor: newWSCursor(crdt.VersionVector{n.Store.ID(): uint64(i + 1)})})
	}
	for _, lc := range lcs[1:] {
		c.send <- wsOut{kind: outLive, live: lc}
	}
	c.send <- wsOut{kind: outFrame, t: "pong", frame: []byte(`{"t":"pong"}`)}
	if err := c.writeLiveBatch(lcs[0], true); err != nil {
		t.Fatal(err)
	}
	if len(c.send) != 0 {
		t.Fatalf("%d messages left in the queue", len(c.send))
	}
	var rd frames.Reader
	_, data, err := cl.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	its, err := rd.ReadLive(data)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, it := range its {
		keys = append(keys, it.Key)
	}
	if !slices.Equal(keys, []string{"k/a", "k/a", "k/b"}) {
		t.Fatalf("frame holds %v, want k/a k/a k/b", keys)
	}
	if got := rd.Cursor(); got[n.Store.ID()] != 4 || c.claim != lcs[3].cursor {
		t.Fatalf("cursor %v, claim %v: want the last change's", got, c.claim.vv)
	}
	if mt, data, err := cl.ReadMessage(); err != nil || mt != websocket.TextMessage || string(data) != `{"t":"pong"}` {
		t.Fatalf("after the frame: %d %q %v, want the pong", mt, data, err)
	}
}
