package replica

import (
	"sync"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/node/store"
)

// handClock is a Clock the test moves by hand; it makes no tickers.
type handClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *handClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *handClock) NewTicker(time.Duration) store.Ticker { panic("handClock makes no tickers") }

func (c *handClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// State-transfer sessions age by the injected clock: one the clock has
// not moved past SessionTimeout stays, however long the test takes; one
// it has is forgotten.
func TestClockExpiresSessions(t *testing.T) {
	clock := &handClock{now: time.Unix(1_700_000_000, 0)}
	r := New(Config{Clock: clock}, nil, nil)
	r.onDigests("b", &message{kind: msgDigests, session: 7, final: false})
	sessions := func() int {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.ins)
	}
	clock.advance(SessionTimeout - time.Second)
	r.expireSessions()
	if sessions() != 1 {
		t.Fatalf("%d sessions before the timeout, want 1", sessions())
	}
	clock.advance(2 * time.Second)
	r.expireSessions()
	if sessions() != 0 {
		t.Fatalf("%d sessions after the timeout, want 0", sessions())
	}
}
