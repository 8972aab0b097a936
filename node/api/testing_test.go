package api

import (
	crand "crypto/rand"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node/store"
)

// newTestBackend is a backend named n over a store of its own, with no
// peers; edit, if not nil, adjusts the store's config. The node's tests
// (node/) serve whole nodes, peers included; these need only one.
func newTestBackend(t testing.TB, edit func(*store.Config)) *Backend {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	cfg := store.DefaultConfig(t.TempDir())
	cfg.SyncWrites = false
	cfg.Logger = log
	cfg.Metrics = store.NewMetrics(reg)
	if edit != nil {
		edit(&cfg)
	}
	var mu sync.Mutex
	var observers []func(store.Change)
	st, err := store.Open(cfg, func(sg *store.Stage) {
		mu.Lock()
		os := observers
		mu.Unlock()
		for _, c := range sg.Changes {
			for _, o := range os {
				o(c)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		st.Close()
	})
	return &Backend{
		Name:     "n",
		Store:    st,
		Presence: NewPresenceTable("n", crand.Reader, store.WallClock, log, func([]byte) bool { return false }),
		Registry: reg,
		Logger:   log,
		Clock:    store.WallClock,
		Done:     done,
		Cluster:  func() ClusterInfo { return ClusterInfo{Name: "n", ID: st.ID().String()} },
		Observe: func(fn func(store.Change)) {
			mu.Lock()
			observers = append(observers, fn)
			mu.Unlock()
		},
	}
}

// wsInc is an increment of a counter.
var wsInc = crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1}

// clientDelta makes a delta as a client replica would, on its own copy.
func clientDelta(t *testing.T, o *crdt.Object, r crdt.ReplicaID, wall int64, op crdt.Op) *crdt.Object {
	t.Helper()
	d, err := o.Apply(r, crdt.Timestamp{Wall: wall}, op)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
