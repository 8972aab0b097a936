package crdt_test

import (
	"errors"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/lattice-sync/lattice/crdt"
)

func TestVersionVectorCompare(t *testing.T) {
	a, b, c := lawReplicas[0], lawReplicas[1], lawReplicas[2]
	vv := func(kv ...any) crdt.VersionVector {
		v := crdt.VersionVector{}
		for i := 0; i < len(kv); i += 2 {
			v[kv[i].(crdt.ReplicaID)] = uint64(kv[i+1].(int))
		}
		return v
	}
	cases := []struct {
		name string
		x, y crdt.VersionVector
		want crdt.Ordering
	}{
		{"both empty", vv(), vv(), crdt.Equal},
		{"nil and empty", nil, vv(), crdt.Equal},
		{"same entries", vv(a, 3, b, 1), vv(b, 1, a, 3), crdt.Equal},
		{"explicit zero is missing", vv(a, 2, c, 0), vv(a, 2), crdt.Equal},
		{"missing is zero on the left", vv(a, 2), vv(a, 2, b, 0, c, 0), crdt.Equal},
		{"one entry lower", vv(a, 1, b, 1), vv(a, 2, b, 1), crdt.Before},
		{"entry missing on the left", vv(a, 1), vv(a, 1, b, 1), crdt.Before},
		{"empty before anything", vv(), vv(c, 7), crdt.Before},
		{"one entry higher", vv(a, 5, b, 1), vv(a, 2, b, 1), crdt.After},
		{"entry missing on the right", vv(a, 1, b, 4), vv(a, 1), crdt.After},
		{"each ahead somewhere", vv(a, 2, b, 1), vv(a, 1, b, 2), crdt.Concurrent},
		{"disjoint replicas", vv(a, 1), vv(b, 1), crdt.Concurrent},
		{"ahead and missing", vv(a, 3), vv(a, 2, c, 1), crdt.Concurrent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.x.Compare(tc.y); got != tc.want {
				t.Errorf("%v.Compare(%v) = %v, want %v", tc.x, tc.y, got, tc.want)
			}
			mirror := map[crdt.Ordering]crdt.Ordering{
				crdt.Equal: crdt.Equal, crdt.Before: crdt.After,
				crdt.After: crdt.Before, crdt.Concurrent: crdt.Concurrent,
			}
			if got := tc.y.Compare(tc.x); got != mirror[tc.want] {
				t.Errorf("%v.Compare(%v) = %v, want %v", tc.y, tc.x, got, mirror[tc.want])
			}
		})
	}
}

func TestVersionVectorMerge(t *testing.T) {
	a, b, c := lawReplicas[0], lawReplicas[1], lawReplicas[2]
	v := crdt.VersionVector{a: 3, b: 1}
	o := crdt.VersionVector{a: 1, b: 4, c: 2}
	v.Merge(o)
	want := crdt.VersionVector{a: 3, b: 4, c: 2}
	if v.Compare(want) != crdt.Equal || len(v) != 3 {
		t.Fatalf("merge gave %v, want %v", v, want)
	}
	if o.Compare(crdt.VersionVector{a: 1, b: 4, c: 2}) != crdt.Equal {
		t.Fatalf("merge changed its argument: %v", o)
	}
	if v.Compare(o) != crdt.After {
		t.Fatalf("a merged vector must dominate what it merged")
	}
	if !v.Contains(crdt.Dot{Replica: c, Seq: 2}) || v.Contains(crdt.Dot{Replica: c, Seq: 3}) ||
		v.Contains(crdt.Dot{Replica: c, Seq: 0}) {
		t.Fatalf("Contains disagrees with the entries of %v", v)
	}
	cl := crdt.VersionVector{a: 1, b: 0}.Clone()
	if _, ok := cl[b]; ok || cl[a] != 1 {
		t.Fatalf("Clone kept a zero entry or lost one: %v", cl)
	}
	if rs := v.Replicas(); !slices.IsSortedFunc(rs, compareIDs) || len(rs) != 3 {
		t.Fatalf("Replicas not sorted or incomplete: %v", rs)
	}
}

func compareIDs(x, y crdt.ReplicaID) int {
	return slices.Compare(x[:], y[:])
}

func mkDot(r crdt.ReplicaID, seq uint64) crdt.Dot { return crdt.Dot{Replica: r, Seq: seq} }

