package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/testkit"
	"github.com/lattice-sync/lattice/transport"
)

// manualClock is a Clock that moves only when Advance moves it: the
// simulation's clock (simclock_test.go), used by hand.
type manualClock = simClock

func newManualClock() *manualClock { return newSimClock(time.Unix(1_700_000_000, 0)) }

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
		if n.st.Floor(n.ID()) == 0 {
			return errors.New("the log was not truncated")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
