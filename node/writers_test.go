package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/testkit"
	"github.com/lattice-sync/lattice/transport"
)

// writerID is the replica id of the i-th writer of a test.
func writerID(i int) crdt.ReplicaID {
	var r crdt.ReplicaID
	r[0] = 0xAA
	binary.BigEndian.PutUint64(r[8:], uint64(i)+1)
	return r
}

// threeNodes opens three nodes joined on an in-memory network.
func threeNodes(t *testing.T, name string) []*Node {
	t.Helper()
	return threeNodesWith(t, name, func(*Config) {}, nil)
}

// threeNodesWith is threeNodes with each node's test config changed by
// set and, if wrap is not nil, its transport wrapped by wrap (which may
// register a Cleanup for what it makes).
func threeNodesWith(t *testing.T, name string, set func(*Config), wrap func(i int, tr transport.Transport) transport.Transport) []*Node {
	t.Helper()
	net := transport.NewMemNetwork()
	var nodes []*Node
	for i := range 3 {
		cfg := testConfig(t, fmt.Sprintf("%s%d", name, i))
		set(&cfg)
		n, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		var tr transport.Transport = net.Add(n.Name())
		if wrap != nil {
			tr = wrap(i, tr)
		}
		if err := n.Attach(tr); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// TestManyWritersConverge: 100,000 distinct client replicas (5,000 under
// -short) each add a random amount to one counter, through JoinClient on a
// node chosen at random, the real path of a client delta; the three nodes
// converge to the exact sum, and read back the same state.
func TestManyWritersConverge(t *testing.T) {
	writers := 100_000
	if testing.Short() || raceEnabled {
		writers = 5_000
	}
	seed := testkit.Seed(t)
	nodes := threeNodes(t, "mw")
	ctx := context.Background()
	const workers = 32
	var mu sync.Mutex
	var want int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := testkit.Rand(seed, uint64(w))
			var sum int64
			for i := w; i < writers; i += workers {
				by := int64(1 + rnd.IntN(5))
				d, err := crdt.NewObject().Apply(writerID(i), crdt.Timestamp{Wall: time.Now().UnixMilli()}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: by})
				if err == nil {
					err = nodes[rnd.IntN(len(nodes))].JoinClient(ctx, writerID(i), "likes", d)
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", i, err)
					return
				}
				sum += by
			}
			mu.Lock()
			want += sum
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitConverged(t, 2*time.Minute, nodes...)
	for _, n := range nodes {
		if got := wsCounter(t, n, "likes"); got != want {
			t.Fatalf("%s reads %d, want %d", n.Name(), got, want)
		}
	}
	o, err := nodes[0].Get("likes")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(o.Replicas()); got < writers {
		t.Fatalf("the counter names %d replicas, want at least %d", got, writers)
	}
	// An operation's answer (what REST returns) comes from the tally.
	ans, err := nodes[0].st.ApplyAndRead(ctx, "likes", crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1})
	if err != nil || ans.Value != want+1 {
		t.Fatalf("an increment answered %+v (%v), want %d", ans, err, want+1)
	}
	t.Logf("%d writers, sum %d", writers, want)
}
