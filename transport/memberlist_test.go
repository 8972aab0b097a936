package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/lattice-sync/lattice/internal/testkit"
)

// testConfig is a loopback Memberlist config with every interval shortened,
// as hashicorp/serf's tests do, so failure detection takes about a second.
// Set LATTICE_TEST_LOG=1 to see memberlist's logs.
func testConfig(name string) MemberlistConfig {
	logOut := io.Discard
	if os.Getenv("LATTICE_TEST_LOG") != "" {
		logOut = os.Stderr
	}
	return MemberlistConfig{
		Name:              name,
		BindAddr:          "127.0.0.1:0",
		Local:             true,
		Logger:            slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug})),
		LeaveTimeout:      2 * time.Second,
		ReconnectInterval: 300 * time.Millisecond,
		tune: func(c *memberlist.Config) {
			c.ProbeInterval = 200 * time.Millisecond
			c.ProbeTimeout = 100 * time.Millisecond
			c.GossipInterval = 50 * time.Millisecond
			c.PushPullInterval = 2 * time.Second
			c.GossipToTheDeadTime = 2 * time.Second
			c.TCPTimeout = 2 * time.Second
		},
	}
}

// startCluster starts one Memberlist per config, calls created (if not nil)
// with each as soon as it has bound, and joins them all to the first; it
// waits until every node sees every other as reachable.
func startCluster(t *testing.T, created func(*Memberlist), cfgs ...MemberlistConfig) ([]*Memberlist, []*recorder) {
	t.Helper()
	var ms []*Memberlist
	var rs []*recorder
	for _, cfg := range cfgs {
		m, err := NewMemberlist(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
		if created != nil {
			created(m)
		}
		r := &recorder{}
		if err := m.Start(r); err != nil {
			t.Fatal(err)
		}
		if len(ms) > 0 {
			if _, err := m.Join([]string{ms[0].GossipAddr()}); err != nil {
				t.Fatal(err)
			}
		}
		ms, rs = append(ms, m), append(rs, r)
	}
	for _, m := range ms {
		for _, o := range ms {
			if m != o {
				eventually(t, 20*time.Second, func() bool { return reachable(m, o.LocalName()) },
					"%s never saw %s: %+v", m.LocalName(), o.LocalName(), m.Peers())
			}
		}
	}
	return ms, rs
}

func TestMemberlistClusterExchange(t *testing.T) {
	ms, rs := startCluster(t, nil, testConfig("a"), testConfig("b"), testConfig("c"))
	a, b, c := ms[0], ms[1], ms[2]
	ra, rb, rc := rs[0], rs[1], rs[2]
	// Events reach the receiver through a mailbox, after Peers already
	// shows the member: wait for them.
	for i, r := range rs {
		for j, m := range ms {
			if i != j {
				eventually(t, 20*time.Second, func() bool { return r.hasEvent(Event{EventJoin, m.LocalName()}) },
					"%s saw no join of %s: %v", ms[i].LocalName(), m.LocalName(), r.eventsAbout(m.LocalName()))
			}
		}
	}
	if p, _ := peerState(a.Peers(), "b"); p.Addr != b.GossipAddr() {
		t.Errorf("a has b at %q, b says %q", p.Addr, b.GossipAddr())
	}

	// Both ways.
	if err := a.Send("b", []byte("hello b")); err != nil {
		t.Fatal(err)
	}
	if err := b.Send("a", []byte("hello a")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() bool {
		return len(rb.payloadsFrom("a")) == 1 && len(ra.payloadsFrom("b")) == 1
	}, "small messages lost")

	// A payload near the limit.
	big := make([]byte, 900<<10)
	rng := testkit.Rand(testkit.Seed(t), 1)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	// Delivery is at most once: on a loaded machine a peer may look
	// unreachable for a moment, or a stream fail, and the frame is dropped.
	// A drop is counted, never silent, so the payload is sent again after
	// each counted drop, as anti-entropy would, until it arrives intact.
	dropped := c.Stats().MessagesDropped
	if err := c.Send("a", big); err != nil {
		t.Fatal(err)
	}
	resent := 0
	testkit.Await(t, 60*time.Second, "900 KiB payload delivered", func() (bool, string) {
		if len(ra.payloadsFrom("c")) > 0 {
			return true, ""
		}
		if d := c.Stats().MessagesDropped; d > dropped && c.Send("a", big) == nil {
			dropped = d
			resent++
		}
		return false, fmt.Sprintf("neither delivered nor counted as dropped (%d sent again)", resent)
	})
	if resent > 0 {
		t.Logf("the 900 KiB payload was dropped and sent again %d times", resent)
	}
	for _, got := range ra.payloadsFrom("c") {
		if !bytes.Equal([]byte(got), big) {
			t.Fatal("900 KiB payload corrupted")
		}
	}

	// A burst: all arrive, exactly once, in few frames.
	framesBefore, droppedBefore := a.Stats().FramesSent, a.Stats().MessagesDropped
	const burst = 1000
	for i := range burst {
		if err := a.Send("c", numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Every message arrives or is counted as dropped (see above).
	testkit.Await(t, 60*time.Second, "burst delivered", func() (bool, string) {
		got, d := len(rc.payloadsFrom("a")), a.Stats().MessagesDropped-droppedBefore
		return uint64(got)+d >= burst, fmt.Sprintf("%d of %d arrived, %d counted as dropped", got, burst, d)
	})
	if d := a.Stats().MessagesDropped - droppedBefore; d > 0 {
		t.Logf("burst: %d of %d messages dropped (a peer looked unreachable, or a stream failed)", d, burst)
	}
	seen := make(map[string]bool)
	for _, p := range rc.payloadsFrom("a") {
		if seen[p] {
			t.Fatalf("%s delivered twice", p)
		}
		seen[p] = true
	}
	if d := a.Stats().MessagesDropped - droppedBefore; uint64(len(seen))+d != burst {
		t.Fatalf("burst: %d distinct of %d, %d dropped", len(seen), burst, d)
	}
	frames := a.Stats().FramesSent - framesBefore
	t.Logf("burst of %d messages took %d frames", burst, frames)
	if frames >= burst/2 {
		t.Errorf("burst of %d took %d frames: not batched", burst, frames)
	}

	// Errors.
	if err := a.Send("b", make([]byte, MaxMessageSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	if err := a.Send("nobody", nil); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("unknown peer: %v", err)
	}

	// A graceful leave is a Leave, not a failure.
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	for i, r := range rs[:2] {
		eventually(t, 20*time.Second, func() bool { return r.hasEvent(Event{EventLeave, "c"}) },
			"%s never saw c leave: %v", ms[i].LocalName(), r.eventsAbout("c"))
		if _, ok := peerState(ms[i].Peers(), "c"); ok {
			t.Errorf("%s still lists c after it left", ms[i].LocalName())
		}
	}
	if err := c.Send("a", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("send after close: %v", err)
	}
	if _, err := c.Join([]string{a.GossipAddr()}); !errors.Is(err, ErrClosed) {
		t.Errorf("join after close: %v", err)
	}
}

// cutSet is the shared "network" state the Blocked hooks consult: a node
// whose address is in it is isolated from everyone, in both directions.
type cutSet struct {
	mu   sync.Mutex
	cut  map[string]bool
	self map[string]string // node name → gossip address, known once bound
}

func (cs *cutSet) isolate(addrs ...string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.cut = make(map[string]bool)
	for _, a := range addrs {
		cs.cut[a] = true
	}
}

func (cs *cutSet) register(m *Memberlist) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.self[m.LocalName()] = m.GossipAddr()
}

// blocked is node name's Blocked hook.
func (cs *cutSet) blocked(name string) func(string) bool {
	return func(peer string) bool {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		return cs.cut[peer] || cs.cut[cs.self[name]]
	}
}

func TestMemberlistBlockedCutAndHeal(t *testing.T) {
	cs := &cutSet{self: make(map[string]string)}
	var cfgs []MemberlistConfig
	for _, name := range []string{"a", "b", "c"} {
		cfg := testConfig(name)
		cfg.Blocked = cs.blocked(name)
		cfgs = append(cfgs, cfg)
	}
	ms, rs := startCluster(t, cs.register, cfgs...)
	a, c := ms[0], ms[2]
	ra, rb, rc := rs[0], rs[1], rs[2]

	cs.isolate(c.GossipAddr())
	for _, r := range []*recorder{ra, rb} {
		eventually(t, 20*time.Second, func() bool { return r.hasEvent(Event{EventUnreachable, "c"}) },
			"c was never marked unreachable")
	}
	eventually(t, 20*time.Second, func() bool {
		return rc.hasEvent(Event{EventUnreachable, "a"}) && rc.hasEvent(Event{EventUnreachable, "b"})
	}, "isolated c never marked the others unreachable")
	if p, ok := peerState(a.Peers(), "c"); !ok || p.Reachable {
		t.Fatalf("a's view of c during the cut: %+v, %v", p, ok)
	}
	if err := a.Send("c", []byte("during cut")); err != nil {
		t.Fatalf("send to unreachable peer: %v", err)
	}

	cs.isolate()
	for _, r := range []*recorder{ra, rb} {
		eventually(t, 20*time.Second, func() bool { return r.hasEvent(Event{EventReachable, "c"}) },
			"c never came back: %v", r.eventsAbout("c"))
	}
	eventually(t, 20*time.Second, func() bool {
		return rc.hasEvent(Event{EventReachable, "a"}) && rc.hasEvent(Event{EventReachable, "b"})
	}, "c never saw the others again")
	if err := a.Send("c", []byte("after heal")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() bool {
		got := rc.payloadsFrom("a")
		return len(got) > 0 && got[len(got)-1] == "after heal"
	}, "no delivery after heal: %v", rc.payloadsFrom("a"))
	t.Logf("a's events about c: %v", ra.eventsAbout("c"))
}

func TestMemberlistConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  MemberlistConfig
	}{
		{"no name", MemberlistConfig{BindAddr: "127.0.0.1:0"}},
		{"long name", MemberlistConfig{Name: string(make([]byte, maxNameLen+1)), BindAddr: "127.0.0.1:0"}},
		{"bad bind", MemberlistConfig{Name: "x", BindAddr: "127.0.0.1"}},
		{"bad port", MemberlistConfig{Name: "x", BindAddr: "127.0.0.1:99999"}},
		{"bad key", MemberlistConfig{Name: "x", BindAddr: "127.0.0.1:0", SecretKey: []byte("short")}},
		{"negative queue", MemberlistConfig{Name: "x", QueueLen: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			m, err := NewMemberlist(tt.cfg)
			if err == nil {
				_ = m.Close()
				t.Fatal("accepted")
			}
			t.Log(err)
		})
	}
}

func TestMemberlistEncryptedAndLabelled(t *testing.T) {
	key := []byte("0123456789abcdef")
	cfg := func(name string) MemberlistConfig {
		c := testConfig(name)
		c.SecretKey, c.Label = key, "lattice-test"
		return c
	}
	ms, rs := startCluster(t, nil, cfg("a"), cfg("b"))
	if err := ms[0].Send("b", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() bool { return len(rs[1].payloadsFrom("a")) == 1 }, "encrypted message lost")
}

func TestMemberlistCloseStopsGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	a, err := NewMemberlist(testConfig("a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMemberlist(testConfig("b"))
	if err != nil {
		t.Fatal(err)
	}
	rb := &recorder{}
	for m, r := range map[*Memberlist]Receiver{a: &recorder{}, b: rb} {
		if err := m.Start(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Join([]string{a.GossipAddr()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() bool { return reachable(a, "b") }, "a never saw b")
	// Messages still queued at Close are flushed before the goodbye.
	for i := range 100 {
		if err := a.Send("b", numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() bool { return rb.hasEvent(Event{EventLeave, "a"}) }, "b never saw a leave")
	// Frames are handled on their own goroutines, so the last may land after
	// the leave is reported.
	eventually(t, 20*time.Second, func() bool { return len(rb.payloadsFrom("a")) == 100 },
		"b got %d of 100 messages queued before Close", len(rb.payloadsFrom("a")))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() bool { return runtime.NumGoroutine() <= base },
		"goroutines: %d, baseline %d", runtime.NumGoroutine(), base)
}
