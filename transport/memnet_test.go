package transport

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// startMem adds and starts members, closing them at the end of the test.
func startMem(t *testing.T, n *MemNetwork, names ...string) ([]*MemTransport, []*recorder) {
	t.Helper()
	var ts []*MemTransport
	var rs []*recorder
	for _, name := range names {
		tr, r := n.Add(name), &recorder{}
		if err := tr.Start(r); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Close() })
		ts, rs = append(ts, tr), append(rs, r)
	}
	return ts, rs
}

func TestMemNetworkDeliveryFIFOPerLink(t *testing.T) {
	n := NewMemNetwork()
	ts, rs := startMem(t, n, "a", "b", "c")
	a, b, c := ts[0], ts[1], ts[2]
	if got := b.Peers(); !slices.Equal(got, []Peer{{Name: "a", Reachable: true}, {Name: "c", Reachable: true}}) {
		t.Fatalf("b's peers %+v", got)
	}
	const count = 1000
	var want []string
	for i := range count {
		if err := a.Send("b", numbered(i)); err != nil {
			t.Fatal(err)
		}
		if err := c.Send("b", numbered(i)); err != nil {
			t.Fatal(err)
		}
		want = append(want, string(numbered(i)))
	}
	rb := rs[1]
	eventually(t, 10*time.Second, func() bool { return len(rb.messages()) == 2*count }, "b got %d of %d", len(rb.messages()), 2*count)
	for _, from := range []string{"a", "c"} {
		if got := rb.payloadsFrom(from); !slices.Equal(got, want) {
			t.Errorf("link %s→b out of order or incomplete", from)
		}
	}
	// b started second, so it learned of a at its Start and of c at c's.
	if got := rb.eventsAbout("a"); !slices.Equal(got, []EventKind{EventJoin}) {
		t.Errorf("b's events about a: %v", got)
	}
	if got := rb.eventsAbout("c"); !slices.Equal(got, []EventKind{EventJoin}) {
		t.Errorf("b's events about c: %v", got)
	}
}

func TestMemNetworkPartitionAndHeal(t *testing.T) {
	n := NewMemNetwork()
	ts, rs := startMem(t, n, "a", "b", "c")
	a, b := ts[0], ts[1]
	ra, rb, rc := rs[0], rs[1], rs[2]

	n.Partition([]string{"a"}, []string{"b", "c"})
	eventually(t, 5*time.Second, func() bool {
		return ra.hasEvent(Event{EventUnreachable, "b"}) && ra.hasEvent(Event{EventUnreachable, "c"}) &&
			rb.hasEvent(Event{EventUnreachable, "a"}) && rc.hasEvent(Event{EventUnreachable, "a"})
	}, "partition events missing")
	if rb.hasEvent(Event{EventUnreachable, "c"}) {
		t.Error("b and c are on the same side but b saw c unreachable")
	}
	if reachable(a, "b") || !reachable(b, "c") {
		t.Fatalf("peers: a %+v, b %+v", a.Peers(), b.Peers())
	}
	if err := a.Send("b", []byte("lost")); err != nil {
		t.Fatalf("send across a partition: %v (the network, not Send, loses it)", err)
	}
	if err := b.Send("c", []byte("same side")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool { return len(rc.payloadsFrom("b")) == 1 }, "same-side message lost")

	n.Heal()
	eventually(t, 5*time.Second, func() bool {
		return ra.hasEvent(Event{EventReachable, "b"}) && rb.hasEvent(Event{EventReachable, "a"})
	}, "heal events missing")
	if err := a.Send("b", []byte("healed")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool { return len(rb.payloadsFrom("a")) > 0 }, "no delivery after heal")
	if got := rb.payloadsFrom("a"); !slices.Equal(got, []string{"healed"}) {
		t.Fatalf("b got %v; the message sent across the partition must be lost", got)
	}
	if got := ra.eventsAbout("b"); !slices.Equal(got, []EventKind{EventJoin, EventUnreachable, EventReachable}) {
		t.Errorf("a's events about b: %v", got)
	}
}

func TestMemNetworkErrorsAndLeave(t *testing.T) {
	n := NewMemNetwork()
	ts, rs := startMem(t, n, "a", "b")
	a, b := ts[0], ts[1]

	if err := a.Send("b", make([]byte, MaxMessageSize)); err != nil {
		t.Fatalf("MaxMessageSize payload refused: %v", err)
	}
	if err := a.Send("b", make([]byte, MaxMessageSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	for _, to := range []string{"nobody", "a"} {
		if err := a.Send(to, nil); !errors.Is(err, ErrUnknownPeer) {
			t.Fatalf("send to %q: %v", to, err)
		}
	}
	if err := a.Start(&recorder{}); err == nil {
		t.Fatal("second Start accepted")
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	eventually(t, 5*time.Second, func() bool { return rs[0].hasEvent(Event{EventLeave, "b"}) }, "a never saw b leave")
	if ps := a.Peers(); len(ps) != 0 {
		t.Fatalf("peers after leave: %+v", ps)
	}
	if err := a.Send("b", nil); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("send to departed peer: %v", err)
	}
	if err := b.Send("a", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if err := b.Start(&recorder{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("start after close: %v", err)
	}

	// The name is free again, and a rejoin is a Join.
	_, rs2 := startMem(t, n, "b")
	eventually(t, 5*time.Second, func() bool { return rs2[0].hasEvent(Event{EventJoin, "a"}) }, "new b never saw a")
	eventually(t, 5*time.Second, func() bool { return len(rs[0].eventsAbout("b")) == 3 }, "a never saw b rejoin")
	if got := rs[0].eventsAbout("b"); !slices.Equal(got, []EventKind{EventJoin, EventLeave, EventJoin}) {
		t.Errorf("a's events about b: %v", got)
	}

	defer func() {
		if recover() == nil {
			t.Error("duplicate Add did not panic")
		}
	}()
	n.Add("a")
}
