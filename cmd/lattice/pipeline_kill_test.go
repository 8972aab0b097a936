package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/internal/testkit"
)

// metricValue reads one unlabelled counter from a node's /metrics.
func metricValue(c *http.Client, n *testkit.Proc, name string) (float64, error) {
	resp, err := c.Get(n.URL("/metrics"))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/metrics has no %s", name)
}

// TestKillWithPipelinedCommits SIGKILLs a node while many writers keep its
// committer's pipeline full (a batch prepared while the one before it
// syncs, lattice_commits_overlapped_total rising), at a random moment once
// the pipeline has overlapped commits, and checks after every restart that
// every write acknowledged before the kill is there: counters and sets,
// several writes per key in each batch (the per-batch meta cache), from
// REST writers (answered from the node's in-memory states) and from Go
// clients on the compact binary WebSocket form (multi-item frames).
func TestKillWithPipelinedCommits(t *testing.T) {
	testkit.NeedLoopback(t, "127.0.0.1")
	seed := testkit.Seed(t)
	rng := testkit.Rand(seed, 0)
	c := testkit.NewClient()
	n := testkit.NewProc(t, "pipeline", "127.0.0.1")
	setKeys := []string{"pipe/set/a", "pipe/set/b"}
	ctrKeys := []string{"pipe/ctr/a", "pipe/ctr/b"}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &history{}
	verify := func(round int) {
		t.Helper()
		hist := h.Ops()
		for _, k := range append(append([]string(nil), setKeys...), ctrKeys...) {
			typ := "counter"
			if strings.Contains(k, "/set/") {
				typ = "set"
			}
			v, err := verdictOf(c, n, k, typ, hist)
			if err != nil {
				t.Fatalf("round %d: reading %s: %v", round, k, err)
			}
			if !v.Valid() {
				t.Fatalf("round %d: acknowledged writes lost across a kill (replay with LATTICE_SEED=%d):\n  %v", round, seed, v)
			}
		}
	}
	const rounds = 5
	n.StartFresh()
	for round := 1; round <= rounds; round++ {
		before := h.Len()
		ws := startWriters(ctx, seed+int64(round), 24, h, c, func(r *rand.Rand, writer, j int) (*testkit.Proc, write) {
			if r.IntN(2) == 0 {
				return n, write{kind: testkit.Add, key: setKeys[r.IntN(len(setKeys))], value: fmt.Sprintf("r%d-w%d-%d", round, writer, j)}
			}
			return n, write{kind: testkit.Inc, key: ctrKeys[r.IntN(len(ctrKeys))], by: 1 + r.Int64N(5)}
		})
		bw, err := startBinaryWriters(ctx, seed+int64(round), 4, 100, h, n, ctrKeys)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		// Kill only once this run of the node has overlapped commits, so
		// the kill finds the pipeline in use.
		deadline := time.Now().Add(60 * time.Second)
		for {
			v, err := metricValue(c, n, "lattice_commits_overlapped_total")
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if v > 0 && binaryAcked(h.Ops()[before:]) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: within 60 s of writes by 24 REST and 4 binary WebSocket writers, overlapped commits %v, binary increments acknowledged %d: both must be above 0 before the kill", round, v, binaryAcked(h.Ops()[before:]))
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		if err := n.Crashed(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		n.Kill()
		ws.halt()
		bw.halt()
		ops := h.Ops()[before:]
		ok, fail, info := testkit.Tally(ops)
		binOK := binaryAcked(ops)
		n.Start()
		verify(round)
		t.Logf("round %d: SIGKILL with the pipeline in use: %d acked (%d of them over binary WebSocket), %d indeterminate, %d failed; none lost after the restart", round, ok, binOK, info, fail)
	}
	for _, w := range refusals(h.Ops()) {
		t.Errorf("a valid write was refused: %s", w)
	}
	testkit.CheckLogs(t, n)
}
