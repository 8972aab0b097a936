package node

import (
	"context"
	"encoding/binary"
	"errors"
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
		nodes = append(nodes, openOn(t, net, fmt.Sprintf("%s%d", name, i), set, func(tr transport.Transport) transport.Transport {
			if wrap != nil {
				return wrap(i, tr)
			}
			return tr
		}))
	}
	return nodes
}

// openOn opens a node named name, its test config changed by set, and
// attaches it to net through wrap.
func openOn(t *testing.T, net *transport.MemNetwork, name string, set func(*Config), wrap func(transport.Transport) transport.Transport) *Node {
	t.Helper()
	cfg := testConfig(t, name)
	set(&cfg)
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Attach(wrap(net.Add(n.Name()))); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestManyWritersConverge: 100,000 distinct client replicas (5,000 under
// -short) each add a random amount to one counter, through JoinClient on a
// node chosen at random, the real path of a client delta; the three nodes
// converge to the exact sum, and read back the same state. Their logs keep
// a quarter of each origin's entries, so a fourth node that joins empty
// afterwards gets the counter by state transfer (it adopts a floor), as
// writer parts each committed in a transaction of its own, and reads the
// exact sum.
func TestManyWritersConverge(t *testing.T) {
	writers := 100_000
	if testing.Short() || raceEnabled {
		writers = 5_000
	}
	seed := testkit.Seed(t)
	net := transport.NewMemNetwork()
	retain := func(cfg *Config) { cfg.LogRetention = uint64(writers / 4) }
	same := func(tr transport.Transport) transport.Transport { return tr }
	var nodes []*Node
	for i := range 3 {
		nodes = append(nodes, openOn(t, net, fmt.Sprintf("mw%d", i), retain, same))
	}
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
	want++
	// A node that joins now lacks entries the logs no longer hold.
	if err := testkit.Eventually(time.Minute, func() error {
		if nodes[0].st.Floor(nodes[0].ID()) == 0 {
			return errors.New("no log truncated")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	late := openOn(t, net, "mw3", retain, same)
	waitConverged(t, 4*time.Minute, append(nodes, late)...)
	waitFloor(t, late, nodes[0].ID())
	if got := wsCounter(t, late, "likes"); got != want {
		t.Fatalf("%s, joined late, reads %d, want %d", late.Name(), got, want)
	}
	t.Logf("%d writers, sum %d; a fourth node caught up by state transfer in %v", writers, want, time.Since(start).Round(time.Millisecond))
}
