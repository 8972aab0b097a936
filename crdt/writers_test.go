package crdt_test

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/lattice-sync/lattice/crdt"
)

// Tests that a counter written by many replicas costs, per write, what the
// write names: its writer's entries and context entry (issue 13).

// accessStore counts how a join reaches the store.
type accessStore struct {
	crdt.Store
	leaves, ranges, writers, writes int
}

func (s *accessStore) Leaf(key string) ([]crdt.Entry, error) {
	s.leaves++
	return s.Store.Leaf(key)
}

func (s *accessStore) Range(lo, hi string, fn func(string, []crdt.Entry) error) error {
	s.ranges++
	return s.Store.Range(lo, hi, fn)
}

func (s *accessStore) ReplicaLeaf(key string, r crdt.ReplicaID) ([]crdt.Entry, error) {
	s.writers++
	return s.Store.ReplicaLeaf(key, r)
}

func (s *accessStore) SetReplicaLeaf(key string, r crdt.ReplicaID, es []crdt.Entry) error {
	s.writes++
	return s.Store.SetReplicaLeaf(key, r, es)
}

// manyWriters returns a counter incremented once by each of n replicas.
func manyWriters(t testing.TB, n int) *crdt.Object {
	t.Helper()
	o := crdt.NewObject()
	for i := range n {
		w := crdt.NewObject()
		if _, err := w.Apply(benchReplica(i), benchTime(i), crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1}); err != nil {
			t.Fatal(err)
		}
		o.Join(w)
	}
	return o
}

// One increment joined into a counter of 5,000 writers reads and writes
// only its writer's entries, and its lazy context reads only its writer's
// entry: nothing grows with the number of writers.
func TestCounterJoinTouchesOnlyItsWriter(t *testing.T) {
	const n = 5000
	o := manyWriters(t, n)
	// The writer's next increment, made on its own copy.
	w := crdt.NewObject()
	w.Join(o)
	d, err := w.Apply(benchReplica(7), benchTime(n), crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 5})
	if err != nil {
		t.Fatal(err)
	}
	full := o.Meta()
	var loads []crdt.ReplicaID
	m := crdt.Meta{Types: full.Types, Ctx: crdt.NewLazyContext(func(r crdt.ReplicaID) (uint64, []uint64, error) {
		loads = append(loads, r)
		top, cloud := full.Ctx.Entry(r)
		return top, cloud, nil
	})}
	st := &accessStore{Store: o}
	if err := crdt.JoinInto(st, &m, d); err != nil {
		t.Fatal(err)
	}
	if st.leaves != 0 || st.ranges != 0 || st.writers != 1 || st.writes != 1 {
		t.Fatalf("join read %d leaves, %d ranges, %d writers and wrote %d writers; want 0, 0, 1, 1", st.leaves, st.ranges, st.writers, st.writes)
	}
	if len(loads) != 1 || loads[0] != benchReplica(7) {
		t.Fatalf("the lazy context loaded %v, want only the writer", loads)
	}
	if ch := m.Ctx.Changed(); len(ch) != 1 || ch[0] != benchReplica(7) {
		t.Fatalf("changed %v, want only the writer", ch)
	}
	if top, cloud := m.Ctx.Entry(benchReplica(7)); top != 2 || len(cloud) != 0 {
		t.Fatalf("writer's entry %d %v, want 2 []", top, cloud)
	}
	if got := o.Value(); got != int64(n+5) {
		t.Fatalf("value %v, want %d", got, n+5)
	}
	if crdt.CounterListBuilt(o) {
		t.Fatal("the join or the read listed every writer")
	}
	// The per-writer join gives what the whole join gives.
	ref := manyWriters(t, n)
	ref.Join(w)
	o.SetMeta(ref.Meta())
	if !o.Equal(ref) {
		t.Fatal("the join by writer differs from the whole join")
	}
}

// An increment made against a lazy context reads its writer's entry and
// the counter's tally, not the other writers'.
func TestCounterApplyTouchesOnlyItsWriter(t *testing.T) {
	o := manyWriters(t, 3000)
	st := &accessStore{Store: o}
	full := o.Meta()
	loads := 0
	m := crdt.Meta{Types: full.Types, Ctx: crdt.NewLazyContext(func(r crdt.ReplicaID) (uint64, []uint64, error) {
		loads++
		top, cloud := full.Ctx.Entry(r)
		return top, cloud, nil
	})}
	if _, err := crdt.Apply(st, &m, benchReplica(9), benchTime(0), crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpDec, By: 2}); err != nil {
		t.Fatal(err)
	}
	if st.leaves != 0 || st.ranges != 0 || loads != 1 {
		t.Fatalf("apply read %d leaves, %d ranges, %d context entries; want 0, 0, 1", st.leaves, st.ranges, loads)
	}
	if got := o.Value(); got != int64(3000-2) {
		t.Fatalf("value %v, want %d", got, 3000-2)
	}
}

