package lattice

import (
	"math/rand/v2"
	"time"
)

// The connection loop: which node to try next and when. A failure moves
// on to the next URL (the node may be the one that is down) after a
// jittered exponential backoff; a session that a node welcomed resets it.

// run connects, serves a session until it ends, and tries again (on the
// next URL after a failure) with jittered exponential backoff, until
// Close.
func (c *Client) run() {
	defer close(c.runDone)
	for {
		c.mu.Lock()
		idle := c.offline || len(c.set.urls) == 0
		c.mu.Unlock()
		if idle {
			select {
			case <-c.stopRun:
				return
			case <-c.wake:
				continue
			}
		}
		welcomed, err := c.session()
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		if welcomed {
			c.attempt = 0
		}
		if err != nil && !c.offline {
			c.failed++
			c.attempt++
			c.lastErr = err
			c.urlIdx = (c.urlIdx + 1) % len(c.set.urls)
			c.log.Debug("connection failed", "err", err, "attempt", c.attempt)
		}
		c.setStatusLocked(StatusOffline)
		c.broadcastLocked()
		delay := c.backoffLocked()
		c.mu.Unlock()
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-c.stopRun:
				t.Stop()
				return
			case <-c.wake:
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// backoffLocked is the wait before the next attempt: nothing after a
// session that ended cleanly, otherwise initial·2^(attempt-1) capped at
// max, of which half is random.
func (c *Client) backoffLocked() time.Duration {
	if c.attempt == 0 {
		return 0
	}
	d := c.set.backoffInitial
	for i := 1; i < c.attempt && d < c.set.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.set.backoffMax)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}
