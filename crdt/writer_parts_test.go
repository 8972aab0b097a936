package crdt_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"pgregory.net/rapid"

	"github.com/lattice-sync/lattice/crdt"
)

// partWriters is every writer a part names, by an entry or its context.
func partWriters(p *crdt.Object) map[crdt.ReplicaID]bool {
	ws := map[crdt.ReplicaID]bool{}
	_ = p.Range("", "", func(_ string, es []crdt.Entry) error {
		for _, e := range es {
			ws[e.Dot.Replica] = true
		}
		return nil
	})
	for _, r := range p.Replicas() {
		ws[r] = true
	}
	return ws
}

// TestWriterPartsJoinToWhole: a counter of many writers, some of them
// folded into a node's fold replica, some of them removed from by joins
// of later totals, splits into writer parts that each name at most the
// bound's writers (and bytes, but for a part of one writer), name each
// writer once, and join to the whole in any order. Joined in their own
// order into an earlier state of the same counter (a node that lagged),
// no prefix of the parts counts more than the whole: the fold replica's
// totals come after the bases of the writers it folded.
func TestWriterPartsJoinToWhole(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		node := lawReplicas[0]
		fold := crdt.FoldReplica(node)
		nw := rapid.IntRange(1, 60).Draw(t, "writers")
		writer := func(i int) crdt.ReplicaID {
			var r crdt.ReplicaID
			r[0] = byte(rapid.IntRange(0, 255).Draw(t, "hi"))
			binary.BigEndian.PutUint64(r[8:], uint64(i)+1)
			return r
		}
		ws := make([]crdt.ReplicaID, nw)
		copies := make([]*crdt.Object, nw)
		for i := range ws {
			ws[i], copies[i] = writer(i), crdt.NewObject()
		}
		whole := crdt.NewObject()
		var lagging *crdt.Object
		steps := rapid.IntRange(1, 150).Draw(t, "steps")
		for s := 0; s < steps; s++ {
			i := rapid.IntRange(0, nw-1).Draw(t, "writer")
			switch rapid.IntRange(0, 5).Draw(t, "what") {
			case 0:
				if _, err := whole.Fold(ws[i], fold); err != nil && !errors.Is(err, crdt.ErrInvalidOp) {
					t.Fatal(err)
				}
			case 1:
				if lagging == nil {
					lagging = whole.Clone()
				}
			default:
				d, err := copies[i].Apply(ws[i], crdt.Timestamp{Wall: simStart + int64(s)}, crdt.Op{Type: crdt.TypeGCounter, Kind: crdt.OpInc, By: int64(rapid.IntRange(1, 9).Draw(t, "by"))})
				if err != nil {
					t.Fatal(err)
				}
				whole.Join(d)
			}
		}
		if lagging == nil {
			lagging = crdt.NewObject()
		}
		maxWriters := rapid.IntRange(1, 20).Draw(t, "maxWriters")
		maxBytes := rapid.IntRange(50, 2000).Draw(t, "maxBytes")
		parts := whole.WriterParts(maxWriters, maxBytes, func(r crdt.ReplicaID) bool { return r == fold })
		named := map[crdt.ReplicaID]int{}
		for i, p := range parts {
			pw := partWriters(p)
			if len(pw) > maxWriters {
				t.Fatalf("part %d names %d writers, over %d", i, len(pw), maxWriters)
			}
			if n := crdt.BinarySize(p); len(pw) > 1 && n > maxBytes {
				t.Fatalf("part %d of %d writers is %d bytes, over %d", i, len(pw), n, maxBytes)
			}
			if p.Types() != whole.Types() {
				t.Fatalf("part %d has types %v, want %v", i, p.Types(), whole.Types())
			}
			for r := range pw {
				named[r]++
			}
		}
		for r, n := range named {
			if n != 1 {
				t.Fatalf("writer %s is in %d parts", r, n)
			}
		}
		if want := len(partWriters(whole)); len(named) != want {
			t.Fatalf("the parts name %d writers, the whole %d", len(named), want)
		}
		got := crdt.NewObject()
		for _, p := range rapid.Permutation(parts).Draw(t, "order") {
			got.Join(p)
		}
		if !got.Equal(whole) {
			t.Fatalf("the join of %d parts differs from the whole", len(parts))
		}
		value := func(o *crdt.Object) int64 {
			if o.Type() == 0 {
				return 0
			}
			return o.Value().(int64)
		}
		want := value(whole)
		for i, p := range parts {
			lagging.Join(p)
			if v := value(lagging); v > want {
				t.Fatalf("after %d of %d parts the lagging copy counts %d, more than the whole's %d", i+1, len(parts), v, want)
			}
		}
		if !lagging.Equal(whole) {
			t.Fatal("the lagging copy joined every part and differs from the whole")
		}
	})
}

// An object holding a leaf other than a counter's has no writer parts.
func TestWriterPartsOnlyCounters(t *testing.T) {
	o := crdt.NewObject()
	if _, err := o.Apply(lawReplicas[0], crdt.Timestamp{Wall: simStart}, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.MustInt(1)}); err != nil {
		t.Fatal(err)
	}
	if o.CounterOnly() || o.WriterParts(10, 1000, nil) != nil {
		t.Fatal("a set was split by writer")
	}
	if ps := crdt.NewObject().WriterParts(10, 1000, nil); len(ps) != 1 {
		t.Fatalf("an empty object gives %d parts, want 1", len(ps))
	}
}
