package crdt_test

import (
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/lattice-sync/lattice/crdt"
)

// genBigObject builds an object by random edits of two replicas that join
// now and then: a text, a list, or a map holding two texts and a register
// written over and over (whose superseded dots the context alone holds).
func genBigObject(t *rapid.T) *crdt.Object {
	kind := rapid.SampledFrom([]string{"text", "list", "map"}).Draw(t, "kind")
	reps := []*crdt.Object{crdt.NewObject(), crdt.NewObject()}
	now := crdt.Timestamp{Wall: simStart}
	steps := rapid.IntRange(1, 60).Draw(t, "steps")
	for i := 0; i < steps; i++ {
		r := rapid.IntRange(0, 1).Draw(t, "replica")
		o := reps[r]
		now.Wall += 10
		idx := int64(rapid.IntRange(0, 40).Draw(t, "index"))
		var op crdt.Op
		switch kind {
		case "text", "map":
			op = crdt.Op{Type: crdt.TypeText, Kind: crdt.OpInsert, Index: idx,
				Value: crdt.String(strings.Repeat(rapid.SampledFrom([]string{"a", "é", "字", "\x00"}).Draw(t, "ch"), rapid.IntRange(1, 300).Draw(t, "n")))}
			if rapid.IntRange(0, 3).Draw(t, "del") == 0 {
				op = crdt.Op{Type: crdt.TypeText, Kind: crdt.OpDelete, Index: idx, Count: int64(rapid.IntRange(1, 50).Draw(t, "count"))}
			}
			if kind == "map" {
				op.Path = []string{rapid.SampledFrom([]string{"a", "b"}).Draw(t, "field")}
				if rapid.IntRange(0, 3).Draw(t, "reg") == 0 {
					op = crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"c"}, Value: crdt.String("v")}
				}
			}
		case "list":
			op = crdt.Op{Type: crdt.TypeList, Kind: crdt.OpInsert, Index: idx, Value: crdt.String(strings.Repeat("x", rapid.IntRange(1, 200).Draw(t, "n")))}
			switch rapid.IntRange(0, 3).Draw(t, "what") {
			case 0:
				op = crdt.Op{Type: crdt.TypeList, Kind: crdt.OpDelete, Index: idx, Count: 1}
			case 1:
				op = crdt.Op{Type: crdt.TypeList, Kind: crdt.OpMove, Index: idx, To: int64(rapid.IntRange(0, 40).Draw(t, "to"))}
			}
		}
		_, _ = o.Apply(lawReplicas[r], now, op) // an index past the end is refused; fine
		if rapid.IntRange(0, 4).Draw(t, "sync") == 0 {
			reps[1-r].Join(o)
		}
	}
	reps[0].Join(reps[1])
	return reps[0]
}

func checkParts(t *rapid.T, whole *crdt.Object, parts []*crdt.Object, max int, size func(*crdt.Object) int) {
	for i, p := range parts {
		entries := 0
		_ = p.Range("", "", func(_ string, es []crdt.Entry) error {
			entries += len(es)
			return nil
		})
		if n := size(p); n > max && entries > 1 {
			t.Fatalf("part %d of %d is %d bytes, over %d", i, len(parts), n, max)
		}
	}
	order := rapid.Permutation(parts).Draw(t, "order")
	got := crdt.NewObject()
	for _, p := range order {
		got.Join(p)
	}
	if !got.Equal(whole) {
		t.Fatalf("the join of %d parts differs from the whole", len(parts))
	}
}

// Joining an object's parts, in any order, gives the object; no part holding
// more than one leaf exceeds the bound.
func TestPartsJoinToWhole(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		o := genBigObject(t)
		max := rapid.IntRange(64, 4096).Draw(t, "max")
		checkParts(t, o, o.Parts(max), max, crdt.BinarySize)
		checkParts(t, o, o.PartsJSON(max), max, crdt.JSONSize)
	})
}

// Parts from a position, joined to the parts before it, give the whole.
func TestPartsFromResume(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		o := genBigObject(t)
		max := rapid.IntRange(64, 2048).Draw(t, "max")
		parts, starts := o.PartsFrom(crdt.PartPos{}, max, crdt.BinarySize)
		cut := rapid.IntRange(0, len(parts)-1).Draw(t, "cut")
		got := crdt.NewObject()
		for _, p := range parts[:cut] {
			got.Join(p)
		}
		rest, _ := o.PartsFrom(starts[cut], max, crdt.BinarySize)
		for _, p := range rest {
			got.Join(p)
		}
		if !got.Equal(o) {
			t.Fatalf("resumed at part %d of %d: differs from the whole", cut, len(parts))
		}
	})
}

// Every part decodes from both encodings to itself.
func TestPartsEncode(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		o := genBigObject(t)
		for _, p := range o.Parts(512) {
			b, err := p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			q := crdt.NewObject()
			if err := q.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if !q.Equal(p) {
				t.Fatal("binary round trip differs")
			}
			for _, enc := range []func() ([]byte, error){p.MarshalJSON, p.MarshalJSONPart} {
				j, err := enc()
				if err != nil {
					t.Fatal(err)
				}
				r := crdt.NewObject()
				if err := r.UnmarshalJSON(j); err != nil {
					t.Fatal(err)
				}
				if !r.Equal(p) {
					t.Fatal("JSON round trip differs")
				}
			}
		}
	})
}
