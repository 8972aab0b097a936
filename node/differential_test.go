// Differential tests: the same script played on a cluster that replicates
// by deltas and on one that ships whole states reaches the same state,
// byte for byte; an idle full-state cluster stops committing.

package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node/store"
)

// presetReplicaID gives the data directory dir the replica id id before the
// node first opens it (Open creates an id only for a directory without
// one), so that two clusters can mint the same dots.
func presetReplicaID(t *testing.T, dir string, id crdt.ReplicaID) {
	t.Helper()
	if err := store.PresetIdentity(dir, id); err != nil {
		t.Fatal(err)
	}
}

// stepClock is a physical clock the test moves by hand, one millisecond per
// operation. Only the committer timestamping a new operation (Store.exec)
// reads the current step; every other reader (state pushes, peers' clocks
// folded in, Open) reads the start of time. Replication between two steps
// can then only raise an HLC's logical counter at a wall time below the
// next step, so operation k is stamped (base+k, 0) in every cluster however
// its messages interleave, which a clock shared by all callers cannot give:
// delta and full-state replication read the clock different numbers of
// times.
type stepClock struct {
	base  int64
	step  atomic.Int64
	stamp atomic.Int64 // reads by Store.exec, one per operation
}

func (c *stepClock) now() int64 {
	if calledFromExec() {
		c.stamp.Add(1)
		return c.base + c.step.Load()
	}
	return c.base
}

func calledFromExec() bool {
	pc := make([]uintptr, 16)
	frames := runtime.CallersFrames(pc[:runtime.Callers(2, pc)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, "store.(*Store).exec") {
			return true
		}
		if !more {
			return false
		}
	}
}

// diffStep is one step of a differential script: an operation on a node,
// or (topo) a new network topology.
type diffStep struct {
	node   int
	key    string
	op     crdt.Op
	topo   bool
	groups [][]int // with topo: the sides, by node index; none heals
}

// diffScript draws a deterministic script: segments of operations, each
// under a topology drawn at random (connected, one node cut off, all three
// apart), so that the same fields are written concurrently on different
// sides and merged at the next heal.
func diffScript(rng *rand.Rand, segments, perSegment int) []diffStep {
	topologies := [][][]int{
		{},
		{{0}, {1, 2}}, {{1}, {0, 2}}, {{2}, {0, 1}},
		{{0}, {1}, {2}},
	}
	val := func() crdt.Value { return crdt.MustInt(int64(rng.IntN(10))) }
	counter := func(path ...string) crdt.Op {
		k := crdt.OpInc
		if rng.IntN(3) == 0 {
			k = crdt.OpDec
		}
		return crdt.Op{Type: crdt.TypePNCounter, Kind: k, By: int64(1 + rng.IntN(5)), Path: path}
	}
	set := func(path ...string) crdt.Op {
		k := crdt.OpAdd
		if rng.IntN(5) < 2 {
			k = crdt.OpRemove
		}
		return crdt.Op{Type: crdt.TypeORSet, Kind: k, Value: val(), Path: path}
	}
	var steps []diffStep
	for s := 0; s < segments; s++ {
		steps = append(steps, diffStep{topo: true, groups: topologies[rng.IntN(len(topologies))]})
		for i := 0; i < perSegment; i++ {
			st := diffStep{node: rng.IntN(3)}
			switch r := rng.IntN(100); {
			case r < 20:
				st.key, st.op = fmt.Sprintf("c%d", rng.IntN(2)), counter()
			case r < 40:
				st.key, st.op = fmt.Sprintf("s%d", rng.IntN(2)), set()
			case r < 45:
				st.key, st.op = "r0", crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Value: val()}
			case r < 50:
				st.key, st.op = "v0", crdt.Op{Type: crdt.TypeMVRegister, Kind: crdt.OpSet, Value: val()}
			case r < 55:
				k := crdt.OpEnable
				if rng.IntN(2) == 0 {
					k = crdt.OpDisable
				}
				st.key, st.op = "f0", crdt.Op{Type: crdt.TypeEWFlag, Kind: k}
			default:
				st.key = fmt.Sprintf("m%d", rng.IntN(2))
				switch rng.IntN(7) {
				case 0:
					st.op = counter("hits")
				case 1:
					st.op = counter("sub", "n")
				case 2, 3:
					st.op = set("tags")
				case 4:
					st.op = crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Value: val(), Path: []string{"title"}}
				default:
					field := []string{"hits", "sub", "tags", "title"}[rng.IntN(4)]
					st.op = crdt.Op{Type: crdt.TypeORMap, Kind: crdt.OpDelete, Path: []string{field}}
				}
			}
			steps = append(steps, st)
		}
	}
	return append(steps, diffStep{topo: true, groups: [][]int{}})
}

// runScript plays a script on c: after each operation it waits until the
// target's side of the network has converged, so that every operation
// observes exactly the same state in every cluster that plays the script.
func (c *testCluster) runScript(steps []diffStep, clock *stepClock) {
	t := c.t
	ctx := context.Background()
	side := []int{0, 1, 2}
	sides := [][]int{side}
	for i, st := range steps {
		if st.topo {
			sides = sides[:0]
			var names [][]string
			for _, g := range st.groups {
				sides = append(sides, g)
				var ns []string
				for _, n := range g {
					ns = append(ns, c.names[n])
				}
				names = append(names, ns)
			}
			if len(st.groups) == 0 {
				sides = append(sides, []int{0, 1, 2})
			}
			c.partition(names...)
			for _, g := range sides {
				c.awaitSide(g, fmt.Sprintf("step %d: topology %v", i, st.groups))
			}
			continue
		}
		clock.step.Add(1)
		if _, err := c.node(st.node).Apply(ctx, st.key, st.op); err != nil {
			t.Fatalf("step %d: %s %s %s %v: %v", i, c.names[st.node], st.key, st.op.Kind, st.op.Path, err)
		}
		for _, g := range sides {
			if slices.Contains(g, st.node) {
				c.awaitSide(g, fmt.Sprintf("step %d", i))
			}
		}
	}
}

