package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/testkit"
	"github.com/lattice-sync/lattice/transport"
)

// In-process Jepsen-style tests: clusters of nodes over one MemNetwork, each
// node behind a Faulty, concurrent writers, a nemesis that partitions,
// isolates, drops, duplicates, reorders and delays, then a heal, a wait for
// convergence, and checkers (checker_test.go) run against every node's
// final state. Every random choice comes from the test's seed, which the
// test logs; LATTICE_SEED=<seed> replays it. Thread scheduling and real
// time are not replayed, so a replay takes the same decisions, not
// necessarily the same interleaving.

// testSeed is testkit.Seed; newRand is testkit.Rand.
func testSeed(t *testing.T) int64 { return testkit.Seed(t) }

func newRand(seed int64, stream uint64) *rand.Rand { return testkit.Rand(seed, stream) }

// testCluster is n nodes over one MemNetwork, each behind a Faulty.
type testCluster struct {
	t     *testing.T
	seed  int64
	net   *transport.MemNetwork
	names []string
	cfgs  []Config

	mu     sync.RWMutex // guards nodes and faulty, which a restart replaces
	nodes  []*Node
	faulty []*transport.Faulty

	fmu    sync.Mutex // serialises fault changes
	faults transport.Faults
	cuts   map[string][]string
}

// newTestCluster opens size nodes named n0, n1, ...; edit, if not nil,
// adjusts each node's config before it opens.
func newTestCluster(t *testing.T, size int, seed int64, edit func(i int, cfg *Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, seed: seed, net: transport.NewMemNetwork(), cuts: map[string][]string{}}
	for i := 0; i < size; i++ {
		name := fmt.Sprintf("n%d", i)
		cfg := testConfig(t, name)
		if edit != nil {
			edit(i, &cfg)
		}
		n, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		f := transport.NewFaulty(c.net.Add(name), c.faultySeed(i, 0))
		if err := n.Attach(f); err != nil {
			t.Fatal(err)
		}
		c.names = append(c.names, name)
		c.cfgs = append(c.cfgs, cfg)
		c.nodes = append(c.nodes, n)
		c.faulty = append(c.faulty, f)
	}
	t.Cleanup(c.close)
	return c
}

// faultySeed derives node i's Faulty seed for its incarnation-th start.
func (c *testCluster) faultySeed(i, incarnation int) int64 {
	return c.seed + int64(1000*incarnation+i+1)
}

func (c *testCluster) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Transports first, so that nothing reaches a node while it closes.
	for _, f := range c.faulty {
		f.Close()
	}
	for _, n := range c.nodes {
		n.Close()
	}
}

func (c *testCluster) node(i int) *Node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.nodes[i]
}

func (c *testCluster) all() []*Node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.nodes)
}

// applyFaultsLocked gives every node the base faults plus its cuts; fmu
// is held.
func (c *testCluster) applyFaultsLocked() {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for i, f := range c.faulty {
		fs := c.faults
		fs.Cut = c.cuts[c.names[i]]
		if err := f.SetFaults(fs); err != nil {
			c.t.Errorf("SetFaults on %s: %v", c.names[i], err)
		}
	}
}

// setFaults replaces the faults every node applies to what it sends.
func (c *testCluster) setFaults(fs transport.Faults) {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	c.faults = fs
	c.applyFaultsLocked()
}

// isolate cuts node name off, in both directions, with Faulty cuts; an
// empty name lifts every cut.
func (c *testCluster) isolate(name string) {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	c.cuts = map[string][]string{}
	if name != "" {
		for _, o := range c.names {
			if o != name {
				c.cuts[name] = append(c.cuts[name], o)
				c.cuts[o] = []string{name}
			}
		}
	}
	c.applyFaultsLocked()
}

// partition splits the MemNetwork; no groups heals it.
func (c *testCluster) partition(groups ...[]string) {
	c.net.Partition(groups...)
}

