// WebSocket resume: a client that reconnects with its position catches up
// from the logs, or gets a snapshot when its position is below the floor.

package node

import (
	"context"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/transport"
)

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
	for s.n.st.Floor(s.n.ID()) <= 1 {
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
