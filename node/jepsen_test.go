// In-process Jepsen-style tests: clusters of nodes over one MemNetwork, each
// node behind a Faulty, concurrent writers, a nemesis that partitions,
// isolates, drops, duplicates, reorders and delays, then a heal, a wait for
// convergence, and checkers (checker_test.go) run against every node's
// final state. Every random choice comes from the test's seed, which the
// test logs; LATTICE_SEED=<seed> replays it. Thread scheduling and real
// time are not replayed, so a replay takes the same decisions, not
// necessarily the same interleaving.

package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/testkit"
	"github.com/lattice-sync/lattice/transport"
)

// checkAll runs the checkers against every node's final state, logs a
// verdict per field (for the first node, and for any other that differs),
// and fails the test on any invalid verdict.
func (c *testCluster) checkAll(ops []testkit.Op) {
	t := c.t
	ok, fail, info := testkit.Tally(ops)
	t.Logf("history: %d ops: %d :ok, %d :fail, %d :info", len(ops), ok, fail, info)
	var first []string
	bad := 0
	for i, n := range c.all() {
		vs, err := values(n)
		if err != nil {
			t.Fatal(err)
		}
		vds := checkState(ops, vs)
		var lines []string
		for _, v := range vds {
			lines = append(lines, v.String())
			if !v.Valid() {
				bad++
				t.Errorf("%s: %s", n.Name(), v)
			}
		}
		if i == 0 {
			first = lines
			t.Logf("verdicts at %s:\n  %s", n.Name(), strings.Join(lines, "\n  "))
		} else if !slices.Equal(lines, first) {
			t.Logf("verdicts at %s:\n  %s", n.Name(), strings.Join(lines, "\n  "))
		}
	}
	if bad > 0 {
		c.dump()
		t.Errorf(":valid? false (%d invalid verdicts)", bad)
		return
	}
	t.Logf(":valid? true on all %d nodes", len(c.nodes))
}

// A workload's keys: top-level counters and sets, and maps whose fields
// are a counter, a counter in a nested map, a set and an LWW register.
var (
	counterKeys = []string{"c0", "c1", "c2"}
	setKeys     = []string{"s0", "s1", "s2"}
	mapKeys     = []string{"m0", "m1"}
)

const setElems = 24 // set elements are 0..setElems-1

// randomOp draws one operation of the Jepsen workload. Removes are rarer
// than adds, so that some elements end with nothing but adds behind them
// and the set checker has something to require.
func randomOp(rng *rand.Rand, lwwSeq *atomic.Int64) (string, crdt.Op) {
	counter := func(path ...string) crdt.Op {
		by := int64(1 + rng.IntN(5))
		if rng.IntN(5) < 2 {
			return crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpDec, By: by, Path: path}
		}
		return crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: by, Path: path}
	}
	set := func(path ...string) crdt.Op {
		v := crdt.MustInt(int64(rng.IntN(setElems)))
		if rng.IntN(10) < 3 {
			return crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpRemove, Value: v, Path: path}
		}
		return crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: v, Path: path}
	}
	switch r := rng.IntN(100); {
	case r < 35:
		return counterKeys[rng.IntN(len(counterKeys))], counter()
	case r < 70:
		return setKeys[rng.IntN(len(setKeys))], set()
	default:
		key := mapKeys[rng.IntN(len(mapKeys))]
		switch rng.IntN(4) {
		case 0:
			return key, counter("hits")
		case 1:
			return key, counter("sub", "n")
		case 2:
			return key, set("tags")
		default:
			v := crdt.String(fmt.Sprintf("v%d", lwwSeq.Add(1)))
			return key, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Value: v, Path: []string{"title"}}
		}
	}
}

// phase is one step of the nemesis: at the given share of completed
// operations it does something to the network.
type phase struct {
	at   float64
	name string
	do   func()
}

