package lattice

import (
	"errors"
	"testing"
	"time"
)

func TestBackoffIsJitteredAndCapped(t *testing.T) {
	c := &Client{set: &settings{backoffInitial: 100 * time.Millisecond, backoffMax: time.Second}}
	for attempt, want := range map[int]time.Duration{0: 0, 1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 40: time.Second} {
		c.attempt = attempt
		distinct := map[time.Duration]bool{}
		for range 50 {
			d := c.backoffLocked()
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", attempt, d, want/2, want)
			}
			distinct[d] = true
		}
		if want > 0 && len(distinct) < 10 {
			t.Errorf("attempt %d: only %d distinct delays in 50: not jittered", attempt, len(distinct))
		}
	}
}

// TestFailoverToNextURL: the first URL refuses connections; the client
// moves on to the next and syncs there.
func TestFailoverToNextURL(t *testing.T) {
	cl := newCluster(t, 1, nil)
	c := openClient(t, Options{URLs: "ws://127.0.0.1:1/v1/ws," + cl.urls(0)})
	must(t, c.Inc("k", "", 1))
	mustSync(t, c, "through the second URL")
	if c.Node() != "n0" {
		t.Fatalf("on %q", c.Node())
	}
	// Every URL down: Sync says so instead of waiting out its timeout.
	dead := openClient(t, Options{URLs: "ws://127.0.0.1:1/v1/ws,ws://127.0.0.1:2/v1/ws"})
	must(t, dead.Inc("k", "", 1))
	start := time.Now()
	if err := dead.Sync(30_000); !errors.Is(err, ErrUnreachable) || time.Since(start) > 10*time.Second {
		t.Fatalf("Sync with every URL down: %v after %v", err, time.Since(start))
	}
	if dead.Pending() != 1 {
		t.Fatalf("pending %d", dead.Pending())
	}
}
