package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/testkit"
	"github.com/lattice-sync/lattice/transport"
)

// The deterministic simulation (docs/architecture.md, "Simulation"): three
// nodes on a transport.SimNet, a simClock and seeded Config.Rand, driven by
// one goroutine that takes one event at a time (a client write, a message
// delivered, lost or duplicated, a timer, a cut, a heal, a restart, a
// clock skew) and waits, after each, until every node has finished what
// it started. Every choice comes from the seed, so a seed replays.

const (
	// simSeedVar replays one seed; simTraceVar prints its trace.
	simSeedVar  = "LATTICE_SIM_SEED"
	simTraceVar = "LATTICE_SIM_TRACE"
	// simSeedsVar sets how many seeds TestSimulation runs.
	simSeedsVar = "LATTICE_SIM_SEEDS"

	simNodes    = 3
	simOps      = 40
	simMaxSkew  = 400 // ms either way
	simInterval = time.Second
	simWorkers  = 4 // seeds run at once
)

func TestSimulation(t *testing.T) {
	if s := os.Getenv(simSeedVar); s != "" {
		seed, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", simSeedVar, s, err)
		}
		trace := runSim(t, seed)
		if os.Getenv(simTraceVar) != "" {
			t.Logf("trace of seed %d:\n%s", seed, strings.Join(trace, "\n"))
		}
		return
	}
	// The default suits the package's -race run; CI runs 500 seeds
	// without the race detector as a step of its own (.ci/test).
	seeds := 60
	if testing.Short() {
		seeds = 10
	}
	if s := os.Getenv(simSeedsVar); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			t.Fatalf("%s=%q: want a positive number", simSeedsVar, s)
		}
		seeds = v
	}
	base := time.Now().UnixNano()
	start := time.Now()
	// Seeds run side by side: each is its own world (clock, network,
	// nodes), so running beside another changes nothing in it, and a run
	// spends much of its time waiting for Badger.
	next, lines, transfers, failed := atomic.Int64{}, atomic.Int64{}, atomic.Int64{}, atomic.Bool{}
	var wg sync.WaitGroup
	for range simWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := next.Add(1) - 1
				if i >= int64(seeds) {
					return
				}
				seed := base + i
				ok := t.Run(strconv.FormatInt(seed, 10), func(t *testing.T) {
					tr := runSim(t, seed)
					lines.Add(int64(len(tr)))
					if transferred(tr) {
						transfers.Add(1)
					}
				})
				if !ok {
					failed.Store(true)
					t.Errorf("seed %d failed; replay: %s=%d %s=1 go test ./node -run 'TestSimulation$'", seed, simSeedVar, seed, simTraceVar)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d seeds (%d to %d) in %v, %d trace lines; %d seeds finished a state transfer",
		seeds, base, base+int64(seeds)-1, time.Since(start).Round(time.Millisecond), lines.Load(), transfers.Load())
}

// TestSimulationReplaysExactly runs one seed twice and compares the two
// traces (every delivery, drop, event, timer, operation and outcome, and
// the final state) line by line.
func TestSimulationReplaysExactly(t *testing.T) {
	seed := testkit.Seed(t)
	a := runSim(t, seed)
	b := runSim(t, seed)
	if len(a) < 100 {
		t.Fatalf("trace of %d lines: the simulation did too little to show anything", len(a))
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			t.Fatalf("seed %d: the runs part at line %d of %d:\n  first:  %s\n  second: %s", seed, i, len(a), a[i], b[i])
		}
	}
	if len(a) != len(b) {
		t.Fatalf("seed %d: traces of %d and %d lines", seed, len(a), len(b))
	}
	t.Logf("seed %d: two runs, %d identical trace lines", seed, len(a))
}

// sim is one simulated run.
type sim struct {
	t     testing.TB
	seed  int64
	rng   *rand.Rand // the simulation's own choices
	clock *simClock
	net   *transport.SimNet
	root  string

	names  []string
	cfgs   []Config
	nodes  []*Node // nil while down
	trans  []*transport.SimTransport
	skew   []atomic.Int64 // ms added to the clock, per node
	incarn []uint64

	clients []*simClient
	h       *history
	lwwSeq  atomic.Int64
	trace   []string
}