// workload runs total operations from writers goroutines, each against a
// node of its random choosing, while the nemesis runs phases as the
// operations complete. It returns the history and, per phase, the
// history's clock when the phase began.
func (c *testCluster) workload(total, writers int, phases []phase) ([]testkit.Op, []int64) {
	t := c.t
	h := &history{}
	var done atomic.Int64
	var lwwSeq atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := newRand(c.seed, uint64(w+1))
			for i := 0; i < total/writers; i++ {
				ni := rng.IntN(len(c.names))
				key, op := randomOp(rng, &lwwSeq)
				pause := time.Duration(rng.IntN(4000)) * time.Microsecond
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				h.apply(ctx, w, c.node(ni), key, op)
				cancel()
				done.Add(1)
				time.Sleep(pause)
			}
		}()
	}
	nemesis := make(chan struct{})
	marks := make([]int64, len(phases))
	go func() {
		defer close(nemesis)
		for i, p := range phases {
			for float64(done.Load()) < p.at*float64(total) {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
			t.Logf("nemesis at op %d: %s", done.Load(), p.name)
			marks[i] = h.Mark()
			p.do()
		}
	}()
	wg.Wait()
	close(stop)
	<-nemesis
	return h.Ops(), marks
}

// jepsenPhases is the fault schedule: a majority/minority partition, an
// isolated node, loss, duplication with reordering, delay with jitter, and
// loss under a new partition, each for a share of the workload.
func (c *testCluster) jepsenPhases(rng *rand.Rand) []phase {
	names := c.names
	split := func() ([]string, []string) {
		s := slices.Clone(names)
		rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
		k := len(s)/2 + 1
		a, b := s[:k], s[k:]
		slices.Sort(a)
		slices.Sort(b)
		return a, b
	}
	maj, min := split()
	isolated := names[rng.IntN(len(names))]
	maj2, min2 := split()
	return []phase{
		{0.10, fmt.Sprintf("partition %v | %v", maj, min), func() { c.partition(maj, min) }},
		{0.25, fmt.Sprintf("heal partition; isolate %s (cut both ways)", isolated), func() {
			c.partition()
			c.isolate(isolated)
		}},
		{0.40, "lift cuts; drop 20%", func() {
			c.isolate("")
			c.setFaults(transport.Faults{Drop: 0.2})
		}},
		{0.55, "duplicate 10%, reorder 10%", func() {
			c.setFaults(transport.Faults{Duplicate: 0.1, Reorder: 0.1})
		}},
		{0.70, "delay 2ms + jitter 10ms, reorder 10%", func() {
			c.setFaults(transport.Faults{Delay: 2 * time.Millisecond, Jitter: 10 * time.Millisecond, Reorder: 0.1})
		}},
		{0.85, fmt.Sprintf("partition %v | %v; drop 10%%, duplicate 5%%, jitter 5ms", maj2, min2), func() {
			c.partition(maj2, min2)
			c.setFaults(transport.Faults{Drop: 0.1, Duplicate: 0.05, Jitter: 5 * time.Millisecond})
		}},
	}
}

func (c *testCluster) logFaultStats() {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var sb strings.Builder
	for i, f := range c.faulty {
		s := f.Stats()
		fmt.Fprintf(&sb, "\n  %s: sent %d dropped %d duplicated %d reordered %d delayed %d cut %d",
			c.names[i], s.Sent, s.Dropped, s.Duplicated, s.Reordered, s.Delayed, s.CutDropped)
	}
	c.t.Logf("transport faults injected:%s", sb.String())
}

// healAndCheck ends a workload begun at start: it heals everything, waits
// for every node to hold the same state and log position, and runs the
// checkers against each.
func (c *testCluster) healAndCheck(start time.Time, ops []testkit.Op) {
	c.t.Logf("workload done in %v", time.Since(start).Round(time.Millisecond))
	c.healAll()
	took := c.awaitConverged(15*time.Second, true)
	c.t.Logf("converged %v after heal", took.Round(time.Millisecond))
	c.logFaultStats()
	c.checkAll(ops)
}

func runJepsen(t *testing.T, size int) {
	seed := testSeed(t)
	start := time.Now()
	c := newTestCluster(t, size, seed, nil)
	ops, _ := c.workload(2000, 4, c.jepsenPhases(newRand(seed, 0)))
	c.healAndCheck(start, ops)
	if _, fail, info := testkit.Tally(ops); fail+info > 0 {
		// No node stops in this test, so nothing may fail.
		t.Errorf("%d operations failed or timed out with every node up", fail+info)
		for _, o := range ops {
			if o.Outcome != testkit.OK {
				t.Logf("  %s", o)
			}
		}
	}
}

func TestJepsenThreeNodes(t *testing.T) { runJepsen(t, 3) }

func TestJepsenFiveNodes(t *testing.T) { runJepsen(t, 5) }
