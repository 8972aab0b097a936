package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lattice-sync/lattice/crdt"
)

// objectStore is one object's leaves inside a Badger transaction, as
// crdt.Apply and crdt.JoinInto reach them. It is what makes a write to one
// field of a huge map cost the size of the delta: only the leaves and dots
// the delta names are read and written.
type objectStore struct {
	txn       kv
	leafPfx   []byte
	dotPfx    []byte
	writerPfx []byte
}

var _ crdt.Store = (*objectStore)(nil)

func newObjectStore(txn kv, key string) *objectStore {
	return &objectStore{txn: txn, leafPfx: objPrefix(pfxLeaf, key), dotPfx: objPrefix(pfxDot, key), writerPfx: objPrefix(pfxWriter, key)}
}

func (s *objectStore) leafKey(leaf string) []byte {
	return append(append([]byte(nil), s.leafPfx...), leaf...)
}

func (s *objectStore) Leaf(leaf string) ([]crdt.Entry, error) {
	v, ok, err := s.txn.get(s.leafKey(leaf))
	if err != nil || !ok {
		return nil, err
	}
	return s.decodeLeaf(leaf, v)
}

// decodeLeaf reads the entries of a leaf whose 'o' value is v: the value
// itself, or for a counter kept by writer (counter.go), its writers.
func (s *objectStore) decodeLeaf(leaf string, v []byte) ([]crdt.Entry, error) {
	if isTally(v) {
		return s.writers(leaf)
	}
	return crdt.DecodeLeaf(leaf, v)
}

func (s *objectStore) SetLeaf(leaf string, es []crdt.Entry) error {
	old, err := s.Leaf(leaf)
	if err != nil {
		return err
	}
	if crdt.IsCounterLeaf(leaf) {
		if err := s.diffDots(leaf, old, es); err != nil {
			return err
		}
		return s.setCounterLeaf(leaf, old, es)
	}
	if err := s.diffDots(leaf, old, es); err != nil {
		return err
	}
	if len(es) == 0 {
		return s.txn.del(s.leafKey(leaf))
	}
	return s.txn.set(s.leafKey(leaf), crdt.EncodeLeaf(leaf, es))
}

func (s *objectStore) Range(lo, hi string, fn func(string, []crdt.Entry) error) error {
	return s.txn.scan(s.leafPfx, s.leafKey(lo), func(k, v []byte) (bool, error) {
		leaf := string(k[len(s.leafPfx):])
		if hi != "" && leaf >= hi {
			return false, nil
		}
		es, err := s.decodeLeaf(leaf, v)
		if err == nil {
			err = fn(leaf, es)
		}
		if errors.Is(err, crdt.ErrStop) {
			return false, nil
		}
		return err == nil, err
	})
}

// Dots probes small ranges key by key, which is what a delta's context
// asks for, and scans large ones.
func (s *objectStore) Dots(r crdt.ReplicaID, lo, hi uint64, fn func(crdt.Dot, string) error) error {
	call := func(seq uint64, leaf []byte) (bool, error) {
		err := fn(crdt.Dot{Replica: r, Seq: seq}, string(leaf))
		if errors.Is(err, crdt.ErrStop) {
			return false, nil
		}
		return err == nil, err
	}
	if hi-lo < 64 {
		for seq := lo; ; seq++ {
			v, ok, err := s.txn.get(dotKey(s.dotPfx, crdt.Dot{Replica: r, Seq: seq}))
			if err != nil {
				return err
			}
			if ok {
				if more, err := call(seq, v); err != nil || !more {
					return err
				}
			}
			if seq == hi {
				return nil
			}
		}
	}
	p := append(append([]byte(nil), s.dotPfx...), r[:]...)
	return s.txn.scan(p, binary.BigEndian.AppendUint64(bytes.Clone(p), lo), func(k, v []byte) (bool, error) {
		seq := binary.BigEndian.Uint64(k[len(p):])
		if seq > hi {
			return false, nil
		}
		return call(seq, v)
	})
}

// loadObject reads a whole object into memory.
func loadObject(txn kv, key string) (*crdt.Object, bool, error) {
	m, ok, err := fullMeta(txn, key)
	if err != nil || !ok {
		return crdt.NewObject(), ok, err
	}
	o, err := objectOf(txn, key, m, true)
	return o, o != nil, err
}

// objectOf reads the leaves of the object at key whose whole meta (not a
// lazy one) is m. An
// object of the types that keep one leaf (counters, registers, flags:
// crdt.Type.OneLeaf) is read with a point read of that leaf per type it
// holds, not a scan of its key range; a set, a map or a text is scanned,
// unless scan is false, and then objectOf returns nil.
func objectOf(txn kv, key string, m crdt.Meta, scan bool) (*crdt.Object, error) {
	o := crdt.NewObject()
	st := newObjectStore(txn, key)
	var err error
	oneLeaf := true
	for _, t := range m.Types.List() {
		oneLeaf = oneLeaf && t.OneLeaf()
	}
	if !oneLeaf {
		if !scan {
			return nil, nil
		}
		err = st.Range("", "", func(leaf string, es []crdt.Entry) error {
			return o.SetLeaf(leaf, es)
		})
	} else {
		for t := crdt.TypeGCounter; t.Valid() && err == nil; t++ {
			if !m.Types.Has(t) {
				continue
			}
			leaf := crdt.Path{Root: t}.Key()
			var es []crdt.Entry
			if es, err = st.Leaf(leaf); err == nil && len(es) > 0 {
				err = o.SetLeaf(leaf, es)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("object %q leaves: %w", key, err)
	}
	o.SetMeta(m)
	return o, nil
}
