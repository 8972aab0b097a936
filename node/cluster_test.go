package node

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
)

func testConfig(t testing.TB, name string) Config {
	cfg := DefaultConfig(name, t.TempDir())
	cfg.AntiEntropyInterval = 50 * time.Millisecond
	cfg.SyncWrites = false
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
}

func TestThreeNodesConverge(t *testing.T) {
	nodes := threeNodes(t, "n")
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		n := nodes[i%3]
		if _, err := n.Apply(ctx, "c", crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Apply(ctx, "s", crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.MustInt(int64(i))}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		d0, c0, _ := nodes[0].Digest()
		d1, _, _ := nodes[1].Digest()
		d2, _, _ := nodes[2].Digest()
		if d0 == d1 && d1 == d2 && c0 == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no convergence: %s %s %s", d0, d1, d2)
		}
		time.Sleep(20 * time.Millisecond)
	}
	o, _ := nodes[2].Get("c")
	if v := o.Value(); v != int64(30) {
		t.Fatalf("counter %v", v)
	}
	t.Logf("%+v", nodes[0].Cluster())
}
