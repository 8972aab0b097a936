//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/internal/testkit"
)

// TestStateTransferAfterLogTruncation drives a peer into state transfer
// with real processes: two nodes run with --log-retention 10; one stops,
// the other takes far more writes than it keeps and truncates its log;
// the stopped one comes back, needs entries that are gone, and must catch
// up from the objects' state. The checkers then judge both nodes against
// the history.
func TestStateTransferAfterLogTruncation(t *testing.T) {
	ips := []string{"127.0.0.1", "127.0.0.2"}
	testkit.NeedLoopback(t, ips...)
	const retention = 10
	c := testkit.NewClient()
	n1 := testkit.NewProc(t, "n1", ips[0])
	n1.Extra = []string{"--log-retention", strconv.Itoa(retention)}
	n1.StartFresh()
	n2 := testkit.NewProc(t, "n2", ips[1], n1.Gossip)
	// The environment variable sets it as well as the flag.
	n2.AsEnv, n2.Extra = true, n1.Extra
	n2.StartFresh()
	nodes := []*testkit.Proc{n1, n2}
	testkit.WaitMembers(t, c, nodes, 30*time.Second)

	ctx := context.Background()
	h := &history{}
	write := func(n *testkit.Proc, i int) {
		if i%2 == 0 {
			h.do(ctx, c, 0, n, write{kind: testkit.Add, key: "st/set", value: fmt.Sprintf("e%d", i)})
		} else {
			h.do(ctx, c, 0, n, write{kind: testkit.Inc, key: "st/ctr", by: int64(1 + i%3)})
		}
	}
	for i := range 6 {
		write(n1, i)
	}
	if _, err := testkit.WaitConverged(c, nodes, 30*time.Second); err != nil {
		t.Fatalf("before the stop: %v", err)
	}

	n2.Stop()
	const more = 120
	for i := 6; i < 6+more; i++ {
		write(n1, i)
	}
	// n1 keeps the last 10 entries of its own log: n2, which holds its
	// first 6, needs entries n1 no longer has.
	want := float64(6 + more - retention)
	var truncated float64
	err := testkit.Eventually(30*time.Second, func() error {
		var err error
		truncated, err = metric(c, n1, "lattice_log_entries_truncated_total")
		if err == nil && truncated < want {
			err = fmt.Errorf("%v entries truncated, want %v", truncated, want)
		}
		return err
	})
	if err != nil {
		t.Fatalf("n1 did not truncate its log: %v", err)
	}
	t.Logf("n1 truncated %v log entries while n2 was down", truncated)

	n2.Start()
	if _, err := testkit.WaitConverged(c, nodes, 30*time.Second); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	sawTransfer := false
	n2.ScanLines(func(l string) { sawTransfer = sawTransfer || strings.Contains(l, "state transfer complete") })
	if !sawTransfer {
		t.Error("n2 caught up without a state transfer: it needed truncated entries")
	}
	ops := h.Ops()
	if ok, fail, info := testkit.Tally(ops); ok != len(ops) {
		t.Fatalf("writes to a healthy node did not all succeed: %d ok, %d failed, %d indeterminate", ok, fail, info)
	}
	for _, n := range nodes {
		for _, k := range []struct{ key, typ string }{{"st/set", "set"}, {"st/ctr", "counter"}} {
			v, err := verdictOf(c, n, k.key, k.typ, ops)
			if err != nil {
				t.Fatalf("reading %s from %s: %v", k.key, n.Name, err)
			}
			t.Logf("%s %s", n.Name, v)
			if !v.Valid() {
				t.Errorf("%s: %s", n.Name, v)
			}
		}
	}
	testkit.CheckLogs(t, nodes...)
}

// metric reads one unlabelled sample from a node's /metrics.
func metric(c *http.Client, n *testkit.Proc, name string) (float64, error) {
	resp, err := c.Get(n.URL("/metrics"))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/metrics: HTTP %d", resp.StatusCode)
	}
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("/metrics has no %s", name)
}
