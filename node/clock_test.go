package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/testkit"
	"github.com/lattice-sync/lattice/transport"
)

// manualClock is a Clock that moves only when Advance moves it, as a
// simulation's would.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*manualTicker
}

type manualTicker struct {
	c       chan time.Time
	d       time.Duration
	next    time.Time
	stopped bool
}

var _ Clock = (*manualClock)(nil)

func newManualClock() *manualClock { return &manualClock{now: time.Unix(1_700_000_000, 0)} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) NewTicker(d time.Duration) Ticker {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTicker{c: make(chan time.Time, 1), d: d, next: c.now.Add(d)}
	c.tickers = append(c.tickers, t)
	return &manualTickerHandle{c, t}
}

// Advance moves the clock by d and fires the tickers that came due; like
// time.Ticker, a tick the reader has not taken yet absorbs later ones.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.tickers {
		for !t.stopped && !t.next.After(c.now) {
			select {
			case t.c <- c.now:
			default:
			}
			t.next = t.next.Add(t.d)
		}
	}
}

type manualTickerHandle struct {
	c *manualClock
	t *manualTicker
}

func (h *manualTickerHandle) C() <-chan time.Time { return h.t.c }

func (h *manualTickerHandle) Done() {}

func (h *manualTickerHandle) Stop() {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	h.t.stopped = true
}

// openOnClock opens a node on clock, with an anti-entropy interval of an
// hour (so no round runs unless the test advances the clock), attached
// alone to an in-memory network; edit, if not nil, adjusts its config.
func openOnClock(t *testing.T, clock Clock, edit func(*Config)) *Node {
	t.Helper()
	cfg := testConfig(t, "a")
	cfg.Clock = clock
	cfg.AntiEntropyInterval = time.Hour
	if edit != nil {
		edit(&cfg)
	}
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Attach(transport.NewMemNetwork().Add("a")); err != nil {
		t.Fatal(err)
	}
	return n
}

// The anti-entropy ticker is the injected clock's: with an interval of an
// hour, a node truncates its log (which it does once a round) as soon as
// the test advances its clock by an hour, and would not within the test
// on the wall clock.
func TestClockDrivesAntiEntropyRounds(t *testing.T) {
	clock := newManualClock()
	n := openOnClock(t, clock, func(cfg *Config) { cfg.LogRetention = 5 })
	for i := range 20 {
		if _, err := n.Apply(context.Background(), fmt.Sprintf("k%d", i), crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1}); err != nil {
			t.Fatal(err)
		}
	}
	err := testkit.Eventually(10*time.Second, func() error {
		clock.Advance(time.Hour)
		if n.floorOf(n.ID()) == 0 {
			return errors.New("the log was not truncated")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// State-transfer sessions age by the injected clock: one the clock has
// not moved past sessionTimeout stays, however long the test takes; one
// it has is forgotten.
func TestClockExpiresSessions(t *testing.T) {
	clock := newManualClock()
	n := openOnClock(t, clock, nil)
	r := n.repl.Load()
	r.onDigests("b", &message{kind: msgDigests, session: 7, final: false})
	sessions := func() int {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.ins)
	}
	clock.Advance(sessionTimeout - time.Second)
	r.expireSessions()
	if sessions() != 1 {
		t.Fatalf("%d sessions before the timeout, want 1", sessions())
	}
	clock.Advance(2 * time.Second)
	r.expireSessions()
	if sessions() != 0 {
		t.Fatalf("%d sessions after the timeout, want 0", sessions())
	}
}
