package node

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"sync"
)

// The node's random choices (its replica id when a directory is new, the
// boot nonce of its presence table, state-transfer session ids, the order
// in which anti-entropy visits peers) all come from Config.Rand, so that a
// simulation that seeds it replays them. By default they come from
// crypto/rand, as before Config.Rand existed.

// CryptoSource is Config.Rand's default: a rand.Source reading
// crypto/rand. It is safe for concurrent use.
var CryptoSource rand.Source = cryptoSource{}

type cryptoSource struct{}

func (cryptoSource) Uint64() uint64 {
	var b [8]byte
	_, _ = crand.Read(b[:]) // crypto/rand.Read never fails
	return binary.LittleEndian.Uint64(b[:])
}

// lockedRand is Config.Rand made safe for the node's goroutines.
type lockedRand struct {
	mu  sync.Mutex
	src rand.Source
	r   *rand.Rand
}

func newLockedRand(src rand.Source) *lockedRand {
	return &lockedRand{src: src, r: rand.New(src)}
}

func (l *lockedRand) Uint64() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.src.Uint64()
}

// Shuffle permutes n elements with swap.
func (l *lockedRand) Shuffle(n int, swap func(i, j int)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.r.Shuffle(n, swap)
}

// Read fills b, so that the node's random source can stand where an
// io.Reader is wanted (uuid.NewRandomFromReader). It never fails.
func (l *lockedRand) Read(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], l.src.Uint64())
		copy(b[i:], w[:])
	}
	return len(b), nil
}
