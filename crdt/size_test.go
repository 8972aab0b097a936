package crdt_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lattice-sync/lattice/crdt"
)

// The size figures compare with Yjs on one workload: three replicas make
// 10,003 last-writer-wins writes of small integers (0..99) to 102 fields
// of one map, each write delivered everywhere as it is made, a millisecond
// apart. Yjs keeps 80,611 bytes for the result and sends 28 bytes per
// write. The workload is seeded, so the figures are exact and the test can
// hold them.

const (
	sizeWrites = 10_003
	sizeFields = 102
)

// sizeWorkload runs the workload and returns the converged replicas and,
// per field, the replica that wrote it last.
func sizeWorkload(t *testing.T) ([]*crdt.Object, map[string]int) {
	t.Helper()
	reps := lawReplicas[:3]
	states := []*crdt.Object{crdt.NewObject(), crdt.NewObject(), crdt.NewObject()}
	rng := rand.New(rand.NewPCG(1, 2))
	lastWriter := map[string]int{}
	for k := 0; k < sizeWrites; k++ {
		r := k % len(reps)
		field := fmt.Sprintf("f%d", rng.IntN(sizeFields))
		op := crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{field}, Value: crdt.MustInt(rng.Int64N(100))}
		d, err := states[r].Apply(reps[r], ts(simStart+int64(k), 0), op)
		if err != nil {
			t.Fatal(err)
		}
		for j := range states {
			if j != r {
				states[j].Join(d)
			}
		}
		lastWriter[field] = r
	}
	return states, lastWriter
}

func TestSizeOfConvergedState(t *testing.T) {
	states, lastWriter := sizeWorkload(t)
	if len(lastWriter) != sizeFields {
		t.Fatalf("the workload wrote %d fields, want %d", len(lastWriter), sizeFields)
	}
	for i := 1; i < len(states); i++ {
		if !states[0].Equal(states[i]) {
			t.Fatalf("replica %d differs from replica 0", i)
		}
	}
	// Each field holds one live value and nothing else is kept.
	if states[0].Len() != sizeFields {
		t.Fatalf("%d leaves, want one per field", states[0].Len())
	}
	_ = states[0].Range("", "", func(key string, es []crdt.Entry) error {
		if len(es) != 1 {
			t.Errorf("leaf %q keeps %d entries, want 1", key, len(es))
		}
		return nil
	})
	if cc := states[0].Context(); len(cc.Cloud()) != 0 || len(cc.VersionVector()) != 3 {
		t.Errorf("context is not three numbers: %v %v", cc.VersionVector(), cc.Cloud())
	}
	n := len(mustMarshal(t, states[0]))
	t.Logf("%d LWW writes over %d fields: converged state is %d bytes (Yjs: 80,611)", sizeWrites, sizeFields, n)
	if n > 8_000 {
		t.Errorf("converged state is %d bytes, want at most 8,000", n)
	}
}

// TestSizeOfOneWrite prices one more write of the workload, to a field
// another replica wrote last, inside a batch whose header already names
// the writers: the cost is the batch with the item less the batch without.
func TestSizeOfOneWrite(t *testing.T) {
	states, lastWriter := sizeWorkload(t)
	reps := lawReplicas[:3]
	price := func(field string, value int64) (delta, whole int) {
		t.Helper()
		r := (lastWriter[field] + 1) % len(reps)
		now := ts(simStart+sizeWrites, 0)
		op := crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{field}, Value: crdt.MustInt(value)}
		d, err := states[r].Clone().Apply(reps[r], now, op)
		if err != nil {
			t.Fatal(err)
		}
		es, _ := d.Leaf(crdt.Path{Root: crdt.TypeORMap, Segs: []crdt.Segment{crdt.Field(field, crdt.TypeLWW)}}.Key())
		if len(es) != 1 || es[0].Dot.Seq < 1000 || es[0].TS != now {
			t.Fatalf("the write is %v, want one entry at %v with a sequence in the thousands", es, now)
		}
		if cc := d.Context(); len(cc.VersionVector()) != 0 || len(cc.Cloud()) != 2 {
			t.Fatalf("the delta's context is %v %v, want the write and the one it supersedes", cc.VersionVector(), cc.Cloud())
		}
		empty := crdt.Batch{Clock: now, Replicas: reps}
		one := empty
		one.Items = []crdt.BatchItem{{Key: "", Delta: d}}
		without, err := empty.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		with, err := one.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return len(with) - len(without), len(with)
	}
	delta, whole := price("f37", 42)
	t.Logf("one LWW write (f37 = 42) adds %d bytes to a batch (Yjs update: 28); the one-item batch is %d bytes", delta, whole)
	if delta > 17 {
		t.Errorf("one write costs %d bytes, want at most 17", delta)
	}
	// The field name and the value are in the delta as they are, so the
	// longest name with the largest value is the workload's dearest write;
	// it must meet the bound too.
	worst, _ := price("f101", 99)
	t.Logf("the workload's most expensive write (f101 = 99) adds %d bytes", worst)
	if worst > 17 {
		t.Errorf("the dearest write costs %d bytes, want at most 17", worst)
	}
}
