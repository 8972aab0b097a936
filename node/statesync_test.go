package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/transport"
)

// A node that was away while the others truncated their logs catches up
// from state, then serves others.
func TestStateTransferAfterTruncation(t *testing.T) {
	net := transport.NewMemNetwork()
	open := func(name string) *Node {
		cfg := testConfig(t, name)
		cfg.LogRetention = 5
		n, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	a, b := open("a"), open("b")
	if err := a.Attach(net.Add("a")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		key := fmt.Sprintf("k%d", i%20)
		if _, err := a.Apply(ctx, key, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.MustInt(int64(i))}); err != nil {
			t.Fatal(err)
		}
	}
	// Let a truncate its log.
	deadline := time.Now().Add(5 * time.Second)
	for a.floorOf(a.ID()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("log never truncated")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.Attach(net.Add("b")); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, 10*time.Second, a, b)
	if b.floorOf(a.ID()) == 0 {
		t.Fatal("b caught up without adopting a floor: state transfer not used")
	}
	o, _ := b.Get("k3")
	if got := len(o.Value().([]any)); got != 10 {
		t.Fatalf("k3 has %d elements, want 10", got)
	}
}

func waitConverged(t *testing.T, d time.Duration, nodes ...*Node) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var ds []string
		same := true
		for _, n := range nodes {
			dg, _, err := n.Digest()
			if err != nil {
				t.Fatal(err)
			}
			ds = append(ds, dg)
			same = same && dg == ds[0]
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not converged after %v: %v", d, ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
