//go:build linux

package main

// End-to-end tests with real processes: `lattice serve` nodes on loopback
// addresses, killed with SIGKILL while clients write, restarted on the same
// data directory. They check the durability promise of DESIGN.md (kill -9
// loses no acknowledged write) and convergence after a restart, with
// Jepsen-style checkers over the history of writes as the clients saw them.
// Every random choice comes from a logged seed; LATTICE_SEED replays it
// (the schedule of the processes themselves cannot be replayed).
//
// A SIGKILL leaves the kernel's page cache intact, so these tests show that
// a node answers only after its commit reached the kernel, not that it was
// synced: they pass with --sync=false too. Only losing the machine (or a
// fault-injecting file system) tells the two apart.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// outcome is how a write ended as its client saw it, in Jepsen's terms.
type outcome int

const (
	outcomeOK   outcome = iota // HTTP 200: acknowledged, so durable
	outcomeFail                // certainly had no effect: never sent, or refused
	outcomeInfo                // indeterminate: may or may not have taken effect
)

// write is one operation of a history.
type write struct {
	writer  int
	node    string
	key     string
	op      string // "add" (set) or "inc" (counter)
	value   string // add only
	by      int64  // inc only
	outcome outcome
	status  int    // HTTP status, 0 if none
	err     string // transport error or refusal, if any
}

// history records the writes of concurrent writers.
type history struct {
	mu     sync.Mutex
	writes []write
}

func (h *history) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.writes)
}

func (h *history) snapshot() []write {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.writes)
}

// do performs w against node n and records how it ended.
func (h *history) do(ctx context.Context, c *http.Client, n *proc, w write) {
	body := map[string]any{"type": "set", "op": "add", "value": w.value}
	if w.op == "inc" {
		body = map[string]any{"type": "counter", "op": "inc", "by": w.by}
	}
	w.node = n.name
	status, resp, err := post(ctx, c, n.url("/v1/objects/"+w.key), body)
	w.status = status
	switch {
	case err == nil && status == http.StatusOK:
		w.outcome = outcomeOK
	case err != nil && neverSent(err):
		w.outcome, w.err = outcomeFail, err.Error()
	case err != nil:
		w.outcome, w.err = outcomeInfo, err.Error()
	case status >= 400 && status < 500:
		// Refused, with nothing changed (docs/api.md); but the tests
		// only send valid writes, so the checker reports it.
		w.outcome, w.err = outcomeFail, strings.TrimSpace(string(resp))
	default:
		w.outcome, w.err = outcomeInfo, fmt.Sprintf("HTTP %d: %s", status, strings.TrimSpace(string(resp)))
	}
	h.mu.Lock()
	h.writes = append(h.writes, w)
	h.mu.Unlock()
}

// writers runs n writer goroutines until stop; writer i draws from its own
// generator, seeded from seed and i. next says where its j-th write goes.
type writers struct {
	stop atomic.Bool
	wg   sync.WaitGroup
}

func startWriters(ctx context.Context, seed int64, n int, h *history, c *http.Client,
	next func(r *rand.Rand, writer, j int) (*proc, write)) *writers {
	ws := &writers{}
	for i := range n {
		r := rand.New(rand.NewPCG(uint64(seed), uint64(i+1)))
		ws.wg.Go(func() {
			for j := 0; !ws.stop.Load() && ctx.Err() == nil; j++ {
				node, w := next(r, i, j)
				w.writer = i
				h.do(ctx, c, node, w)
			}
		})
	}
	return ws
}

func (ws *writers) halt() {
	ws.stop.Store(true)
	ws.wg.Wait()
}

// setVerdict checks an add-only set like Jepsen's set checker: every
// acknowledged add must be present (else lost), and everything present
// must have been attempted (else unexpected). Indeterminate adds that are
// present are recovered.
type setVerdict struct {
	node, key                       string
	ok, lost, unexpected, recovered []string
	present                         int // elements the node holds
	acked, indeterminate, failed    int
}

func (v setVerdict) valid() bool { return len(v.lost) == 0 && len(v.unexpected) == 0 }

func (v setVerdict) String() string {
	s := fmt.Sprintf("%-4s set     %-8s ok %-5d lost %-3d unexpected %-3d recovered %-3d (present %d; %d acked, %d indeterminate, %d failed) :valid? %v",
		v.node, v.key, len(v.ok), len(v.lost), len(v.unexpected), len(v.recovered), v.present, v.acked, v.indeterminate, v.failed, v.valid())
	if len(v.lost) > 0 {
		s += "\n       lost " + firstFew(v.lost)
	}
	if len(v.unexpected) > 0 {
		s += "\n       unexpected " + firstFew(v.unexpected)
	}
	return s
}

