package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/lattice-sync/lattice/crdt"
)

// rangeObject reads key's object by scanning all its leaves, the way every
// type was read before loadObject learnt point reads.
func rangeObject(t *testing.T, n *Store, key string) *crdt.Object {
	t.Helper()
	o := crdt.NewObject()
	err := n.db.View(func(txn *badger.Txn) error {
		m, _, err := fullMeta(readKV{txn}, key)
		if err != nil {
			return err
		}
		o.SetMeta(m)
		return newObjectStore(readKV{txn}, key).Range("", "", func(leaf string, es []crdt.Entry) error {
			return o.SetLeaf(leaf, es)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// Every type reads back the same through loadObject (point reads for the
// one-leaf types) as through a scan of its leaves, after many writes of
// one hot key.
func TestLoadObjectPointReadsMatchScan(t *testing.T) {
	n, err := openStore(testConfig(t, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	ops := map[string]func(i int) crdt.Op{
		"gcounter": func(int) crdt.Op { return crdt.Op{Type: crdt.TypeGCounter, Kind: crdt.OpInc, By: 2} },
		"counter":  func(i int) crdt.Op { return crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpDec, By: int64(i)} },
		"lww": func(i int) crdt.Op {
			return crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Value: crdt.MustInt(int64(i))}
		},
		"mvreg": func(i int) crdt.Op {
			return crdt.Op{Type: crdt.TypeMVRegister, Kind: crdt.OpSet, Value: crdt.MustInt(int64(i))}
		},
		"flag": func(i int) crdt.Op {
			if i%2 == 0 {
				return crdt.Op{Type: crdt.TypeEWFlag, Kind: crdt.OpEnable}
			}
			return crdt.Op{Type: crdt.TypeEWFlag, Kind: crdt.OpDisable}
		},
		"set": func(i int) crdt.Op {
			if i%3 == 2 {
				return crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpRemove, Value: crdt.MustInt(int64(i - 1))}
			}
			return crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.MustInt(int64(i % 7))}
		},
		"map": func(i int) crdt.Op {
			return crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{fmt.Sprintf("f%d", i%5)}, Value: crdt.MustInt(int64(i))}
		},
		// A text keeps a leaf per block of 256 characters: 300 inserts
		// of two make three blocks, all of which a read must find.
		"text": func(i int) crdt.Op {
			return crdt.Op{Type: crdt.TypeText, Kind: crdt.OpInsert, Index: int64(i), Value: crdt.String("ab")}
		},
	}
	for name, op := range ops {
		for i := 0; i < 300; i++ {
			if _, err := n.Apply(ctx, name, op(i)); err != nil {
				t.Fatalf("%s, write %d: %v", name, i, err)
			}
		}
		got, err := n.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		want := rangeObject(t, n, name)
		if !got.Equal(want) {
			t.Errorf("%s: loadObject gives %v, a scan of its leaves %v", name, got.Value(), want.Value())
		}
		if got.IsEmpty() && name != "flag" {
			t.Errorf("%s: empty after 300 writes", name)
		}
	}
}

// readKV.scan sees the newest version of each key, skips deleted keys and
// stops at the prefix's end, however many versions a key has.
func TestReadKVScanNewestVersions(t *testing.T) {
	n, err := openStore(testConfig(t, "scan"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	put := func(k, v string) {
		if err := n.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(k), []byte(v)) }); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 200; i++ {
		put("p/a", fmt.Sprint("a", i))
		put("p/b", fmt.Sprint("b", i))
	}
	put("p/c", "c")
	put("p/d", "d0")
	if err := n.db.Update(func(txn *badger.Txn) error { return txn.Delete([]byte("p/d")) }); err != nil {
		t.Fatal(err)
	}
	put("p/e", "e")
	put("q/a", "outside")
	var got bytes.Buffer
	err = n.db.View(func(txn *badger.Txn) error {
		return readKV{txn}.scan([]byte("p/"), []byte("p/"), func(k, v []byte) (bool, error) {
			fmt.Fprintf(&got, "%s=%s ", k, v)
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "p/a=a199 p/b=b199 p/c=c p/e=e "; got.String() != want {
		t.Errorf("scan gave %q, want %q", got.String(), want)
	}
}

// An operation's answer carries the state the commit wrote for a one-leaf
// type, equal to a read after it (for a counter, its value from the tally),
// and none for a map (read back instead).
func TestApplyAnswersFromTheCommit(t *testing.T) {
	n, err := openStore(testConfig(t, "answer"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	for i := 1; i <= 20; i++ {
		r, err := n.apply(ctx, "c", crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 2})
		if err != nil {
			t.Fatal(err)
		}
		if r.answer == nil || r.answer.Type != crdt.TypePNCounter || r.answer.Value != int64(2*i) {
			t.Fatalf("write %d answered %+v, want a counter at %d", i, r.answer, 2*i)
		}
		read, err := n.Get("c")
		if err != nil {
			t.Fatal(err)
		}
		if read.Value() != r.answer.Value {
			t.Fatalf("write %d: the commit's value %v differs from a read %v", i, r.answer.Value, read.Value())
		}
		r, err = n.apply(ctx, "r", crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Value: crdt.MustInt(int64(i))})
		if err != nil {
			t.Fatal(err)
		}
		if r.state == nil {
			t.Fatal("a register's write carries no state")
		}
		if got := r.state.Value(); got != int64(i) {
			t.Fatalf("write %d answered %v, want %d", i, got, i)
		}
		if read, err = n.Get("r"); err != nil {
			t.Fatal(err)
		}
		if !read.Equal(r.state) {
			t.Fatalf("write %d: the commit's state %v differs from a read %v", i, r.state.Value(), read.Value())
		}
	}
	r, err := n.apply(ctx, "m", crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"f"}, Value: crdt.MustInt(1)})
	if err != nil {
		t.Fatal(err)
	}
	if r.state != nil {
		t.Errorf("a map's write carries a state (%v): it would cost a scan in the committer", r.state.Value())
	}
	o, err := n.ApplyAndRead(ctx, "m", crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"g"}, Value: crdt.MustInt(2)})
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if raw, _ := o.Value.(json.RawMessage); json.Unmarshal(raw, &v) != nil || len(v) != 2 {
		t.Errorf("map answered %v, want two fields", o.Value)
	}
}
