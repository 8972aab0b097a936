package lattice

import (
	"errors"
	"fmt"
	"time"
)

// Sync connects now if the client is waiting to retry, then waits until
// a node has acknowledged every pending delta and answered every
// subscription. It returns nil then; ErrUnreachable once every URL has
// failed since the call began (ErrUnauthorized if the last one refused the
// token, ErrWrongCluster if it is in another cluster than the replica); ErrTimeout after timeoutMillis; ErrOffline
// if the client is set offline or has no URLs.
func (c *Client) Sync(timeoutMillis int64) error {
	deadline := time.NewTimer(time.Duration(max(timeoutMillis, 0)) * time.Millisecond)
	defer deadline.Stop()
	c.mu.Lock()
	startFailed := c.failed
	if c.conn == nil {
		c.wakeLocked()
	}
	for {
		switch {
		case c.closed:
			c.mu.Unlock()
			return ErrClosed
		case c.offline || len(c.set.urls) == 0:
			c.mu.Unlock()
			return ErrOffline
		case c.syncedLocked():
			c.mu.Unlock()
			return nil
		case c.failed-startFailed >= len(c.set.urls) && (c.conn == nil || !c.conn.welcomed):
			err := fmt.Errorf("%w (%d pending): %v", ErrUnreachable, len(c.pending), c.lastErr)
			if errors.Is(c.lastErr, ErrUnauthorized) || errors.Is(c.lastErr, ErrWrongCluster) {
				err = c.lastErr
			}
			c.mu.Unlock()
			return err
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			c.mu.Lock()
			n := len(c.pending)
			c.mu.Unlock()
			return fmt.Errorf("%w: %d pending after %d ms", ErrTimeout, n, timeoutMillis)
		}
		c.mu.Lock()
	}
}

// syncedLocked reports whether the live connection has acknowledged every
// pending delta and answered every subscription.
func (c *Client) syncedLocked() bool {
	cn := c.conn
	if cn == nil || !cn.welcomed || len(c.pending) > 0 {
		return false
	}
	for t := range c.subs {
		if !cn.answered[t] && cn.refused[t] == "" {
			return false
		}
	}
	return true
}
