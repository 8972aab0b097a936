package transport

import "time"

// Scheduler runs functions later. Faulty's delays and holds use one, so
// that a simulation can run them on its own clock instead of the
// machine's (NewFaultyOn).
type Scheduler interface {
	// AfterFunc is time.AfterFunc: fn runs once, on a goroutine of the
	// scheduler's choosing, d from now, unless the Timer is stopped first.
	AfterFunc(d time.Duration, fn func()) Timer
}

// Timer is what Scheduler.AfterFunc returns.
type Timer interface {
	// Stop is time.Timer.Stop: true if it stopped fn from running.
	Stop() bool
}

// WallScheduler is the machine's clock: time.AfterFunc.
var WallScheduler Scheduler = wallScheduler{}

type wallScheduler struct{}

func (wallScheduler) AfterFunc(d time.Duration, fn func()) Timer { return time.AfterFunc(d, fn) }
