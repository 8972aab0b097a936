package main

// Scenario 5, gossip bytes: the micro-benchmarks of Enes et al. (ICDE 2019,
// "Efficient Synchronization of State-based CRDTs"): 15 nodes in a partial
// mesh, each making one update per tick (100 in all) while it syncs with
// its neighbours every tick; total bytes the nodes send until every node
// holds the same state, in delta mode against the node's own full-state
// mode (Config.FullState). Bytes are counted at the transport, by a
// wrapper that also imposes the topology.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node"
	"github.com/lattice-sync/lattice/transport"
)

// meshTransport restricts a transport to a node's neighbours, in both
// directions, and counts the payload bytes it sends.
type meshTransport struct {
	inner transport.Transport
	nbrs  map[string]bool
	sent  *atomic.Int64
}

func (m *meshTransport) LocalName() string { return m.inner.LocalName() }

func (m *meshTransport) Start(r transport.Receiver) error {
	return m.inner.Start(meshReceiver{r: r, nbrs: m.nbrs})
}

func (m *meshTransport) Send(to string, payload []byte) error {
	if !m.nbrs[to] {
		return fmt.Errorf("%w: %q is not a neighbour", transport.ErrUnknownPeer, to)
	}
	err := m.inner.Send(to, payload)
	if err == nil {
		m.sent.Add(int64(len(payload)))
	}
	return err
}

func (m *meshTransport) Peers() []transport.Peer {
	var ps []transport.Peer
	for _, p := range m.inner.Peers() {
		if m.nbrs[p.Name] {
			ps = append(ps, p)
		}
	}
	return ps
}

func (m *meshTransport) Close() error { return m.inner.Close() }

type meshReceiver struct {
	r    transport.Receiver
	nbrs map[string]bool
}

func (m meshReceiver) Receive(from string, payload []byte) {
	if m.nbrs[from] {
		m.r.Receive(from, payload)
	}
}

func (m meshReceiver) PeerEvent(ev transport.Event) {
	if m.nbrs[ev.Peer] {
		m.r.PeerEvent(ev)
	}
}

// meshNeighbours is a circulant graph: node i links to i±o for each offset,
// o in 1, 4, 2, 3, … as the degree needs (15 nodes, degree 4: i±1, i±4,
// diameter 3).
func meshNeighbours(n, degree int) [][]int {
	var offs []int
	for _, o := range []int{1, 4, 2, 3, 5, 6, 7} {
		if len(offs) < degree/2 && o < (n+1)/2 {
			offs = append(offs, o)
		}
	}
	out := make([][]int, n)
	for i := range out {
		seen := map[int]bool{}
		for _, o := range offs {
			for _, j := range []int{(i + o) % n, (i - o + n) % n} {
				if j != i && !seen[j] {
					seen[j] = true
					out[i] = append(out[i], j)
				}
			}
		}
	}
	return out
}

// gossipBench is one micro-benchmark: update makes node i's e-th update.
type gossipBench struct {
	name   string
	target string
	slow   int // the tick is this many GossipTicks (0: one)
	update func(g *gossipCluster, i, e int) error
}

type gossipCluster struct {
	nodes   []*node.Node
	clients []crdt.ReplicaID // per node, the writer of GMap updates
	objs    []*crdt.Object   // and its replica
	clocks  []clientClock
	owned   [][]string // GMap keys per node
	sent    atomic.Int64
}

func gmapBench(pct int) gossipBench {
	// In full-state mode every node joins every neighbour's whole map each
	// tick, leaf by leaf; on a short tick the baseline falls behind its own
	// traffic (its queues then hold gigabytes), so the set and map
	// benchmarks tick slower.
	return gossipBench{name: fmt.Sprintf("GMap %d%%", pct), slow: 4, update: func(g *gossipCluster, i, e int) error {
		own := g.owned[i]
		k := max(1, (len(own)*pct+50)/100)
		acc := crdt.NewObject()
		for x := 0; x < k; x++ {
			field := own[(e*k+x)%len(own)]
			d, err := g.objs[i].Apply(g.clients[i], g.clocks[i].now(), crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{field}, Value: crdt.MustInt(int64(e))})
			if err != nil {
				return err
			}
			acc.Join(d)
		}
		return g.nodes[i].JoinClient(context.Background(), g.clients[i], "gmap", acc)
	}}
}

