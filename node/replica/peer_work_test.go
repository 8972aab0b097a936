package replica

import (
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testWork is what a peerWork reports to: the busy count and the metrics.
type testWork struct {
	busy    atomic.Int64
	metrics *Metrics
}

func newTestPeerWork(t *testing.T) (*peerWork, *testWork) {
	n := &testWork{metrics: NewMetrics(prometheus.NewRegistry())}
	w := newPeerWork(slog.New(slog.NewTextHandler(io.Discard, nil)), &n.busy, n.metrics.peerTasksDropped)
	t.Cleanup(w.stop)
	return w, n
}

// TestPeerWorkOnePeerInOrder: one peer's tasks run one at a time, in the
// order they came, however many workers are free.
func TestPeerWorkOnePeerInOrder(t *testing.T) {
	w, n := newTestPeerWork(t)
	var mu sync.Mutex
	var got []int
	running := 0
	done := make(chan struct{})
	const tasks = 50
	for i := 0; i < tasks; i++ {
		w.add("p", taskDigests, func() {
			mu.Lock()
			running++
			if running > 1 {
				t.Errorf("%d tasks of one peer ran at once", running)
			}
			got = append(got, i)
			mu.Unlock()
			mu.Lock()
			running--
			if len(got) == tasks {
				close(done)
			}
			mu.Unlock()
		})
	}
	<-done
	for i, v := range got {
		if v != i {
			t.Fatalf("task %d ran in place %d: %v", v, i, got)
		}
	}
	w.stop()
	if b := n.busy.Load(); b != 0 {
		t.Fatalf("busy %d after every task ran", b)
	}
}

// TestPeerWorkCoalesces: while a peer's task runs, its waiting answers
// collapse into the newest one, its state-transfer chunks do not, and the
// queue past maxPeerTasks drops (and counts) what comes.
func TestPeerWorkCoalesces(t *testing.T) {
	w, n := newTestPeerWork(t)
	block, started := make(chan struct{}), make(chan struct{})
	w.add("p", taskDigests, func() { close(started); <-block })
	<-started
	var mu sync.Mutex
	var ran []string
	note := func(s string) func() { return func() { mu.Lock(); ran = append(ran, s); mu.Unlock() } }
	w.add("p", taskAnswer, note("answer 1"))
	w.add("p", taskWants, note("wants 1"))
	w.add("p", taskAnswer, note("answer 2"))   // replaces answer 1, in its place
	w.add("p", taskAnswerFull, note("full 1")) // a kind of its own
	w.add("p", taskWants, note("wants 2"))     // every chunk counts
	w.add("q", taskAnswer, note("q answer"))   // another peer: not blocked
	for i := 0; i < maxPeerTasks; i++ {
		w.add("p", taskDigests, func() {})
	}
	if d := testutil.ToFloat64(n.metrics.peerTasksDropped); d != 4 {
		t.Fatalf("dropped %v tasks, want 4 (4 were waiting, %d more fit in %d)", d, maxPeerTasks-4, maxPeerTasks)
	}
	close(block)
	w.stop() // waits for the running tasks; waiting ones may be dropped
	mu.Lock()
	defer mu.Unlock()
	var ps []string
	for _, s := range ran {
		if s != "q answer" {
			ps = append(ps, s)
		}
	}
	want := []string{"answer 2", "wants 1", "full 1", "wants 2"}
	for i := range ps {
		if ps[i] != want[i] {
			t.Fatalf("peer p ran %v, want a prefix of %v", ps, want)
		}
	}
	if b := n.busy.Load(); b != 0 {
		t.Fatalf("busy %d after stop", b)
	}
}

// TestPeerWorkBoundsWorkers: many peers' tasks never run on more than
// peerWorkers goroutines at once.
func TestPeerWorkBoundsWorkers(t *testing.T) {
	w, _ := newTestPeerWork(t)
	var mu sync.Mutex
	running, peak, left := 0, 0, 40
	done := make(chan struct{})
	gate := make(chan struct{})
	for i := 0; i < 40; i++ {
		w.add(string(rune('a'+i%20))+"/"+string(rune('0'+i/20)), taskAnswer, func() {
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			<-gate
			mu.Lock()
			running--
			left--
			if left == 0 {
				close(done)
			}
			mu.Unlock()
		})
	}
	close(gate)
	<-done
	if peak > peerWorkers {
		t.Fatalf("%d tasks ran at once, want at most %d", peak, peerWorkers)
	}
}
