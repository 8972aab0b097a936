package store

import (
	"crypto/rand"
	"encoding/binary"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/prometheus/client_golang/prometheus"
)

// testConfig is a store's configuration for a test: the node's defaults,
// in a temporary directory, without syncs.
func testConfig(t testing.TB, name string) Config {
	return Config{
		Dir:              t.TempDir(),
		MaxBatch:         512,
		MaxClockSkew:     time.Minute,
		UnseenDotsWait:   2 * time.Second,
		MaxWaitingDeltas: 1024,
		LogRetention:     100_000,
		MemTableSize:     64 << 20,
		Now:              func() int64 { return time.Now().UnixMilli() },
		Clock:            WallClock,
		Rand:             rand.Reader,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)).With("node", name),
		Busy:             new(atomic.Int64),
		Metrics:          NewMetrics(prometheus.NewRegistry()),
	}
}

// openStore opens a store that tells no one of its commits.
func openStore(cfg Config) (*Store, error) { return Open(cfg, nil) }

// writerID is the replica id of the i-th writer of a test.
func writerID(i int) crdt.ReplicaID {
	var r crdt.ReplicaID
	r[0] = 0xAA
	binary.BigEndian.PutUint64(r[8:], uint64(i)+1)
	return r
}

// counterValue is the value of the counter at key, 0 if it was never written.
func counterValue(t *testing.T, s *Store, key string) int64 {
	t.Helper()
	o, err := s.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	if o.Type() == 0 {
		return 0
	}
	return o.Value().(int64)
}
