package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/lattice-sync/lattice/crdt"
)

// TestHotRacedReadNotKept: a state read before a commit to its key landed
// is not kept, and the cache holds at most hotMax objects.
func TestHotRacedReadNotKept(t *testing.T) {
	n, err := openStore(testConfig(t, "n"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	add := func(key, v string) {
		t.Helper()
		if _, err := n.ApplyAndRead(ctx, key, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String(v)}); err != nil {
			t.Fatal(err)
		}
	}
	add("k", "a")
	n.hot = newHotObjects() // forget it
	ver := n.hot.version("k")
	stale, err := n.Get("k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Apply(ctx, "k", crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("b")}); err != nil {
		t.Fatal(err)
	}
	n.hot.put("k", stale, ver)
	if _, v, ok := n.hot.view("k"); ok {
		t.Fatalf("a read that a commit raced was kept: %v", v)
	}
	for i := 0; i < hotMax+10; i++ {
		add(fmt.Sprintf("many/%d", i), "x")
	}
	if k := len(n.hot.objs); k > hotMax {
		t.Fatalf("%d objects kept, want at most %d", k, hotMax)
	}
}