var gossipBenches = []gossipBench{
	{name: "GSet", target: "<= 0.03", slow: 8, update: func(g *gossipCluster, i, e int) error {
		_, err := g.nodes[i].Apply(context.Background(), "gset", crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String(fmt.Sprintf("n%02d-e%03d", i, e))})
		return err
	}},
	{name: "GCounter", update: func(g *gossipCluster, i, e int) error {
		_, err := g.nodes[i].Apply(context.Background(), "gcounter", crdt.Op{Type: crdt.TypeGCounter, Kind: crdt.OpInc, By: 1})
		return err
	}},
}

func benchGossip(env *benchEnv) ([]row, error) {
	benches := append(append([]gossipBench{}, gossipBenches...), gmapBench(10), gmapBench(100))
	benches[2].target = "<= 0.10"
	s := env.sizes
	var rows []row
	for _, b := range benches {
		run := func(full bool) func() (float64, error) {
			return func() (float64, error) { return gossipRun(env, b, full) }
		}
		l, f, err := repeat(env, run(false), run(true))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.name, err)
		}
		rows = append(rows, row{Metric: b.name + ": bytes sent until converged", Lattice: l, Base: f, Unit: "B",
			BaseName: "full-state mode", Target: b.target,
			Note: fmt.Sprintf("%d in-process nodes (MemNetwork) in a partial mesh of degree %d (circulant, i±1 and i±4), anti-entropy every %v (the tick), each node making one update per tick, %d in all; payload bytes of every Send counted from the first update until all digests are equal. %s", s.GossipNodes, s.GossipDegree, s.GossipTick*time.Duration(max(b.slow, 1)), s.GossipUpdates, gossipWhat(b.name, s)),
		})
	}
	return rows, nil
}

func gossipWhat(name string, s benchSizes) string {
	switch name {
	case "GSet":
		return "An update adds a new element to one add-wins set (no removes: a G-Set)."
	case "GCounter":
		return "An update increments one G-counter."
	}
	return fmt.Sprintf("One map of %d LWW fields, split evenly between the nodes; an update sets that share of its own fields (rounded, at least one) in one delta, through Node.JoinClient.", s.GossipMapKeys)
}

