package lattice

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node"
)

// TestSnapshotResumeAfterCut: the connection drops in the middle of a
// 100,000-character text's snapshot; the client resubscribes from the last
// page's position and ends with the node's text.
func TestSnapshotResumeAfterCut(t *testing.T) {
	cfg := node.DefaultConfig("chunks", t.TempDir())
	cfg.SyncWrites = false
	cfg.Logger = quietLogger()
	n, err := node.Open(cfg)
	must(t, err)
	srv := httptest.NewServer(node.NewHTTPHandler(n, node.HTTPOptions{Logger: quietLogger(), WS: node.WSOptions{SnapshotChunk: 16 << 10}}))
	t.Cleanup(func() {
		srv.Close()
		n.Close()
	})
	chunk := strings.Repeat("0123456789", 1000)
	for i := 0; i < 10; i++ {
		op := crdt.Op{Type: crdt.TypeText, Kind: crdt.OpInsert, Index: int64(i * len(chunk)), Value: crdt.String(chunk)}
		_, err := n.Apply(context.Background(), "doc", op)
		must(t, err)
	}
	p := newProxy(t, strings.TrimPrefix(srv.URL, "http://"))
	p.cut.Store(48 << 10) // the welcome and two or three pages of about 16 KiB
	c := openClient(t, Options{URLs: p.url()})
	_, err = c.Subscribe("doc", nil)
	must(t, err)
	// The cut counts as a failed connection: Sync reports it, and the
	// next call connects again.
	err = c.Sync(20_000)
	for i := 0; i < 5 && errors.Is(err, ErrUnreachable); i++ {
		err = c.Sync(20_000)
	}
	must(t, err)
	want, err := n.Get("doc")
	must(t, err)
	c.mu.Lock()
	defer c.mu.Unlock()
	if got := c.objects["doc"]; got == nil || !got.Equal(want) {
		t.Fatal("the client's text differs from the node's")
	}
	if c.stats.resumed == 0 || c.stats.welcomes < 2 {
		t.Fatalf("%d welcomes, %d resumed subscriptions; want a resumed one after the cut", c.stats.welcomes, c.stats.resumed)
	}
}
