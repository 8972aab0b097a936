package api

import (
	"time"
)

// The token bucket that rate-limits one connection's messages.

// tokenBucket is a connection's rate limit; the reader alone uses it.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *tokenBucket) allow(now time.Time) bool {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Reading the store for subscriptions.
