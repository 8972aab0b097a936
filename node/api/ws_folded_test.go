package api

import (
	"testing"

	"github.com/lattice-sync/lattice/crdt"
)

// TestClientState: a client's state of a counter leaves out the zeroed
// writers but the client's own, and keeps every other entry (a folded
// writer that wrote again keeps its base and raw entry), the context and
// the value; a client's older copy holding the raw entries of the writers
// taken out joins it to the same value; a state of another type is
// untouched.
func TestClientState(t *testing.T) {
	leaf := crdt.Path{Root: crdt.TypePNCounter}.Key()
	id := func(i byte) crdt.ReplicaID { return crdt.ReplicaID{0: 0xAB, 15: i} }
	node := id(0xFF)
	o := crdt.NewObject()
	inc := func(w crdt.ReplicaID, by int64) {
		t.Helper()
		if _, err := o.Apply(w, crdt.Timestamp{Wall: 1}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: by}); err != nil {
			t.Fatal(err)
		}
	}
	for i := byte(1); i <= 4; i++ {
		inc(id(i), int64(i))
	}
	older := o.Clone() // a client's copy from before the folds
	for i := byte(1); i <= 4; i++ {
		if _, err := o.Fold(id(i), crdt.FoldReplica(node)); err != nil {
			t.Fatal(err)
		}
	}
	inc(id(4), 10) // writer 4 returns: base and a raw entry
	inc(id(5), 5)  // writer 5 was never folded
	ctx, value := o.Context(), o.Value()
	me := id(2)
	if got := clientState(o, me); got != 2 {
		t.Fatalf("took out %d writers, want 2 (1 and 3)", got)
	}
	for i, want := range map[byte]int{1: 0, 2: 1, 3: 0, 4: 2, 5: 1} {
		if es, _ := o.ReplicaLeaf(leaf, id(i)); len(es) != want {
			t.Fatalf("writer %d: %v, want %d entries", i, es, want)
		}
	}
	if es, _ := o.ReplicaLeaf(leaf, me); !crdt.IsZeroed(es) {
		t.Fatalf("the client's own entries %v, want its base", es)
	}
	if o.Value() != value || !o.Context().Equal(ctx) {
		t.Fatalf("value %v context %v, want %v %v", o.Value(), o.Context(), value, ctx)
	}
	// The context names the writers taken out, so a client whose older
	// copy holds their raw entries (a snapshot after a resync, or after a
	// cursor the logs no longer reach) drops them when it joins the state:
	// the fold entry alone counts them. Without their context entries it
	// would keep them, and count them twice.
	older.Join(o)
	if older.Value() != value {
		t.Fatalf("an older copy joined with the client's state reads %v, want %v", older.Value(), value)
	}
	for _, i := range []byte{1, 3} {
		if es, _ := older.ReplicaLeaf(leaf, id(i)); len(es) != 0 {
			t.Fatalf("an older copy joined with the client's state keeps writer %d's %v", i, es)
		}
	}

	m := crdt.NewObject()
	if _, err := m.Apply(me, crdt.Timestamp{Wall: 1}, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"f"}, Value: crdt.MustInt(1)}); err != nil {
		t.Fatal(err)
	}
	before := m.Clone()
	if clientState(m, me) != 0 || !m.Equal(before) {
		t.Fatal("a map's state changed")
	}
}