// runSim runs seed and returns its trace; it fails t on a broken
// invariant, a node that does not settle, or no convergence.
func runSim(t testing.TB, seed int64) []string {
	s := &sim{
		t:     t,
		seed:  seed,
		rng:   testkit.Rand(seed, 0),
		clock: newSimClock(time.Unix(1_800_000_000, 0)),
		root:  t.TempDir(),
		skew:  make([]atomic.Int64, simNodes),
		h:     &history{},
	}
	s.h.Now = func() int64 { return s.clock.Now().UnixMilli() }
	s.net = transport.NewSimNet(testkit.Rand(seed, 1))
	s.net.AfterDeliver = s.settle
	s.net.Trace = s.log
	defer s.closeAll()
	retention := uint64(3 + s.rng.IntN(20)) // small: peers that were away need state transfer
	s.logf("seed %d, log retention %d", seed, retention)
	for i := range simNodes {
		name := fmt.Sprintf("n%d", i)
		s.names = append(s.names, name)
		cfg := DefaultConfig(name, filepath.Join(s.root, name))
		cfg.SyncWrites = false
		cfg.MemTableSize = 8 << 20 // Open zeroes it: 64 MiB would dominate the run
		cfg.AntiEntropyInterval = simInterval
		cfg.LogRetention = retention
		cfg.UnseenDotsWait = 0 // refuse at once: a wait would block the simulation
		cfg.Clock = s.clock
		cfg.Now = func() int64 { return s.clock.Now().UnixMilli() + s.skew[i].Load() }
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		s.cfgs = append(s.cfgs, cfg)
		s.nodes = append(s.nodes, nil)
		s.trans = append(s.trans, nil)
		s.incarn = append(s.incarn, 0)
	}
	for i := range simNodes {
		s.start(i)
	}
	for i := range 2 {
		s.clients = append(s.clients, newSimClient(testkit.Rand(seed, 2+uint64(i))))
	}
	for op := 0; op < simOps; op++ {
		if s.rng.IntN(100) < 15 {
			s.nemesis()
		}
		s.operate(op)
		for range s.rng.IntN(16) {
			s.step()
		}
	}
	s.healAndConverge()
	s.check()
	return s.trace
}

func (s *sim) log(line string) { s.trace = append(s.trace, line) }

func (s *sim) logf(format string, args ...any) {
	s.log(fmt.Sprintf("t=%d ", s.clock.Now().UnixMilli()%1_000_000) + fmt.Sprintf(format, args...))
}

func (s *sim) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("seed %d: %s (replay: %s=%d %s=1 go test ./node -run 'TestSimulation$')",
		s.seed, fmt.Sprintf(format, args...), simSeedVar, s.seed, simTraceVar)
}

