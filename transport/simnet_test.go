package transport

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/lattice-sync/lattice/internal/testkit"
)

// simTrio starts a, b and c on a SimNet seeded with seed.
func simTrio(t *testing.T, seed int64) (*SimNet, map[string]*SimTransport, map[string]*recorder) {
	t.Helper()
	n := NewSimNet(testkit.Rand(seed, 0))
	ts, rs := map[string]*SimTransport{}, map[string]*recorder{}
	for _, name := range []string{"a", "b", "c"} {
		ts[name], rs[name] = n.Add(name), &recorder{}
		if err := ts[name].Start(rs[name]); err != nil {
			t.Fatal(err)
		}
	}
	return n, ts, rs
}

func TestSimNetDeliversOnlyOnStep(t *testing.T) {
	n, ts, rs := simTrio(t, 1)
	if got := rs["a"].eventsAbout("b"); !slices.Equal(got, []EventKind{EventJoin}) {
		t.Fatalf("a's events about b: %v, want one join", got)
	}
	if err := ts["a"].Send("b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if len(rs["b"].messages()) != 0 {
		t.Fatal("delivered before any Step")
	}
	if !n.Step() || n.Step() {
		t.Fatal("want exactly one Step with one message in flight")
	}
	if got := rs["b"].payloadsFrom("a"); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("b got %q", got)
	}
	if err := ts["a"].Send("z", []byte("x")); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("send to a stranger: %v, want ErrUnknownPeer", err)
	}
}

// A seed picks the same deliveries whatever order the messages of one
// step were sent in.
func TestSimNetOrderIsTheSeeds(t *testing.T) {
	run := func(reverse bool) []string {
		n, ts, rs := simTrio(t, 7)
		var sends []int
		for i := range 20 {
			sends = append(sends, i)
		}
		if reverse {
			slices.Reverse(sends)
		}
		for _, i := range sends {
			if err := ts["a"].Send([]string{"b", "c"}[i%2], []byte(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		for n.Step() {
		}
		return append(rs["b"].payloadsFrom("a"), rs["c"].payloadsFrom("a")...)
	}
	a, b := run(false), run(true)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different deliveries:\n%v\n%v", a, b)
	}
	if len(a) != 20 {
		t.Fatalf("%d of 20 delivered", len(a))
	}
}

func TestSimNetPartitionLossAndDuplication(t *testing.T) {
	n, ts, rs := simTrio(t, 3)
	n.Partition([]string{"a"}, []string{"b", "c"})
	if !rs["a"].hasEvent(Event{EventUnreachable, "b"}) || !rs["b"].hasEvent(Event{EventUnreachable, "a"}) {
		t.Fatal("a cut did not make a and b unreachable to each other")
	}
	if ps := ts["a"].Peers(); len(ps) != 2 || ps[0].Reachable {
		t.Fatalf("a's peers across the cut: %+v", ps)
	}
	_ = ts["a"].Send("b", []byte("cut"))
	for n.Step() {
	}
	if len(rs["b"].messages()) != 0 || n.Stats().Cut != 1 {
		t.Fatalf("a message crossed the cut: %v, stats %+v", rs["b"].messages(), n.Stats())
	}
	n.Heal()
	if !rs["a"].hasEvent(Event{EventReachable, "b"}) {
		t.Fatal("heal did not make b reachable to a")
	}
	n.SetFaults(1, 0)
	_ = ts["a"].Send("b", []byte("lost"))
	for n.Step() {
	}
	n.SetFaults(0, 1)
	_ = ts["a"].Send("b", []byte("twice"))
	n.Step()
	n.Step()
	if got := rs["b"].payloadsFrom("a"); !slices.Equal(got, []string{"twice", "twice"}) {
		t.Fatalf("b got %q, want the duplicated message twice and not the lost one", got)
	}
	st := n.Stats()
	if st.Lost != 1 || st.Duplicated < 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSimNetRestart(t *testing.T) {
	n, ts, rs := simTrio(t, 5)
	_ = ts["a"].Send("b", []byte("to the old b"))
	if err := ts["b"].Close(); err != nil {
		t.Fatal(err)
	}
	if !rs["a"].hasEvent(Event{EventLeave, "b"}) {
		t.Fatal("a did not see b leave")
	}
	if err := ts["a"].Send("b", []byte("x")); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("send to a departed peer: %v", err)
	}
	b2 := &recorder{}
	if err := n.Add("b").Start(b2); err != nil {
		t.Fatalf("restarting b: %v", err)
	}
	if got := b2.eventsAbout("a"); !slices.Equal(got, []EventKind{EventJoin}) {
		t.Fatalf("the new b's events about a: %v", got)
	}
	for n.Step() {
	}
	if len(rs["b"].messages()) != 0 {
		t.Fatal("a closed transport got a message")
	}
}
