package api

import (
	"errors"
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
	if got := clientState(o, me, false); got != 2 {
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
	if clientState(m, me, true) != 0 || !m.Equal(before) {
		t.Fatal("a map's state changed")
	}
}

// TestClientStateForget: for an "empty" subscription's first snapshot the
// client's state also leaves the writers taken out out of its context, and
// only them; it still reads the value, and is a valid state (it encodes
// and decodes, and joins). A writer taken out that returns without having
// seen its fold counts once at that client when its delta carries its
// base (withBases), and would count its folded amount twice without it:
// why every later delta to such a client carries bases read after the
// snapshot (liveFor). ForgetReplica refuses a writer the object still
// holds an entry of.
func TestClientStateForget(t *testing.T) {
	leaf := crdt.Path{Root: crdt.TypePNCounter}.Key()
	id := func(i byte) crdt.ReplicaID { return crdt.ReplicaID{0: 0xAB, 15: i} }
	node := id(0xFF)
	o := crdt.NewObject()
	inc := func(o *crdt.Object, w crdt.ReplicaID, by int64) *crdt.Object {
		t.Helper()
		d, err := o.Apply(w, crdt.Timestamp{Wall: 1}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: by})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for i := byte(1); i <= 4; i++ {
		inc(o, id(i), int64(i))
	}
	writer1 := o.Clone() // writer 1's copy, which will not see its fold
	for i := byte(1); i <= 3; i++ {
		if _, err := o.Fold(id(i), crdt.FoldReplica(node)); err != nil {
			t.Fatal(err)
		}
	}
	value := o.Value()
	me := id(2)
	if err := o.Clone().ForgetReplica(id(4)); !errors.Is(err, crdt.ErrInvalidOp) {
		t.Fatalf("forgetting a writer with an entry: %v, want ErrInvalidOp", err)
	}
	st := o.Clone()
	if got := clientState(st, me, true); got != 2 {
		t.Fatalf("took out %d writers, want 2 (1 and 3)", got)
	}
	ctx := st.Context()
	for i, want := range map[byte]bool{1: false, 2: true, 3: false, 4: true} {
		if named := ctx.Max(id(i)) > 0; named != want {
			t.Fatalf("the context names writer %d: %v, want %v", i, named, want)
		}
	}
	if ctx.Max(crdt.FoldReplica(node)) == 0 {
		t.Fatal("the context lacks the fold entry")
	}
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	client := crdt.NewObject()
	if err := client.UnmarshalBinary(b); err != nil {
		t.Fatalf("the state does not decode: %v", err)
	}
	if client.Value() != value {
		t.Fatalf("the client reads %v, want %v", client.Value(), value)
	}
	// Writer 1 returns with its raw totals, 1 + 5.
	d := inc(writer1, id(1), 5)
	bare := client.Clone()
	bare.Join(d)
	if got, want := bare.Value().(int64), value.(int64)+6; got != want {
		t.Fatalf("without its base the return reads %d, want %d (the folded 1 twice)", got, want)
	}
	based := d.Clone()
	if err := based.SetReplicaLeaf(leaf, id(1), append([]crdt.Entry{mustBase(t, o, leaf, id(1))}, mustLeaf(t, d, leaf, id(1))...)); err != nil {
		t.Fatal(err)
	}
	client.Join(based)
	if got, want := client.Value().(int64), value.(int64)+5; got != want {
		t.Fatalf("with its base the return reads %d, want %d", got, want)
	}
}

func mustLeaf(t *testing.T, o *crdt.Object, leaf string, w crdt.ReplicaID) []crdt.Entry {
	t.Helper()
	es, err := o.ReplicaLeaf(leaf, w)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func mustBase(t *testing.T, o *crdt.Object, leaf string, w crdt.ReplicaID) crdt.Entry {
	t.Helper()
	es := mustLeaf(t, o, leaf, w)
	if len(es) == 0 || !es[0].Base {
		t.Fatalf("writer %s has no base: %v", w, es)
	}
	return es[0]
}

// TestLiveFor: a live change that only an "empty" subscription not yet
// answered wants is not sent (its snapshot, read later, holds it); one
// another subscription wants is; a subscription whose first snapshot left
// folded writers' context out has the connection read bases itself.
func TestLiveFor(t *testing.T) {
	c := &wsConn{subs: map[uint64]*wsSub{}}
	e := &wsSub{c: c, id: 1, key: "k", fresh: true, empty: true}
	c.subs[1] = e
	check := func(key string, want, own bool) {
		t.Helper()
		if w, o := c.liveFor(key); w != want || o != own {
			t.Fatalf("liveFor(%q) = %v, %v; want %v, %v", key, w, o, want, own)
		}
	}
	check("k", false, false) // the snapshot to come holds it
	check("other", false, false)
	p := &wsSub{c: c, id: 2, key: "", isPrefix: true, answered: true}
	c.subs[2] = p
	check("k", true, false)
	e.forgot, e.answered = true, true
	check("k", true, true)
	delete(c.subs, 2)
	check("k", true, true)
	check("other", false, false)
}
