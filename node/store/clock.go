package store

import "time"

// Clock is the node's source of local time for intervals and timeouts:
// the anti-entropy ticker, the window of sent marks, state-transfer
// sessions and when a peer was last heard from. Config.Now is another
// thing: the physical time the hybrid clock stamps writes with, which
// tests skew. A simulation injects a Clock it advances itself, so that
// these intervals pass when the simulation says, not when the machine
// does. Implementations must be safe for concurrent use.
type Clock interface {
	Now() time.Time
	// NewTicker is time.NewTicker: a Ticker that delivers on its channel
	// every d, dropping ticks a slow reader misses.
	NewTicker(d time.Duration) Ticker
}

// Ticker is what Clock.NewTicker returns.
type Ticker interface {
	C() <-chan time.Time
	Stop()
	// Done says the tick last taken from C has been handled, with all the
	// work it started. The wall clock ignores it; a simulated clock counts
	// ticks taken but not done, so that it knows when the node is idle.
	Done()
}

// WallClock is the Clock of the machine: time.Now and time.NewTicker.
var WallClock Clock = wallClock{}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) NewTicker(d time.Duration) Ticker { return wallTicker{time.NewTicker(d)} }

type wallTicker struct{ t *time.Ticker }

func (t wallTicker) C() <-chan time.Time { return t.t.C }
func (t wallTicker) Stop()               { t.t.Stop() }
func (t wallTicker) Done()               {}
