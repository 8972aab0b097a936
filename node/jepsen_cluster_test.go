// testCluster: the in-process cluster of the Jepsen-style, restart and
// differential tests. Nodes over one MemNetwork, each behind a Faulty,
// with the nemesis's moves (partition, isolate, heal, restart) and the
// wait for convergence.

package node

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/testkit"
	"github.com/lattice-sync/lattice/transport"
)

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