// firstFew lists up to 20 elements and counts the rest.
func firstFew(xs []string) string {
	if len(xs) <= 20 {
		return fmt.Sprint(xs)
	}
	return fmt.Sprintf("%v and %d more", xs[:20], len(xs)-20)
}

func checkSet(node, key string, ws []write, actual []string) setVerdict {
	v := setVerdict{node: node, key: key, present: len(actual)}
	out := map[string]outcome{}
	for _, w := range ws {
		if w.key != key || w.op != "add" {
			continue
		}
		out[w.value] = w.outcome
		switch w.outcome {
		case outcomeOK:
			v.acked++
		case outcomeInfo:
			v.indeterminate++
		case outcomeFail:
			v.failed++
		}
	}
	present := map[string]bool{}
	for _, x := range actual {
		present[x] = true
		o, tried := out[x]
		switch {
		case !tried || o == outcomeFail:
			v.unexpected = append(v.unexpected, x)
		case o == outcomeInfo:
			v.recovered = append(v.recovered, x)
		}
	}
	for x, o := range out {
		if o != outcomeOK {
			continue
		}
		if present[x] {
			v.ok = append(v.ok, x)
		} else {
			v.lost = append(v.lost, x)
		}
	}
	sort.Strings(v.lost)
	sort.Strings(v.unexpected)
	return v
}

// counterVerdict checks a counter that only grows: every acknowledged inc
// counts, an indeterminate one may, a failed one must not. So the value
// lies in [lo, hi]: the acknowledged sum up to the attempted sum.
type counterVerdict struct {
	node, key                    string
	lo, hi, actual               int64
	acked, indeterminate, failed int
}

func (v counterVerdict) valid() bool { return v.lo <= v.actual && v.actual <= v.hi }

func (v counterVerdict) String() string {
	return fmt.Sprintf("%-4s counter %-8s expected [%d, %d] actual %d (%d acked, %d indeterminate, %d failed) :valid? %v",
		v.node, v.key, v.lo, v.hi, v.actual, v.acked, v.indeterminate, v.failed, v.valid())
}

func checkCounter(node, key string, ws []write, actual int64) counterVerdict {
	v := counterVerdict{node: node, key: key, actual: actual}
	for _, w := range ws {
		if w.key != key || w.op != "inc" {
			continue
		}
		switch w.outcome {
		case outcomeOK:
			v.acked++
			v.lo += w.by
			v.hi += w.by
		case outcomeInfo:
			v.indeterminate++
			v.hi += w.by
		case outcomeFail:
			v.failed++
		}
	}
	return v
}

// refusals are writes a node refused with a 4xx: the tests send only valid
// writes, so any is a bug.
func refusals(ws []write) []write {
	var out []write
	for _, w := range ws {
		if w.status >= 400 && w.status < 500 {
			out = append(out, w)
		}
	}
	return out
}

// readObject GETs the value of an object of type typ; an object never
// written has the zero value.
func readObject[T any](c *http.Client, n *proc, key, typ string) (T, error) {
	var o struct {
		Type  string `json:"type"`
		Value T      `json:"value"`
	}
	err := getJSON(context.Background(), c, n.url("/v1/objects/"+key), &o)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusNotFound {
		return o.Value, nil
	}
	if err == nil && o.Type != typ {
		err = fmt.Errorf("%s is a %s, not a %s", key, o.Type, typ)
	}
	return o.Value, err
}

func readSet(c *http.Client, n *proc, key string) ([]string, error) {
	return readObject[[]string](c, n, key, "set")
}

func readCounter(c *http.Client, n *proc, key string) (int64, error) {
	return readObject[int64](c, n, key, "counter")
}

// verdict is a checker's finding about one object on one node.
type verdict interface {
	valid() bool
	String() string
}

// verdictOf reads a set or a counter from n and checks it against hist.
func verdictOf(c *http.Client, n *proc, key, typ string, hist []write) (verdict, error) {
	if typ == "set" {
		vals, err := readSet(c, n, key)
		return checkSet(n.name, key, hist, vals), err
	}
	val, err := readCounter(c, n, key)
	return checkCounter(n.name, key, hist, val), err
}

// tally counts a history's outcomes.
func tally(ws []write) (ok, info, fail int) {
	for _, w := range ws {
		switch w.outcome {
		case outcomeOK:
			ok++
		case outcomeInfo:
			info++
		case outcomeFail:
			fail++
		}
	}
	return ok, info, fail
}

