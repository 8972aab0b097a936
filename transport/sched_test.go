package transport

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/internal/testkit"
)

// manualScheduler runs what is scheduled on it only when Advance says,
// on the caller's goroutine, in order of due time, then of scheduling.
type manualScheduler struct {
	mu     sync.Mutex
	now    time.Duration
	timers []*manualTimer
}

type manualTimer struct {
	s       *manualScheduler
	at      time.Duration
	fn      func()
	stopped bool // stopped or fired
}

func (s *manualScheduler) AfterFunc(d time.Duration, fn func()) Timer {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &manualTimer{s: s, at: s.now + d, fn: fn}
	s.timers = append(s.timers, t)
	return t
}

func (t *manualTimer) Stop() bool {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// Advance moves time by d and runs every function that came due.
func (s *manualScheduler) Advance(d time.Duration) {
	s.mu.Lock()
	s.now += d
	var due []*manualTimer
	for _, t := range s.timers {
		if !t.stopped && t.at <= s.now {
			t.stopped = true
			due = append(due, t)
		}
	}
	s.mu.Unlock()
	slices.SortStableFunc(due, func(a, b *manualTimer) int { return int(a.at - b.at) })
	for _, t := range due {
		t.fn()
	}
}

// A Faulty on a simulation's scheduler delays messages on that clock: a
// delayed message reaches the network only when the scheduler's time has
// come, whatever the machine's clock does.
func TestFaultyOnSchedulerDelaysOnItsClock(t *testing.T) {
	net := NewSimNet(testkit.Rand(1, 0))
	sched := &manualScheduler{}
	f := NewFaultyOn(sched, net.Add("a"), 1)
	defer f.Close()
	if err := f.Start(&recorder{}); err != nil {
		t.Fatal(err)
	}
	b := &recorder{}
	if err := net.Add("b").Start(b); err != nil {
		t.Fatal(err)
	}
	if err := f.SetFaults(Faults{Delay: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := f.Send("b", []byte("late")); err != nil {
		t.Fatal(err)
	}
	sched.Advance(99 * time.Millisecond)
	if n := net.InFlight(); n != 0 {
		t.Fatalf("%d messages on the network before the delay passed", n)
	}
	sched.Advance(time.Millisecond)
	if !net.Step() {
		t.Fatal("nothing on the network once the delay passed")
	}
	if got := b.payloadsFrom("a"); !slices.Equal(got, []string{"late"}) {
		t.Fatalf("b got %q", got)
	}
}
