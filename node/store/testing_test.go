package store

import (
	"encoding/binary"
	"io"
	"log/slog"
	"testing"

	"github.com/lattice-sync/lattice/crdt"
)

// testConfig is a store's configuration for a test: the node's defaults,
// in a temporary directory, without syncs.
func testConfig(t testing.TB, name string) Config {
	cfg := DefaultConfig(t.TempDir())
	cfg.SyncWrites = false
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)).With("node", name)
	return cfg
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
