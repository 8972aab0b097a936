package store

import (
	"context"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/lattice-sync/lattice/crdt"
)

// writeFirstLayout stores o under key as the first layout did: the whole
// meta in the 'm' value, each leaf's entries in its 'o' value, a dot index.
func writeFirstLayout(t *testing.T, n *Store, key string, o *crdt.Object) {
	t.Helper()
	m := o.Meta()
	mb, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	err = n.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(metaKey(key), mb); err != nil {
			return err
		}
		st := newObjectStore(readKV{txn}, key)
		return o.Range("", "", func(leaf string, es []crdt.Entry) error {
			if err := txn.Set(st.leafKey(leaf), crdt.EncodeLeaf(leaf, es)); err != nil {
				return err
			}
			for _, e := range es {
				if err := txn.Set(dotKey(st.dotPfx, e.Dot), []byte(leaf)); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// countKeys counts the keys under a prefix.
func countKeys(t *testing.T, n *Store, p []byte) int {
	t.Helper()
	c := 0
	err := n.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			c++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// An object stored in the first layout (whole context in its meta, a
// counter's entries in one value) reads as before, and its next write
// rewrites it in this one: a context key per replica, a key per writer.
func TestFirstLayoutMigratesOnWrite(t *testing.T) {
	n, err := openStore(testConfig(t, "migrate"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	const writers = 50
	inc := crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 2}
	o := crdt.NewObject()
	for i := range writers {
		d, err := crdt.NewObject().Apply(writerID(i), crdt.Timestamp{Wall: 1}, inc)
		if err != nil {
			t.Fatal(err)
		}
		o.Join(d)
	}
	writeFirstLayout(t, n, "old", o)
	if got := counterValue(t, n, "old"); got != 2*writers {
		t.Fatalf("first layout reads %d, want %d", got, 2*writers)
	}
	keys, _, err := n.Keys("", "", 10)
	if err != nil || len(keys) != 1 || keys[0].Type != crdt.TypePNCounter {
		t.Fatalf("listing a first-layout object: %v %v", keys, err)
	}
	// A node write, and a client write by a writer the old meta holds.
	if _, err := n.Apply(context.Background(), "old", inc); err != nil {
		t.Fatal(err)
	}
	mine := crdt.NewObject()
	mine.Join(o)
	d, err := mine.Apply(writerID(3), crdt.Timestamp{Wall: time.Now().UnixMilli()}, inc)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.JoinClient(context.Background(), writerID(3), "old", d); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, n, "old"); got != 2*writers+4 {
		t.Fatalf("after the writes %d, want %d", got, 2*writers+4)
	}
	if c := countKeys(t, n, objPrefix(pfxCtx, "old")); c != writers+1 {
		t.Fatalf("%d context keys, want %d (every writer and the node)", c, writers+1)
	}
	if c := countKeys(t, n, objPrefix(pfxWriter, "old")); c != writers+1 {
		t.Fatalf("%d writer keys, want %d", c, writers+1)
	}
	err = n.db.View(func(txn *badger.Txn) error {
		v, ok, err := readKV{txn}.get(metaKey("old"))
		if err != nil || !ok {
			t.Fatalf("meta: %v %v", ok, err)
		}
		h, err := decodeHead(v)
		if err != nil || h.legacy != nil || h.entries != writers+1 {
			t.Fatalf("meta head %+v %v: want this layout, %d entries", h, err, writers+1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The state is the one the writes make in memory.
	want := o.Clone()
	want.Join(d)
	got, err := n.Get("old")
	if err != nil {
		t.Fatal(err)
	}
	if got.Value() != want.Value().(int64)+2 || len(got.Replicas()) != writers+1 {
		t.Fatalf("state %v with %d replicas", got.Value(), len(got.Replicas()))
	}
}
