package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lattice-sync/lattice/crdt"
)

// With sync on and many writers, batches are prepared on top of the batch
// still syncing (lattice_commits_overlapped_total rises) and each sees the
// writes of the one beneath: no increment is lost, no dot or log sequence
// is issued twice, and all of it is there after a reopen.
func TestPipelinedBatchesSeeEachOther(t *testing.T) {
	cfg := testConfig(t, "pipe")
	cfg.SyncWrites = true
	cfg.MaxBatch = 4 // many small batches, so many overlap
	n, err := openStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const writers, each = 16, 40
	want := map[string]int64{}
	writes := 0
	deadline := time.Now().Add(120 * time.Second)
	for round := 0; testutil.ToFloat64(n.metrics.overlapped) == 0 || round < 2; round++ {
		if time.Now().After(deadline) {
			t.Fatal("no batch was prepared while another synced within 120 s")
		}
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := 0; w < writers; w++ {
			key := fmt.Sprintf("ctr/%d", w%3)
			want[key] += each
			wg.Go(func() {
				for i := 0; i < each; i++ {
					if _, err := n.Apply(ctx, key, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1}); err != nil {
						errs <- err
						return
					}
					field := fmt.Sprintf("w%d", w)
					if _, err := n.Apply(ctx, "map", crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{field}, Value: crdt.MustInt(int64(i))}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		writes += 2 * writers * each
	}
	t.Logf("%d writes, %v commits, %v of them prepared while another synced", writes, testutil.ToFloat64(n.metrics.commits), testutil.ToFloat64(n.metrics.overlapped))
	check := func(n *Store, when string) {
		t.Helper()
		for key, v := range want {
			o, err := n.Get(key)
			if err != nil {
				t.Fatal(err)
			}
			if got := o.Value(); got != v {
				t.Errorf("%s: %s = %v, want %d", when, key, got, v)
			}
		}
		if got := n.VersionVector()[n.ID()]; got != uint64(writes) {
			t.Errorf("%s: own log reaches %d, want %d (one entry per write)", when, got, writes)
		}
		m, err := n.Get("map")
		if err != nil {
			t.Fatal(err)
		}
		fields, _ := m.Value().(map[string]any)
		if len(fields) != writers {
			t.Errorf("%s: the map has %d fields, want %d: %v", when, len(fields), writers, m.Value())
		}
	}
	check(n, "before the reopen")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n, err = openStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	check(n, "after the reopen")
}