// A lazy context's source failing fails the join, which must then be
// thrown away.
func TestLazyContextError(t *testing.T) {
	boom := errors.New("boom")
	m := crdt.Meta{Types: crdt.TypeSetOf(crdt.TypePNCounter), Ctx: crdt.NewLazyContext(func(crdt.ReplicaID) (uint64, []uint64, error) {
		return 0, nil, boom
	})}
	d := manyWriters(t, 1)
	if err := crdt.JoinInto(crdt.NewObject(), &m, d); !errors.Is(err, boom) {
		t.Fatalf("join with a failing source: %v", err)
	}
}

// The tally of a counter is exact past 2^64, and reads saturate at
// MaxSafeInt as the sum over the leaf does.
func TestTallyExact(t *testing.T) {
	var tl crdt.Tally
	for i := range 4 {
		tl.Add(crdt.Entry{Dot: crdt.Dot{Replica: benchReplica(i), Seq: 1}, P: math.MaxUint64 / 2})
	}
	if tl.P.Hi != 1 || tl.Writers != 4 {
		t.Fatalf("tally %+v", tl)
	}
	if p, _, pOver, nOver := tl.Sums(); p != crdt.MaxSafeInt || !pOver || nOver {
		t.Fatalf("sums %d %v %v", p, pOver, nOver)
	}
	for range 4 {
		tl.Sub(crdt.Entry{P: math.MaxUint64 / 2})
	}
	if tl != (crdt.Tally{}) {
		t.Fatalf("tally after taking every writer out: %+v", tl)
	}
}

// BenchmarkCounterJoinWriters joins one increment into a counter of 1 and
// of 100,000 writers: the time per join should not depend on the number.
func BenchmarkCounterJoinWriters(b *testing.B) {
	for _, n := range []int{1, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			o := manyWriters(b, n)
			w := crdt.NewObject()
			w.Join(o)
			ds := make([]*crdt.Object, b.N)
			for i := range ds {
				d, err := w.Apply(benchReplica(0), benchTime(i), crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1})
				if err != nil {
					b.Fatal(err)
				}
				ds[i] = d
			}
			b.ResetTimer()
			for _, d := range ds {
				o.Join(d)
			}
		})
	}
}

// A counter written once by each of 100,000 replicas (10,000 under -short)
// encodes in at most 20 bytes per writer: the 16-byte id, named once, and a
// few bytes of entry and context; it decodes back (a table of more than
// 2^16 replicas writes its dots unpacked). A counter of 5,000 writers in
// binary version 1, which stored data may still hold, decodes to the same
// state.
func TestManyWritersStateSize(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	o := manyWriters(t, n)
	b := mustMarshal(t, o)
	per := float64(len(b)) / float64(n)
	t.Logf("%d writers: %d bytes, %.2f per writer", n, len(b), per)
	if per > 20 {
		t.Fatalf("%.2f bytes per writer, want at most 20", per)
	}
	if d, err := crdt.UnmarshalObject(b); err != nil || !d.Equal(o) {
		t.Fatalf("decoding: %v", err)
	}
	small := manyWriters(t, 5000)
	old := crdt.MarshalBinaryIn(small, 1)
	d, err := crdt.UnmarshalObject(old)
	if err != nil {
		t.Fatalf("version 1: %v", err)
	}
	if !d.Equal(small) {
		t.Fatal("version 1 decodes to another state")
	}
	if cur := mustMarshal(t, small); len(old) <= len(cur) {
		t.Fatalf("version 1 takes %d bytes, version 2 %d", len(old), len(cur))
	}
}

// An encoding whose table names more than 2^16 replicas writes its dots as
// index and sequence apart: a map whose counter field 70,000 replicas wrote,
// with a set element, a register and a dot seen out of order, round-trips.
func TestLargeTableDotsRoundTrip(t *testing.T) {
	const n = 70_000
	o := crdt.NewObject()
	field := func(name string, typ crdt.Type, kind crdt.OpKind) crdt.Op {
		return crdt.Op{Type: typ, Kind: kind, Path: []string{name}, By: 1, Value: crdt.String("x")}
	}
	for i := range n {
		d, err := crdt.NewObject().Apply(benchReplica(i), benchTime(i), field("likes", crdt.TypeGCounter, crdt.OpInc))
		if err != nil {
			t.Fatal(err)
		}
		o.Join(d)
	}
	// Another writer adds a set element; a third sets a register twice,
	// and only its second write arrives, so its dot stays in the cloud.
	for r, ops := range [][]crdt.Op{{field("tags", crdt.TypeORSet, crdt.OpAdd)}, {field("tags", crdt.TypeORSet, crdt.OpAdd), field("title", crdt.TypeLWW, crdt.OpSet)}} {
		w := crdt.NewObject()
		var last *crdt.Object
		for _, op := range ops {
			d, err := w.Apply(benchReplica(n+r), benchTime(n), op)
			if err != nil {
				t.Fatal(err)
			}
			last = d
		}
		o.Join(last)
	}
	if len(o.Context().Cloud()) != 1 {
		t.Fatalf("cloud %v, want one dot", o.Context().Cloud())
	}
	requireRoundTrip(t, o)
	if got := len(o.Replicas()); got != n+2 {
		t.Fatalf("%d replicas, want %d", got, n+2)
	}
}