// awaitSide waits until the nodes of one side of a partition agree.
func (c *testCluster) awaitSide(side []int, what string) {
	var nodes []*Node
	for _, i := range side {
		nodes = append(nodes, c.node(i))
	}
	// Generous: it bounds a hang, and a loaded machine under the race
	// detector may take many seconds (10 s was once not enough at load 13).
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, why := nodesConverged(nodes, false)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.dump()
			c.t.Fatalf("%s: side %v not converged: %s", what, side, why)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// encodings reads every object's canonical encoding at n.
func encodings(t *testing.T, n *Node) map[string][]byte {
	out := map[string][]byte{}
	err := n.Scan("", func(key string, o *crdt.Object) error {
		b, err := o.MarshalBinary()
		out[key] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The same script of operations, played on a cluster that replicates by
// deltas and on one that ships whole states, reaches the same CRDT state,
// byte for byte: the two clusters share replica ids and clocks, and every
// operation observes the same state in both, so only the replication path
// differs.
func TestDifferentialDeltaVsFullState(t *testing.T) {
	seed := testSeed(t)
	rng := newRand(seed, 0)
	ids := make([]crdt.ReplicaID, 3)
	for i := range ids {
		for j := range ids[i] {
			ids[i][j] = byte(rng.Uint32())
		}
	}
	steps := diffScript(rng, 10, 40)
	modes := []struct {
		name string
		full bool
	}{{"delta", false}, {"full-state", true}}
	var digests []string
	var encs []map[string][]byte
	var clusters []*testCluster
	for _, m := range modes {
		start := time.Now()
		clock := &stepClock{base: 1_700_000_000_000}
		c := newTestCluster(t, 3, seed, func(i int, cfg *Config) {
			presetReplicaID(t, cfg.Dir, ids[i])
			cfg.Now = clock.now
			cfg.FullState = m.full
		})
		c.runScript(steps, clock)
		if got, want := clock.stamp.Load(), clock.step.Load(); got != want {
			t.Fatalf("Store.exec read the clock %d times for %d operations: calledFromExec no longer finds it", got, want)
		}
		c.healAll()
		c.awaitConverged(15*time.Second, !m.full)
		d, cnt, err := c.node(0).Digest()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s cluster: %d steps in %v, digest %s over %d objects", m.name, len(steps), time.Since(start).Round(time.Millisecond), d, cnt)
		digests = append(digests, d)
		encs = append(encs, encodings(t, c.node(0)))
		clusters = append(clusters, c)
	}
	t.Logf("values: %s", valuesString(clusters[0].node(0)))
	if digests[0] == digests[1] {
		return
	}
	for key, a := range encs[0] {
		if b := encs[1][key]; !bytes.Equal(a, b) {
			o0, _ := clusters[0].node(0).Get(key)
			o1, _ := clusters[1].node(0).Get(key)
			v0, _ := json.Marshal(o0.Value())
			v1, _ := json.Marshal(o1.Value())
			t.Errorf("key %s differs:\n  delta      %s\n  full-state %s", key, v0, v1)
		}
	}
	for key := range encs[1] {
		if _, ok := encs[0][key]; !ok {
			t.Errorf("key %s only in the full-state cluster", key)
		}
	}
	t.Fatalf("digests differ: delta %s, full-state %s", digests[0], digests[1])
}

// counterValue reads one of a node's counters from its registry.
func counterValue(t *testing.T, n *Node, name string) float64 {
	t.Helper()
	mfs, err := n.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue()
			}
		}
	}
	return v
}

// An idle full-state cluster commits only what its anti-entropy rounds
// bring. Nodes used to push on the states they received, to peers that
// pushed them on in turn, so one write kept three nodes committing
// thousands of times a second, forever.
func TestDifferentialFullStateQuiesces(t *testing.T) {
	c := newTestCluster(t, 3, testSeed(t), func(_ int, cfg *Config) { cfg.FullState = true })
	if _, err := c.node(0).Apply(context.Background(), "c", crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1}); err != nil {
		t.Fatal(err)
	}
	c.awaitConverged(5*time.Second, false)
	time.Sleep(200 * time.Millisecond)
	const window = 500 * time.Millisecond
	var before []float64
	for _, n := range c.all() {
		before = append(before, counterValue(t, n, "lattice_commits_total"))
	}
	time.Sleep(window)
	// Each round a node asks each peer, and each answer is one commit.
	limit := 3 * float64(len(c.names)-1) * float64(window/c.cfgs[0].AntiEntropyInterval)
	for i, n := range c.all() {
		got := counterValue(t, n, "lattice_commits_total") - before[i]
		t.Logf("%s: %v commits in %v idle (anti-entropy allows %v)", n.Name(), got, window, limit)
		if got > limit {
			t.Errorf("%s committed %v times in %v with nothing written", n.Name(), got, window)
		}
	}
}