// gossipRun runs one micro-benchmark on a fresh cluster and returns the
// bytes sent.
func gossipRun(env *benchEnv, b gossipBench, full bool) (float64, error) {
	s := env.sizes
	if b.slow > 1 {
		s.GossipTick *= time.Duration(b.slow)
	}
	mem := transport.NewMemNetwork()
	g := &gossipCluster{}
	nbrs := meshNeighbours(s.GossipNodes, s.GossipDegree)
	names := make([]string, s.GossipNodes)
	for i := range names {
		names[i] = fmt.Sprintf("g%02d", i)
	}
	var mts []*meshTransport
	defer func() { // in parallel: closing fifteen Badgers one by one takes seconds
		var wg sync.WaitGroup
		for _, n := range g.nodes {
			wg.Add(1)
			go func() { defer wg.Done(); n.Close() }()
		}
		wg.Wait()
		for _, mt := range mts {
			mt.Close()
		}
	}()
	var opening sync.WaitGroup
	g.nodes = make([]*node.Node, s.GossipNodes)
	errs := make([]error, s.GossipNodes)
	for i := range names {
		opening.Add(1)
		go func() {
			defer opening.Done()
			cfg := env.nodeConfig(names[i])
			cfg.SyncWrites = false // bytes do not depend on it
			cfg.AntiEntropyInterval = s.GossipTick
			cfg.FullState = full
			if full {
				// The baseline of Enes et al.: every node sends its whole
				// state to every neighbour each tick.
				cfg.SyncFanout = 0
			}
			g.nodes[i], errs[i] = node.Open(cfg)
		}()
	}
	opening.Wait()
	for i, err := range errs {
		if err != nil {
			for _, n := range g.nodes {
				if n != nil {
					n.Close()
				}
			}
			g.nodes = nil
			return 0, fmt.Errorf("opening %s: %w", names[i], err)
		}
	}
	for i, n := range g.nodes {
		mt := &meshTransport{inner: mem.Add(names[i]), nbrs: map[string]bool{}, sent: &g.sent}
		mts = append(mts, mt)
		for _, j := range nbrs[i] {
			mt.nbrs[names[j]] = true
		}
		if err := n.Attach(mt); err != nil {
			return 0, err
		}
	}
	g.clients = make([]crdt.ReplicaID, s.GossipNodes)
	g.objs = make([]*crdt.Object, s.GossipNodes)
	g.clocks = make([]clientClock, s.GossipNodes)
	g.owned = make([][]string, s.GossipNodes)
	for i := range g.clients {
		g.clients[i] = uuid.New()
		g.objs[i] = crdt.NewObject()
	}
	for k := 0; k < s.GossipMapKeys; k++ {
		g.owned[k%s.GossipNodes] = append(g.owned[k%s.GossipNodes], fmt.Sprintf("k%04d", k))
	}
	time.Sleep(3 * s.GossipTick) // joins and the first (empty) rounds
	g.sent.Store(0)
	kinds0 := bytesByKind(g.nodes)
	next := time.Now()
	for e := 0; e < s.GossipUpdates; e++ {
		var wg sync.WaitGroup
		uerrs := make([]error, len(g.nodes))
		for i := range g.nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				uerrs[i] = b.update(g, i, e)
			}()
		}
		wg.Wait()
		for _, err := range uerrs {
			if err != nil {
				return 0, err
			}
		}
		next = next.Add(s.GossipTick)
		time.Sleep(time.Until(next))
	}
	deadline := time.Now().Add(200*s.GossipTick + 10*time.Second)
	for {
		same, err := gossipConverged(g.nodes)
		if err != nil {
			return 0, err
		}
		if same {
			mode := "delta"
			if full {
				mode = "full-state"
			}
			var parts []string
			for k, v := range bytesByKind(g.nodes) {
				if d := v - kinds0[k]; d > 0 {
					parts = append(parts, fmt.Sprintf("%s %s", k, groupThousands(int64(d))))
				}
			}
			slices.Sort(parts)
			fmt.Fprintf(env.out, "     %s, %s: %s B sent (%s)\n", b.name, mode, groupThousands(g.sent.Load()), strings.Join(parts, ", "))
			return float64(g.sent.Load()), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s (full state %v): no convergence", b.name, full)
		}
		time.Sleep(s.GossipTick / 5)
	}
}

// bytesByKind sums lattice_peer_bytes_sent_total by message kind over
// the nodes.
func bytesByKind(nodes []*node.Node) map[string]float64 {
	out := map[string]float64{}
	for _, n := range nodes {
		mfs, err := n.Metrics().Registry().Gather()
		if err != nil {
			continue
		}
		for _, mf := range mfs {
			if mf.GetName() != "lattice_peer_bytes_sent_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "kind" {
						out[l.GetValue()] += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	return out
}

// gossipConverged: every node holds the same state. Each holds its own
// updates and states only grow, so equal states hold every update.
func gossipConverged(nodes []*node.Node) (bool, error) {
	first := ""
	for i, n := range nodes {
		d, _, err := n.Digest()
		if err != nil {
			return false, err
		}
		if i == 0 {
			first = d
		} else if d != first {
			return false, nil
		}
	}
	return true, nil
}
