package transport

import (
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/internal/testkit"
)

// newTestFaulty wraps a fake with one peer "b" and logs the seed, so a
// failure can be replayed.
func newTestFaulty(t *testing.T, seed int64, fs Faults) (*Faulty, *fakeTransport) {
	t.Helper()
	t.Logf("seed %d", seed)
	inner := newFake("a", "b")
	f := NewFaulty(inner, seed)
	if err := f.SetFaults(fs); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(&recorder{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f, inner
}

func TestFaultyDeterministicForSeed(t *testing.T) {
	seed := testkit.Seed(t)
	fs := Faults{Drop: 0.3, Duplicate: 0.3, Reorder: 0.3}
	run := func(seed int64) ([]string, FaultyStats) {
		f, inner := newTestFaulty(t, seed, fs)
		f.minHold = time.Hour // a hold timer firing mid-loop would make the order timing-dependent
		for i := range 500 {
			if err := f.Send("b", numbered(i)); err != nil {
				t.Fatal(err)
			}
		}
		return inner.sentPayloads(), f.Stats()
	}
	sent1, stats1 := run(seed)
	sent2, stats2 := run(seed)
	if !slices.Equal(sent1, sent2) || stats1 != stats2 {
		t.Fatalf("same seed, different decisions:\n%v %+v\n%v %+v", sent1, stats1, sent2, stats2)
	}
	if stats1.Dropped == 0 || stats1.Duplicated == 0 || stats1.Reordered == 0 {
		t.Fatalf("faults not exercised: %+v", stats1)
	}
	sent3, _ := run(seed + 1)
	if slices.Equal(sent1, sent3) {
		t.Fatalf("seeds %d and %d made identical decisions", seed, seed+1)
	}
}

func TestFaultyDropAll(t *testing.T) {
	f, inner := newTestFaulty(t, 1, Faults{Drop: 1})
	for i := range 100 {
		if err := f.Send("b", numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := inner.sentPayloads(); len(got) != 0 {
		t.Fatalf("drop=1 passed on %d messages", len(got))
	}
	if s := f.Stats(); s.Dropped != 100 || s.Sent != 0 {
		t.Fatalf("stats %+v, want 100 dropped", s)
	}
}

func TestFaultyDuplicateAll(t *testing.T) {
	f, inner := newTestFaulty(t, 2, Faults{Duplicate: 1})
	var want []string
	for i := range 10 {
		if err := f.Send("b", numbered(i)); err != nil {
			t.Fatal(err)
		}
		want = append(want, string(numbered(i)), string(numbered(i)))
	}
	if got := inner.sentPayloads(); !slices.Equal(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	if s := f.Stats(); s.Duplicated != 10 {
		t.Fatalf("stats %+v, want 10 duplicated", s)
	}
}

func TestFaultyReorder(t *testing.T) {
	t.Run("overtaken by next", func(t *testing.T) {
		f, inner := newTestFaulty(t, 3, Faults{Reorder: 1})
		f.minHold = time.Hour
		for i := range 6 {
			if err := f.Send("b", numbered(i)); err != nil {
				t.Fatal(err)
			}
		}
		// Every message is held; a held message is released right after the
		// next one, which cannot itself be held while the slot is taken.
		want := []string{"m0001", "m0000", "m0003", "m0002", "m0005", "m0004"}
		if got := inner.sentPayloads(); !slices.Equal(got, want) {
			t.Fatalf("sent %v, want %v", got, want)
		}
		if s := f.Stats(); s.Reordered != 3 {
			t.Fatalf("stats %+v, want 3 reordered", s)
		}
	})
	t.Run("released when nothing follows", func(t *testing.T) {
		f, inner := newTestFaulty(t, 4, Faults{Reorder: 1})
		if err := f.Send("b", []byte("alone")); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, func() bool { return len(inner.sentPayloads()) == 1 },
			"held message never released")
	})
}

func TestFaultyDelay(t *testing.T) {
	for _, fs := range []Faults{
		{Delay: 30 * time.Millisecond},
		{Jitter: 30 * time.Millisecond},
		{Delay: 10 * time.Millisecond, Jitter: 20 * time.Millisecond, Duplicate: 1},
	} {
		t.Run(fs.Delay.String()+"+"+fs.Jitter.String(), func(t *testing.T) {
			f, inner := newTestFaulty(t, 5, fs)
			want := 20
			if fs.Duplicate == 1 {
				want = 40
			}
			for i := range 20 {
				if err := f.Send("b", numbered(i)); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, 5*time.Second, func() bool { return len(inner.sentPayloads()) == want },
				"delayed messages: %d of %d arrived", len(inner.sentPayloads()), want)
			got := inner.sentPayloads()
			slices.Sort(got)
			got = slices.Compact(got)
			if len(got) != 20 {
				t.Fatalf("distinct payloads %d, want 20", len(got))
			}
			if s := f.Stats(); s.Delayed != uint64(want) {
				t.Fatalf("stats %+v, want %d delayed", s, want)
			}
		})
	}
}

// TestFaultyCut runs Faulty over a MemNetwork, where the other side is real.
func TestFaultyCut(t *testing.T) {
	n := NewMemNetwork()
	a := NewFaulty(n.Add("a"), 6)
	b, c := n.Add("b"), n.Add("c")
	ra, rb, rc := &recorder{}, &recorder{}, &recorder{}
	for tr, r := range map[Transport]Receiver{a: ra, b: rb, c: rc} {
		if err := tr.Start(r); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Close() })
	}
	eventually(t, 5*time.Second, func() bool { return reachable(a, "b") && reachable(a, "c") }, "a never saw b and c")

	if err := a.SetFaults(Faults{Cut: []string{"b"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool { return ra.hasEvent(Event{EventUnreachable, "b"}) }, "no unreachable event")
	if reachable(a, "b") || !reachable(a, "c") {
		t.Fatalf("peers after cut: %+v", a.Peers())
	}
	for i := range 10 {
		if err := a.Send("b", numbered(i)); err != nil {
			t.Fatal(err)
		}
		if err := b.Send("a", numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Send("c", []byte("to c")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool { return len(rc.payloadsFrom("a")) == 1 }, "uncut peer c got nothing")
	// Delivery is asynchronous: b's sends must reach a's filter before the heal.
	eventually(t, 5*time.Second, func() bool { return a.Stats().CutDropped == 20 }, "cut-dropped %d, want 20", a.Stats().CutDropped)

	if err := a.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool { return ra.hasEvent(Event{EventReachable, "b"}) }, "no reachable event after heal")
	if !reachable(a, "b") {
		t.Fatalf("peers after heal: %+v", a.Peers())
	}
	// Links are FIFO, so if any cut message had got through it would arrive
	// before these markers.
	if err := a.Send("b", []byte("after")); err != nil {
		t.Fatal(err)
	}
	if err := b.Send("a", []byte("after")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool {
		return len(rb.payloadsFrom("a")) > 0 && len(ra.payloadsFrom("b")) > 0
	}, "no traffic after heal")
	if got := rb.payloadsFrom("a"); !slices.Equal(got, []string{"after"}) {
		t.Errorf("b received %v across the cut", got)
	}
	// a's inbound filter sits above the network, so b's sends during the cut
	// reached a's MemTransport and were dropped there.
	if got := ra.payloadsFrom("b"); !slices.Equal(got, []string{"after"}) {
		t.Errorf("a received %v across the cut", got)
	}
	if got := ra.eventsAbout("b"); !slices.Equal(got, []EventKind{EventJoin, EventUnreachable, EventReachable}) {
		t.Errorf("events about b: %v", got)
	}
}

func TestFaultsValidate(t *testing.T) {
	tests := []struct {
		name   string
		faults Faults
		want   []string // substrings of the error; none means valid
	}{
		{"zero", Faults{}, nil},
		{"all set", Faults{Drop: 1, Duplicate: 0.5, Reorder: 0, Delay: time.Minute, Jitter: time.Second, Cut: []string{"x"}}, nil},
		{"negative drop", Faults{Drop: -0.1}, []string{"drop: -0.1"}},
		{"drop above one", Faults{Drop: 1.5}, []string{"drop: 1.5"}},
		{"NaN duplicate", Faults{Duplicate: math.NaN()}, []string{"duplicate: NaN"}},
		{"reorder", Faults{Reorder: 2}, []string{"reorder: 2"}},
		{"negative delay", Faults{Delay: -time.Millisecond}, []string{"delay: -1ms"}},
		{"long jitter", Faults{Jitter: 61 * time.Second}, []string{"jitter: 1m1s"}},
		{"empty cut", Faults{Cut: []string{"a", ""}}, []string{"cut[1]"}},
		{"several", Faults{Drop: 2, Delay: time.Hour}, []string{"drop: 2", "delay: 1h0m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.faults.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestFaultySetFaultsAtRuntime(t *testing.T) {
	f, inner := newTestFaulty(t, 7, Faults{})
	if err := f.SetFaults(Faults{Drop: 3}); err == nil {
		t.Fatal("invalid faults accepted")
	}
	if err := f.SetFaults(Faults{Cut: []string{"z", "b", "z"}}); err != nil {
		t.Fatal(err)
	}
	if got := f.Faults().Cut; !slices.Equal(got, []string{"b", "z"}) {
		t.Fatalf("cut %v, want normalised [b z]", got)
	}
	_ = f.Send("b", []byte("cut"))
	if err := f.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	_ = f.Send("b", []byte("open"))
	if err := f.SetFaults(Faults{Drop: 1}); err != nil {
		t.Fatal(err)
	}
	_ = f.Send("b", []byte("dropped"))
	if got := inner.sentPayloads(); !slices.Equal(got, []string{"open"}) {
		t.Fatalf("sent %v, want [open]", got)
	}
	if err := f.Send("nobody", []byte("x")); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("send to unknown peer: %v", err)
	}
	if err := f.Send("b", make([]byte, MaxMessageSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized send: %v", err)
	}
}

func TestFaultyCloseStopsTimers(t *testing.T) {
	base := runtime.NumGoroutine()
	n := NewMemNetwork()
	a, b := NewFaulty(n.Add("a"), 8), n.Add("b")
	rb := &recorder{}
	if err := a.Start(&recorder{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(rb); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool { return reachable(a, "b") }, "a never saw b")
	// Long enough that nothing can fire before Close, however slow the machine.
	if err := a.SetFaults(Faults{Delay: 30 * time.Second, Jitter: time.Second, Reorder: 0.5}); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := a.Send("b", numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Send("b", []byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if err := a.SetFaults(Faults{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetFaults after close: %v", err)
	}
	if s := a.Stats(); s.Delayed == 0 || s.Reordered == 0 {
		t.Fatalf("stats %+v: nothing was pending", s)
	}
	if got := len(rb.payloadsFrom("a")); got != 0 {
		t.Fatalf("%d delayed messages delivered", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= base },
		"goroutines: %d, baseline %d", runtime.NumGoroutine(), base)
}