// TestKillNodeDuringWrites runs three nodes, writes set adds and counter
// increments to all of them, SIGKILLs one mid-way, restarts it on the same
// data directory and ports, and checks that once the digests agree every
// node holds every acknowledged write and counts no write twice.
func TestKillNodeDuringWrites(t *testing.T) {
	ips := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	needLoopback(t, ips...)
	seed, rng := testSeed(t)
	began := time.Now()
	since := func() time.Duration { return time.Since(began).Round(time.Millisecond) }
	c := newClient()

	n1 := newProc(t, "n1", ips[0])
	n1.startFresh()
	n2 := newProc(t, "n2", ips[1], n1.gossip)
	n3 := newProc(t, "n3", ips[2], n1.gossip)
	n2.startFresh()
	n3.startFresh()
	nodes := []*proc{n1, n2, n3}
	waitMembers(t, c, nodes, 30*time.Second)
	t.Logf("%v: cluster up: %s %s %s", since(), n1.http, n2.http, n3.http)

	setKeys := []string{"kill/set/a", "kill/set/b"}
	ctrKeys := []string{"kill/ctr/a", "kill/ctr/b"}
	ctx, cancel := context.WithCancel(context.Background())
	h := &history{}
	ws := startWriters(ctx, seed, 4, h, c, func(r *rand.Rand, writer, j int) (*proc, write) {
		n := nodes[r.IntN(len(nodes))]
		if r.IntN(2) == 0 {
			return n, write{op: "add", key: setKeys[r.IntN(len(setKeys))], value: fmt.Sprintf("w%d-%d", writer, j)}
		}
		return n, write{op: "inc", key: ctrKeys[r.IntN(len(ctrKeys))], by: 1 + r.Int64N(5)}
	})
	t.Cleanup(func() { cancel(); ws.halt() }) // before the nodes stop, if the test ends early

	const phase = 1500 * time.Millisecond
	time.Sleep(phase)
	victim := nodes[rng.IntN(len(nodes))]
	before := h.len()
	if err := victim.crashed(); err != nil {
		t.Fatal(err)
	}
	victim.kill()
	t.Logf("%v: SIGKILL %s after %d writes", since(), victim.name, before)
	time.Sleep(phase)
	// A restarted node rejoins through the others, as an operator's seed
	// list would have it; the first node had no --join at all.
	victim.join = nil
	for _, n := range nodes {
		if n != victim {
			victim.join = append(victim.join, n.gossip)
		}
	}
	victim.start()
	t.Logf("%v: %s restarted and ready", since(), victim.name)
	time.Sleep(phase)
	ws.halt()
	cancel()
	hist := h.snapshot()
	ok, info, fail := tally(hist)
	t.Logf("%v: writes stopped: %d writes, %d acknowledged, %d indeterminate, %d failed", since(), len(hist), ok, info, fail)
	for _, n := range nodes {
		if err := n.crashed(); err != nil {
			t.Error(err)
		}
	}
	for _, w := range refusals(hist) {
		t.Errorf("a valid write was refused: %+v", w)
	}

	digests, err := waitConverged(c, nodes, 30*time.Second)
	if err != nil {
		t.Errorf("no convergence within 30 s: %v", err)
		for name, d := range digests {
			t.Logf("  %s digest %s objects %d vv %v", name, d.Digest, d.Objects, d.VV)
		}
	} else {
		t.Logf("%v: converged: digest %s on all three nodes", since(), digests[n1.name].Digest)
	}

	var report []string
	valid := err == nil
	for _, n := range nodes {
		for _, k := range slices.Concat(setKeys, ctrKeys) {
			typ := "counter"
			if slices.Contains(setKeys, k) {
				typ = "set"
			}
			v, err := verdictOf(c, n, k, typ, hist)
			if err != nil {
				t.Fatalf("reading %s from %s: %v", k, n.name, err)
			}
			valid = valid && v.valid()
			report = append(report, v.String())
		}
	}
	checkLogs(t, nodes...)
	t.Logf("verdict (seed %d, killed %s, %v):\n  %s\n  :valid? %v", seed, victim.name, since(), strings.Join(report, "\n  "), valid)
	if !valid {
		t.Errorf("invalid history: see the verdict above (replay with LATTICE_SEED=%d)", seed)
	}
	// And the cluster has healed: everyone sees the restarted node again.
	waitMembers(t, c, nodes, 30*time.Second)
	t.Logf("%v: every node sees the other two reachable", since())
}