// healAll lifts every partition, cut and fault.
func (c *testCluster) healAll() {
	c.partition()
	c.fmu.Lock()
	defer c.fmu.Unlock()
	c.faults, c.cuts = transport.Faults{}, map[string][]string{}
	c.applyFaultsLocked()
}

// restart stops node i (transport, then node), waits down, reopens it on
// the same data directory, checks that it restored its log position, and
// attaches it again under the faults currently in force. Writers that pick
// it while it is down get ErrClosed (or time out).
func (c *testCluster) restart(i int, down time.Duration) {
	t := c.t
	c.mu.RLock()
	n, f := c.nodes[i], c.faulty[i]
	c.mu.RUnlock()
	if err := f.Close(); err != nil {
		t.Errorf("closing %s's transport: %v", c.names[i], err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("closing %s: %v", c.names[i], err)
	}
	before := n.VersionVector() // final: the committer has stopped
	time.Sleep(down)
	start := time.Now()
	n2, err := Open(c.cfgs[i])
	if err != nil {
		t.Errorf("reopening %s: %v", c.names[i], err)
		return
	}
	after := n2.VersionVector()
	t.Logf("%s reopened in %v; vv before close %v, after reopen %v", c.names[i], time.Since(start).Round(time.Millisecond), before, after)
	if n2.ID() != n.ID() {
		t.Errorf("%s came back as replica %s, was %s", c.names[i], n2.ID(), n.ID())
	}
	if o := after.Compare(before); o != crdt.Equal && o != crdt.After {
		t.Errorf("%s lost log position on restart: vv %v after reopen, %v before close", c.names[i], after, before)
	}
	f2 := transport.NewFaulty(c.net.Add(c.names[i]), c.faultySeed(i, 1))
	c.fmu.Lock()
	fs := c.faults
	fs.Cut = c.cuts[c.names[i]]
	c.fmu.Unlock()
	if err := f2.SetFaults(fs); err != nil {
		t.Error(err)
	}
	if err := n2.Attach(f2); err != nil {
		t.Errorf("attaching %s: %v", c.names[i], err)
	}
	c.mu.Lock()
	c.nodes[i], c.faulty[i] = n2, f2
	c.mu.Unlock()
}

// awaitConverged waits until every node has the same digest (and, with
// sameVV, the same version vector); on timeout it logs every node's view
// and values and fails the test.
func (c *testCluster) awaitConverged(d time.Duration, sameVV bool) time.Duration {
	c.t.Helper()
	start := time.Now()
	deadline := start.Add(d)
	for {
		ok, why := c.converged(sameVV)
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			c.dump()
			c.t.Fatalf("not converged after %v: %s", d, why)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (c *testCluster) converged(sameVV bool) (bool, string) {
	nodes := c.all()
	return nodesConverged(nodes, sameVV)
}

func nodesConverged(nodes []*Node, sameVV bool) (bool, string) {
	var ds []string
	var vvs []crdt.VersionVector
	for _, n := range nodes {
		d, _, err := n.Digest()
		if err != nil {
			return false, err.Error()
		}
		ds = append(ds, d[:12])
		vvs = append(vvs, n.VersionVector())
	}
	for i := range ds {
		if ds[i] != ds[0] || (sameVV && vvs[i].Compare(vvs[0]) != crdt.Equal) {
			return false, fmt.Sprintf("digests %v, vvs %v", ds, vvs)
		}
	}
	return true, ""
}

// dump logs each node's view of the cluster, its transport's fault
// counters and its values, for debugging a failure.
func (c *testCluster) dump() {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for i, n := range c.nodes {
		ci, _ := json.Marshal(n.Cluster())
		d, cnt, _ := n.Digest()
		st, _ := json.Marshal(c.faulty[i].Stats())
		c.t.Logf("%s digest %s (%d objects)\n  cluster %s\n  faults %s\n  values %s", n.Name(), d, cnt, ci, st, valuesString(n))
	}
}

// values reads every object's plain value.
func values(n *Node) (map[string]any, error) {
	out := map[string]any{}
	err := n.Scan("", func(key string, o *crdt.Object) error {
		out[key] = o.Value()
		return nil
	})
	return out, err
}

func valuesString(n *Node) string {
	vs, err := values(n)
	if err != nil {
		return err.Error()
	}
	b, _ := json.Marshal(vs)
	return string(b)
}

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

// A node stopped mid-workload and reopened on its data directory restores
// its state and log position and catches up. It is cut off first, so the
// writes it acknowledged just before stopping are on its disk alone: the
// checkers then prove they survived the restart. SyncWrites is on, as in
// production: durability is the point here.
func TestRestartMidWorkload(t *testing.T) {
	seed := testSeed(t)
	start := time.Now()
	c := newTestCluster(t, 3, seed, func(_ int, cfg *Config) { cfg.SyncWrites = true })
	rng := newRand(seed, 0)
	victim := rng.IntN(3)
	name := c.names[victim]
	phases := []phase{
		{0.15, fmt.Sprintf("isolate %s", name), func() { c.isolate(name) }},
		{0.35, fmt.Sprintf("stop %s for 300ms, reopen it (still isolated)", name), func() { c.restart(victim, 300*time.Millisecond) }},
		{0.55, "lift cuts; drop 10%, duplicate 5%, reorder 5%", func() {
			c.isolate("")
			c.setFaults(transport.Faults{Drop: 0.1, Duplicate: 0.05, Reorder: 0.05})
		}},
		{0.70, fmt.Sprintf("stop %s for 200ms again, reopen it, connected", name), func() { c.restart(victim, 200*time.Millisecond) }},
	}
	ops, marks := c.workload(1200, 3, phases)
	c.healAndCheck(start, ops)
	// Writes the victim acknowledged while cut off, before its first stop,
	// were on its disk alone: the checkers above prove they came back.
	alone := 0
	for _, o := range ops {
		if o.Node == name && o.Outcome == testkit.OK && o.Inv > marks[0] && o.Ret < marks[1] {
			alone++
		}
	}
	t.Logf("%s acknowledged %d writes while cut off, before its first stop", name, alone)
	if alone == 0 {
		t.Errorf("%s acknowledged nothing while cut off: the test proved nothing about its disk", name)
	}
}

// Apply on a node that has been closed must fail with ErrClosed, not wait:
// its committer is gone, so a request queued after Close is never answered.
// (submit selects between queueing the request and the quit channel; once
// both are ready Go picks either, so about half the calls used to block
// until their context expired, forever under context.Background.)
func TestRestartApplyAfterCloseFails(t *testing.T) {
	n, err := Open(testConfig(t, "n0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	hung := 0
	for i := 0; i < 50; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := n.Apply(ctx, "c", crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1})
		cancel()
		switch {
		case errors.Is(err, ErrClosed):
		case errors.Is(err, context.DeadlineExceeded):
			hung++
		default:
			t.Fatalf("Apply after Close: %v", err)
		}
	}
	if hung > 0 {
		t.Fatalf("%d of 50 Applies after Close waited for their deadline instead of returning ErrClosed", hung)
	}
}

// presetReplicaID gives the data directory dir the replica id id before the
// node first opens it (Open creates an id only for a directory without
// one), so that two clusters can mint the same dots.
func presetReplicaID(t *testing.T, dir string, id crdt.ReplicaID) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set(keyIdentity, id[:]) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// stepClock is a physical clock the test moves by hand, one millisecond per
// operation. Only the committer timestamping a new operation (Node.exec)
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
	stamp atomic.Int64 // reads by Node.exec, one per operation
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
		if strings.HasSuffix(f.Function, ".(*Node).exec") {
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
			t.Fatalf("Node.exec read the clock %d times for %d operations: calledFromExec no longer finds it", got, want)
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
