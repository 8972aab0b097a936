package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
)

// fillMap gives key a map of n LWW fields, loaded in chunks through the
// committer as states, which is far faster than n single writes.
func fillMap(tb testing.TB, n *Store, key string, fields int) {
	tb.Helper()
	writer := uuid.MustParse("00000000-0000-0000-0000-0000000000f1")
	o := crdt.NewObject()
	acc := crdt.NewObject()
	flush := func() {
		if _, err := n.Submit(context.Background(), &Request{Kind: ReqState, States: []crdt.BatchItem{{Key: key, Delta: acc}}}); err != nil {
			tb.Fatal(err)
		}
		acc = crdt.NewObject()
	}
	for i := 0; i < fields; i++ {
		d, err := o.Apply(writer, crdt.Timestamp{Wall: 1_700_000_000_000}, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{fmt.Sprintf("f%06d", i)}, Value: crdt.MustInt(int64(i % 64))})
		if err != nil {
			tb.Fatal(err)
		}
		acc.Join(d)
		if (i+1)%5000 == 0 {
			flush()
		}
	}
	if !acc.IsEmpty() {
		flush()
	}
}

// writeField writes one new field of key and returns the bytes the commit
// wrote to Badger.
func writeField(tb testing.TB, n *Store, key string, i int) float64 {
	before := n.written.Load()
	op := crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{fmt.Sprintf("g%06d", i)}, Value: crdt.MustInt(7)}
	if _, err := n.Apply(context.Background(), key, op); err != nil {
		tb.Fatal(err)
	}
	return float64(n.written.Load() - before)
}

// TestFieldWriteCostIsODelta: one field write into a 100,000-field map writes
// at most 1.5 times the bytes of the same write into a one-field map. Bytes
// are deterministic, so a test checks them; time is the benchmark's.
func TestFieldWriteCostIsODelta(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-field map")
	}
	n, err := openStore(testConfig(t, "cost"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	fillMap(t, n, "small", 1)
	fillMap(t, n, "big", 100_000)
	var small, big float64
	for i := 0; i < 20; i++ {
		small += writeField(t, n, "small", i)
		big += writeField(t, n, "big", i)
	}
	t.Logf("bytes written per field write: small map %.0f, 100,000-field map %.0f (ratio %.2f)", small/20, big/20, big/small)
	if big > 1.5*small {
		t.Fatalf("a write into the big map wrote %.0f bytes, more than 1.5 x %.0f", big/20, small/20)
	}
}

// BenchmarkFieldWrite times one field write (through the committer, with
// sync on, as in production) into a one-field and a 100,000-field map, and
// reports the bytes written per write.
func BenchmarkFieldWrite(b *testing.B) {
	for _, size := range []int{1, 100_000} {
		b.Run(fmt.Sprintf("fields=%d", size), func(b *testing.B) {
			cfg := testConfig(b, "bench")
			cfg.SyncWrites = true
			n, err := openStore(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer n.Close()
			fillMap(b, n, "m", size)
			var bytes float64
			i := 0
			b.ResetTimer()
			for b.Loop() {
				bytes += writeField(b, n, "m", i)
				i++
			}
			b.ReportMetric(bytes/float64(i), "bytes-written/op")
		})
	}
}

// TestCounterStateJoinWritesTheChange: joining a counter's whole state
// as state transfer does (one range, crdt.JoinRange) into a node that holds
// all but one of its 5,000 writers writes about what one new writer costs,
// not every writer again: a writer whose entries did not change is not
// rewritten. Bytes are deterministic, so a test checks them.
func TestCounterStateJoinWritesTheChange(t *testing.T) {
	n, err := openStore(testConfig(t, "ctrstate"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	const writers = 5000
	state := crdt.NewObject()
	inc := func(i int) *crdt.Object {
		w := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "writer-%d", i))
		d, err := crdt.NewObject().Apply(crdt.ReplicaID(w), crdt.Timestamp{Wall: 1_700_000_000_000}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	join := func(o *crdt.Object) float64 {
		before := n.written.Load()
		if _, err := n.Submit(context.Background(), &Request{Kind: ReqRange, Key: "likes", Ranges: []Range{{Slice: o}}}); err != nil {
			t.Fatal(err)
		}
		return float64(n.written.Load() - before)
	}
	for i := 0; i < writers; i++ {
		state.Join(inc(i))
	}
	first := join(state)
	one := inc(writers)
	alone := join(one.Clone())
	state.Join(one)
	state.Join(inc(writers + 1))
	again := join(state)
	t.Logf("bytes written: the state of %d writers %.0f, one new writer alone %.0f, the state again with one more %.0f", writers, first, alone, again)
	if again > 3*alone || again > first/100 {
		t.Fatalf("joining a state that adds one writer wrote %.0f bytes (that writer alone %.0f, the whole state %.0f): unchanged writers were written again", again, alone, first)
	}
	o, err := n.Get("likes")
	if err != nil {
		t.Fatal(err)
	}
	if got := o.Value(); got != int64(writers+2) {
		t.Fatalf("counter reads %v, want %d", got, writers+2)
	}
}