func TestCausalContextCompaction(t *testing.T) {
	a, b := lawReplicas[0], lawReplicas[1]
	var c crdt.CausalContext
	if !c.IsEmpty() || c.Contains(mkDot(a, 1)) {
		t.Fatalf("zero context is not empty")
	}
	c.Add(mkDot(a, 1))
	c.Add(mkDot(a, 3))
	c.Add(mkDot(a, 0)) // not a dot: ignored
	c.Add(mkDot(b, 2))
	if !c.Contains(mkDot(a, 1)) || c.Contains(mkDot(a, 2)) || !c.Contains(mkDot(a, 3)) || c.Contains(mkDot(a, 0)) {
		t.Fatalf("Contains wrong before the gap fills")
	}
	if got := c.VersionVector(); got[a] != 1 || got[b] != 0 {
		t.Fatalf("vector %v, want a:1 and nothing for b", got)
	}
	// Canonical order is by replica id bytes, and b's id sorts first.
	if got := c.Cloud(); !slices.Equal(got, []crdt.Dot{mkDot(b, 2), mkDot(a, 3)}) {
		t.Fatalf("cloud %v, want b:2 then a:3", got)
	}
	if c.Size() != 3 {
		t.Fatalf("size %d, want 3 (one vector entry, two cloud dots)", c.Size())
	}
	c.Add(mkDot(a, 2)) // fills the gap: a:3 folds into the vector
	if got := c.VersionVector(); got[a] != 3 {
		t.Fatalf("vector %v after the gap filled, want a:3", got)
	}
	if got := c.Cloud(); !slices.Equal(got, []crdt.Dot{mkDot(b, 2)}) {
		t.Fatalf("cloud %v after the gap filled, want only b:2", got)
	}
	if c.Max(b) != 2 || c.Max(a) != 3 {
		t.Fatalf("Max must look in the cloud: a %d, b %d", c.Max(a), c.Max(b))
	}

	// Next mints above everything seen, the cloud included.
	d, err := c.Next(b)
	if err != nil || d != mkDot(b, 3) || !c.Contains(d) {
		t.Fatalf("Next(b) = %v, %v; want b:3, recorded", d, err)
	}
	if d, _ := c.Next(lawReplicas[2]); d.Seq != 1 {
		t.Fatalf("first dot of a new replica is %v, want seq 1", d)
	}
	c.Add(mkDot(b, crdt.MaxSeq))
	if _, err := c.Next(b); !errors.Is(err, crdt.ErrSeqExhausted) {
		t.Fatalf("Next past MaxSeq: %v, want ErrSeqExhausted", err)
	}
}

func TestCausalContextJoin(t *testing.T) {
	a, b := lawReplicas[0], lawReplicas[1]
	var x, y crdt.CausalContext
	for _, d := range []crdt.Dot{mkDot(a, 1), mkDot(a, 2), mkDot(a, 5), mkDot(b, 2)} {
		x.Add(d)
	}
	for _, d := range []crdt.Dot{mkDot(a, 3), mkDot(a, 4), mkDot(b, 1)} {
		y.Add(d)
	}
	yBefore := y.Clone()
	x.Join(&y)
	if !y.Equal(yBefore) {
		t.Fatalf("Join changed its argument")
	}
	if got := x.VersionVector(); got[a] != 5 || got[b] != 2 || len(x.Cloud()) != 0 {
		t.Fatalf("joined %v + %v, want a:5 b:2 and no cloud", got, x.Cloud())
	}
	x.Join(nil)
	if x.Size() != 2 {
		t.Fatalf("Join(nil) changed the context")
	}
	var empty crdt.CausalContext
	empty.Join(&x)
	if !empty.Equal(&x) {
		t.Fatalf("joining into the zero context lost dots")
	}
}

// TestCausalContextIsADotSet checks the context against plain sets: built
// by adding dots in any order, and joined with another, it contains exactly
// the dots (or the union), and it is always fully compacted, so two
// contexts holding one set of dots are Equal however they were built.
func TestCausalContextIsADotSet(t *testing.T) {
	genDots := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) crdt.Dot {
		return mkDot(rapid.SampledFrom(lawReplicas[:3]).Draw(t, "r"), rapid.Uint64Range(1, 12).Draw(t, "seq"))
	}), 0, 30)
	build := func(ds []crdt.Dot) *crdt.CausalContext {
		var c crdt.CausalContext
		for _, d := range ds {
			c.Add(d)
		}
		return &c
	}
	rapid.Check(t, func(t *rapid.T) {
		xs, ys := genDots.Draw(t, "x"), genDots.Draw(t, "y")
		x, y := build(xs), build(ys)
		union := map[crdt.Dot]bool{}
		for _, d := range append(slices.Clone(xs), ys...) {
			union[d] = true
		}
		j := x.Clone()
		j.Join(y)
		for _, r := range lawReplicas[:3] {
			for s := uint64(0); s <= 13; s++ {
				d := mkDot(r, s)
				if j.Contains(d) != union[d] {
					t.Fatalf("joined context contains %v: %v, union says %v", d, j.Contains(d), union[d])
				}
				if x.Contains(d) != slices.Contains(xs, d) {
					t.Fatalf("context contains %v: %v, its dots say otherwise", d, x.Contains(d))
				}
			}
		}
		shuffled := rapid.Permutation(append(slices.Clone(ys), xs...)).Draw(t, "order")
		if other := build(shuffled); !other.Equal(j) {
			t.Fatalf("same dots, different contexts: %v %v and %v %v",
				j.VersionVector(), j.Cloud(), other.VersionVector(), other.Cloud())
		}
		vv := j.VersionVector()
		cloud := j.Cloud()
		for _, d := range cloud {
			if d.Seq <= vv[d.Replica]+1 {
				t.Fatalf("cloud dot %v should have folded into the vector %v", d, vv)
			}
		}
		if j.Size() != len(vv)+len(cloud) {
			t.Fatalf("size %d, want %d", j.Size(), len(vv)+len(cloud))
		}
	})
}
