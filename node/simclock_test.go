package node

import (
	"sync"
	"time"
)

// simClock is the simulation's Clock: time moves only when Fire moves it,
// to the next ticker due, and it fires that one ticker alone. It counts
// ticks delivered and not yet Done, so that the simulation can wait for
// the node to finish handling one before it takes the next event. Tickers
// due at the same instant fire in the order they were made.
type simClock struct {
	mu          sync.Mutex
	now         time.Time
	made        uint64 // tickers made, to order ties
	tickers     []*simTicker
	outstanding int
}

type simTicker struct {
	c       *simClock
	ch      chan time.Time
	d       time.Duration
	next    time.Time
	order   uint64
	stopped bool
}

var _ Clock = (*simClock)(nil)

func newSimClock(start time.Time) *simClock { return &simClock{now: start} }

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *simClock) NewTicker(d time.Duration) Ticker {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.made++
	t := &simTicker{c: c, ch: make(chan time.Time, 1), d: d, next: c.now.Add(d), order: c.made}
	c.tickers = append(c.tickers, t)
	return t
}

// Fire moves the clock to the next ticker due, no further than limit,
// and fires it. It returns false, having moved the clock to limit, if
// none is due by then.
func (c *simClock) Fire(limit time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	var due *simTicker
	live := c.tickers[:0]
	for _, t := range c.tickers {
		if t.stopped {
			continue
		}
		live = append(live, t)
		if due == nil || t.next.Before(due.next) || t.next.Equal(due.next) && t.order < due.order {
			due = t
		}
	}
	c.tickers = live
	if due == nil || due.next.After(limit) {
		if limit.After(c.now) {
			c.now = limit
		}
		return false
	}
	if due.next.After(c.now) {
		c.now = due.next
	}
	due.next = due.next.Add(due.d)
	select {
	case due.ch <- c.now:
		c.outstanding++
	default: // the last tick is still unread: like time.Ticker, drop this one
	}
	return true
}

// Run moves the clock by d, firing every ticker due on the way, and
// calls settle after each.
func (c *simClock) Run(d time.Duration, settle func()) {
	limit := c.Now().Add(d)
	for c.Fire(limit) {
		settle()
	}
}

// Advance moves the clock by d, firing every ticker due on the way
// without waiting for anyone: a tick the reader has not taken yet absorbs
// later ones of its ticker, as with time.Ticker.
func (c *simClock) Advance(d time.Duration) { c.Run(d, func() {}) }

// Busy reports whether a tick was delivered and not yet handled.
func (c *simClock) Busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outstanding > 0
}

func (t *simTicker) C() <-chan time.Time { return t.ch }

func (t *simTicker) Done() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.c.outstanding--
}

// Stop stops t; a tick delivered and never taken no longer counts.
func (t *simTicker) Stop() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.stopped = true
	select {
	case <-t.ch:
		t.c.outstanding--
	default:
	}
}