// TestCrashLoop kills one node with SIGKILL twenty times while clients add
// to a set, at a random moment each time, and checks after every restart
// that every add acknowledged before the kill is still there.
func TestCrashLoop(t *testing.T) {
	needLoopback(t, "127.0.0.1")
	seed, rng := testSeed(t)
	began := time.Now()
	c := newClient()
	n := newProc(t, "crash", "127.0.0.1")
	const (
		rounds = 20
		key    = "crash/set"
	)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &history{}
	verify := func(round int) setVerdict {
		t.Helper()
		vals, err := readSet(c, n, key)
		if err != nil {
			t.Fatalf("round %d: reading %s: %v", round, key, err)
		}
		v := checkSet(n.name, key, h.snapshot(), vals)
		if !v.valid() {
			t.Fatalf("round %d: acknowledged writes lost across a kill (replay with LATTICE_SEED=%d):\n  %v", round, seed, v)
		}
		return v
	}

	n.startFresh()
	verify(0)
	for round := 1; round <= rounds; round++ {
		delay := time.Duration(50+rng.IntN(351)) * time.Millisecond
		before := h.len()
		ws := startWriters(ctx, seed+int64(round), 3, h, c, func(_ *rand.Rand, writer, j int) (*proc, write) {
			return n, write{op: "add", key: key, value: fmt.Sprintf("r%d-w%d-%d", round, writer, j)}
		})
		time.Sleep(delay)
		if err := n.crashed(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		n.kill()
		ws.halt()
		ok, info, fail := tally(h.snapshot()[before:])
		start := time.Now()
		n.start()
		v := verify(round)
		t.Logf("round %2d: SIGKILL after %3v: %3d acked, %d indeterminate, %d failed; restarted in %v: %d present, none lost",
			round, delay, ok, info, fail, time.Since(start).Round(time.Millisecond), v.present)
	}
	checkLogs(t, n)
	hist := h.snapshot()
	for _, w := range refusals(hist) {
		t.Errorf("a valid write was refused: %+v", w)
	}
	vals, err := readSet(c, n, key)
	if err != nil {
		t.Fatal(err)
	}
	v := checkSet(n.name, key, hist, vals)
	t.Logf("verdict (seed %d, %d kills, %v):\n  %v", seed, rounds, time.Since(began).Round(time.Millisecond), v)
	if !v.valid() {
		t.Errorf("invalid history (replay with LATTICE_SEED=%d)", seed)
	}
}

// TestServeFlagsFromEnv configures `lattice serve` by LATTICE_<NAME>
// variables alone, checks that a command-line flag wins over its variable,
// and that a bad variable is named in the error.
func TestServeFlagsFromEnv(t *testing.T) {
	needLoopback(t, "127.0.0.1")
	c := newClient()
	p := newProc(t, "from-env", "127.0.0.1")
	p.asEnv = true
	p.extra = []string{"--admin", "true"}
	p.startFresh()

	var ci clusterInfo
	if err := getJSON(context.Background(), c, p.url("/v1/cluster"), &ci); err != nil {
		t.Fatal(err)
	}
	if ci.Name != "from-env" || ci.HTTP != "http://"+p.http {
		t.Errorf("/v1/cluster: name %q http %q, want from-env and http://%s", ci.Name, ci.HTTP, p.http)
	}
	var faults json.RawMessage
	if err := getJSON(context.Background(), c, p.url("/v1/admin/faults"), &faults); err != nil {
		t.Errorf("LATTICE_ADMIN=true did not enable the admin routes: %v", err)
	}
	sawDir := false
	p.scanLines(func(l string) { sawDir = sawDir || strings.Contains(l, "dir="+p.data) })
	if !sawDir {
		t.Errorf("the node did not open LATTICE_DATA=%s", p.data)
	}

	// A flag on the command line wins over its variable.
	p.stop()
	p.cmdline = []string{"--id", "from-flag"}
	p.start()
	if err := getJSON(context.Background(), c, p.url("/v1/cluster"), &ci); err != nil {
		t.Fatal(err)
	}
	if ci.Name != "from-flag" {
		t.Errorf("with LATTICE_ID=from-env and --id from-flag the node is named %q", ci.Name)
	}

	// A variable that does not parse stops the node with its name.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, latticeBinary(t), "serve")
	cmd.Env = append(childEnv(), "LATTICE_AE_INTERVAL=soon", "LATTICE_DATA="+t.TempDir(),
		"LATTICE_HTTP="+freeAddr(t, "127.0.0.1"), "LATTICE_GOSSIP="+freeAddr(t, "127.0.0.1"))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "LATTICE_AE_INTERVAL") {
		t.Errorf("LATTICE_AE_INTERVAL=soon: err %v, output %q; want exit status 1 naming the variable", err, out)
	}
}