// settle waits until every node has finished the work under way and
// handled every tick delivered: only then is the next event taken, so
// that nothing races it. It waits on the machine's time, generously: a
// node that never settles is a bug (a goroutine the count misses).
func (s *sim) settle() {
	deadline := time.Now().Add(time.Minute)
	for i := 0; ; i++ {
		if s.idle() {
			return
		}
		if i < 100 {
			runtime.Gosched()
		} else {
			if time.Now().After(deadline) {
				s.fatalf("the nodes did not settle in a minute")
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
}

func (s *sim) idle() bool {
	if s.clock.Busy() {
		return false
	}
	for _, n := range s.nodes {
		if n != nil && !n.idle() {
			return false
		}
	}
	return true
}

// start opens node i on its directory and attaches it.
func (s *sim) start(i int) {
	cfg := s.cfgs[i]
	cfg.Rand = testkit.Rand(s.seed, 100+uint64(i)*1000+s.incarn[i])
	s.incarn[i]++
	n, err := Open(cfg)
	if err != nil {
		s.fatalf("opening %s: %v", s.names[i], err)
	}
	s.nodes[i] = n
	s.settle()
	tr := s.net.Add(s.names[i])
	s.trans[i] = tr
	if err := n.Attach(tr); err != nil {
		s.fatalf("attaching %s: %v", s.names[i], err)
	}
	s.settle()
	s.logf("start %s: replica %s, vv %s", s.names[i], n.ID(), vvLine(n.VersionVector()))
}

// stop closes node i's transport and then the node.
func (s *sim) stop(i int) {
	n := s.nodes[i]
	if n == nil {
		return
	}
	if err := s.trans[i].Close(); err != nil {
		s.fatalf("closing %s's transport: %v", s.names[i], err)
	}
	before := n.VersionVector()
	if err := n.Close(); err != nil {
		s.fatalf("closing %s: %v", s.names[i], err)
	}
	s.nodes[i] = nil
	s.logf("stop %s at vv %s", s.names[i], vvLine(before))
}

func (s *sim) closeAll() {
	for i := range s.nodes {
		if s.nodes[i] != nil {
			_ = s.trans[i].Close()
			_ = s.nodes[i].Close()
			s.nodes[i] = nil
		}
	}
	_ = os.RemoveAll(s.root) // 500 seeds of Badger directories add up
}

// step delivers (or loses, or duplicates) one message, or lets time run
// to the next timer.
func (s *sim) step() {
	if s.rng.IntN(100) < 75 && s.net.Step() {
		return
	}
	limit := s.clock.Now().Add(time.Duration(1+s.rng.IntN(400)) * time.Millisecond)
	if s.clock.Fire(limit) {
		s.log(fmt.Sprintf("t=%d tick", s.clock.Now().UnixMilli()%1_000_000))
		s.settle()
	}
}

// nemesis does one thing to the cluster: a cut, a heal, message loss and
// duplication, a clock skew, or a restart.
func (s *sim) nemesis() {
	switch s.rng.IntN(6) {
	case 0:
		lone := s.rng.IntN(simNodes)
		var rest []string
		for i, name := range s.names {
			if i != lone {
				rest = append(rest, name)
			}
		}
		s.logf("cut %s off", s.names[lone])
		s.net.Partition([]string{s.names[lone]}, rest)
	case 1:
		s.logf("heal")
		s.net.Heal()
	case 2:
		loss, dup := float64(s.rng.IntN(30))/100, float64(s.rng.IntN(20))/100
		s.logf("faults: loss %.2f, dup %.2f", loss, dup)
		s.net.SetFaults(loss, dup)
	case 3:
		i := s.rng.IntN(simNodes)
		ms := int64(s.rng.IntN(2*simMaxSkew+1) - simMaxSkew)
		s.logf("skew %s by %dms", s.names[i], ms)
		s.skew[i].Store(ms)
	default:
		i := s.rng.IntN(simNodes)
		if s.nodes[i] == nil {
			s.start(i)
			return
		}
		s.stop(i)
		if s.rng.IntN(2) == 0 {
			s.start(i) // at once; otherwise it stays down a while
		}
	}
}

// operate makes one client write, on a node the simulation picks: an
// operation the node performs (Apply) or a delta a client made.
func (s *sim) operate(op int) {
	i := s.rng.IntN(simNodes)
	n := s.nodes[i]
	key, cop := randomOp(s.rng, &s.lwwSeq)
	process := 0
	var do func() error
	if s.rng.IntN(100) < 35 {
		c := s.rng.IntN(len(s.clients))
		process = 1 + c
		wall := s.clock.Now().UnixMilli()
		do = func() error { return s.clients[c].write(context.Background(), n, key, cop, wall) }
	} else {
		do = func() error {
			_, err := n.Apply(context.Background(), key, cop)
			return err
		}
	}
	if n == nil {
		do = func() error { return ErrClosed }
	}
	_ = s.h.Do(histOp(process, s.names[i], key, cop), func() (testkit.Outcome, error) {
		err := do()
		s.settle()
		return simClassify(err), err
	})
	last := s.h.Ops()[s.h.Len()-1]
	s.logf("op %d: %s", op, last)
	if last.Outcome == testkit.Info {
		s.fatalf("op %d ended indeterminate: %s", op, last)
	}
}

// healAndConverge ends every fault, brings every node up, and runs the
// network and the timers until all nodes hold the same state and vector.
func (s *sim) healAndConverge() {
	s.logf("heal all")
	s.net.Heal()
	s.net.SetFaults(0, 0)
	for i := range s.nodes {
		if s.nodes[i] == nil {
			s.start(i)
		}
	}
	for round := 0; round < 120; round++ {
		for s.net.Step() {
		}
		if ok, _ := nodesConverged(s.nodes, true); ok && s.net.InFlight() == 0 {
			s.logf("converged after %d rounds", round)
			return
		}
		s.clock.Run(simInterval, s.settle)
	}
	_, why := nodesConverged(s.nodes, true)
	s.fatalf("no convergence after 120 anti-entropy intervals: %s", why)
}

// check runs the Jepsen-style checkers against every node's final state.
func (s *sim) check() {
	ops := s.h.Ops()
	ok, fail, _ := testkit.Tally(ops)
	s.logf("history: %d ops, %d ok, %d fail", len(ops), ok, fail)
	for _, n := range s.nodes {
		vs, err := values(n)
		if err != nil {
			s.fatalf("reading %s: %v", n.Name(), err)
		}
		d, _, _ := n.Digest()
		s.logf("%s digest %s vv %s", n.Name(), d, vvLine(n.VersionVector()))
		for _, v := range checkStateSkew(ops, vs, 2*simMaxSkew) {
			if !v.Valid() {
				s.fatalf("%s: %s\nvalues %s", n.Name(), v, valuesString(n))
			}
		}
	}
	st := s.net.Stats()
	s.logf("net: sent %d, delivered %d, lost %d, duplicated %d, cut %d", st.Sent, st.Delivered, st.Lost, st.Duplicated, st.Cut)
}

// vvLine is a vector with its replica ids shortened, in replica order.
func vvLine(vv crdt.VersionVector) string {
	var b strings.Builder
	for _, r := range vv.Replicas() {
		fmt.Fprintf(&b, "%s:%d ", r.String()[:8], vv[r])
	}
	return strings.TrimSpace(b.String())
}

// transferred reports whether a trace delivered a state transfer's
// finish (wire.go's msgFinish): a peer needed entries no log kept.
func transferred(trace []string) bool {
	for _, l := range trace {
		if strings.HasPrefix(l, "deliver ") && strings.Contains(l, " F ") {
			return true
		}
	}
	return false
}
