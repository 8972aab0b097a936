package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/lattice-sync/lattice/crdt"
)

// A counter's leaf is kept by writer, so that an increment reads and writes
// that writer's entries and the leaf's tally, whatever the number of
// writers:
//
//	o <len(key)> <key> <leafkey>                          the leaf's crdt.Tally (tallyLayout)
//	w <len(key)> <key> <len(leafkey)> <leafkey> <replica> one writer's entries
//
// A counter leaf in the first layout (all entries under the 'o' key) is
// still read; its next write rewrites it in this one.

const pfxWriter = 'w'

// tallyLayout is the first byte of a counter tally. An 'o' value in the
// first layout begins with crdt's binary version (1).
const tallyLayout = 0xC3

func encodeTally(t crdt.Tally) []byte {
	b := []byte{tallyLayout}
	for _, x := range []uint64{t.P.Hi, t.P.Lo, t.N.Hi, t.N.Lo, t.Writers} {
		b = binary.AppendUvarint(b, x)
	}
	return b
}

func decodeTally(v []byte) (crdt.Tally, error) {
	var xs [5]uint64
	v = v[1:]
	for i := range xs {
		x, n := binary.Uvarint(v)
		if n <= 0 {
			return crdt.Tally{}, errors.New("bad counter tally")
		}
		xs[i], v = x, v[n:]
	}
	if len(v) != 0 {
		return crdt.Tally{}, errors.New("bad counter tally")
	}
	return crdt.Tally{P: crdt.Uint128{Hi: xs[0], Lo: xs[1]}, N: crdt.Uint128{Hi: xs[2], Lo: xs[3]}, Writers: xs[4]}, nil
}

func isTally(v []byte) bool { return len(v) > 0 && v[0] == tallyLayout }

func (s *objectStore) writerPrefix(leaf string) []byte {
	b := binary.AppendUvarint(append([]byte(nil), s.writerPfx...), uint64(len(leaf)))
	return append(b, leaf...)
}

// writers reads every writer's entries of a counter leaf in this layout,
// in replica order: the leaf's entries, sorted by dot.
func (s *objectStore) writers(leaf string) ([]crdt.Entry, error) {
	p := s.writerPrefix(leaf)
	var all []crdt.Entry
	err := s.txn.scan(p, p, func(_, v []byte) (bool, error) {
		es, err := crdt.DecodeLeaf(leaf, v)
		all = append(all, es...)
		return err == nil, err
	})
	if err != nil {
		return nil, fmt.Errorf("counter %q writers: %w", leaf, err)
	}
	return all, nil
}

// ReplicaLeaf implements crdt.Store.
func (s *objectStore) ReplicaLeaf(leaf string, r crdt.ReplicaID) ([]crdt.Entry, error) {
	v, ok, err := s.txn.get(s.leafKey(leaf))
	if err != nil || !ok {
		return nil, err
	}
	if !isTally(v) {
		es, err := crdt.DecodeLeaf(leaf, v)
		if err != nil {
			return nil, err
		}
		var mine []crdt.Entry
		for _, e := range es {
			if e.Dot.Replica == r {
				mine = append(mine, e)
			}
		}
		return mine, nil
	}
	w, ok, err := s.txn.get(append(s.writerPrefix(leaf), r[:]...))
	if err != nil || !ok {
		return nil, err
	}
	return crdt.DecodeLeaf(leaf, w)
}

// CounterTally implements crdt.Store.
func (s *objectStore) CounterTally(leaf string) (crdt.Tally, error) {
	v, ok, err := s.txn.get(s.leafKey(leaf))
	if err != nil || !ok {
		return crdt.Tally{}, err
	}
	if !isTally(v) {
		es, err := crdt.DecodeLeaf(leaf, v)
		return crdt.TallyOf(es), err
	}
	return decodeTally(v)
}

// SetReplicaLeaf implements crdt.Store. A leaf still in the first layout
// is rewritten by writer first.
func (s *objectStore) SetReplicaLeaf(leaf string, r crdt.ReplicaID, es []crdt.Entry) error {
	v, ok, err := s.txn.get(s.leafKey(leaf))
	if err != nil {
		return err
	}
	if ok && !isTally(v) {
		old, err := crdt.DecodeLeaf(leaf, v)
		if err != nil {
			return err
		}
		if err := s.setCounterLeaf(leaf, old, old); err != nil {
			return fmt.Errorf("rewriting counter %q by writer: %w", leaf, err)
		}
		v, ok = encodeTally(crdt.TallyOf(old)), true
	}
	var t crdt.Tally
	if ok {
		if t, err = decodeTally(v); err != nil {
			return err
		}
	}
	wk := append(s.writerPrefix(leaf), r[:]...)
	var old []crdt.Entry
	if w, ok, err := s.txn.get(wk); err != nil {
		return err
	} else if ok {
		if old, err = crdt.DecodeLeaf(leaf, w); err != nil {
			return err
		}
	}
	if err := s.diffDots(leaf, old, es); err != nil {
		return err
	}
	t.Replace(old, es)
	if len(es) == 0 {
		err = s.txn.del(wk)
	} else {
		err = s.txn.set(wk, crdt.EncodeLeaf(leaf, es))
	}
	if err != nil {
		return err
	}
	if t.Writers == 0 {
		return s.txn.del(s.leafKey(leaf))
	}
	return s.txn.set(s.leafKey(leaf), encodeTally(t))
}

// setCounterLeaf writes a counter leaf whose entries go from old to es,
// both sorted by dot, by writer: the writers whose entries changed, the
// tally and the dot index. A writer whose entries did not change is not
// written again, so joining a state of many writers into one that holds
// most of them costs the ones that changed.
func (s *objectStore) setCounterLeaf(leaf string, old, es []crdt.Entry) error {
	groups := func(es []crdt.Entry) map[crdt.ReplicaID][]crdt.Entry {
		g := map[crdt.ReplicaID][]crdt.Entry{}
		for _, e := range es {
			g[e.Dot.Replica] = append(g[e.Dot.Replica], e)
		}
		return g
	}
	before, after := groups(old), groups(es)
	// A leaf still in the first layout has no writer keys yet: all are
	// written. (Its stored value is the leaf, not a tally.)
	v, stored, err := s.txn.get(s.leafKey(leaf))
	if err != nil {
		return err
	}
	byWriter := stored && isTally(v)
	p := s.writerPrefix(leaf)
	for r := range before {
		if _, ok := after[r]; !ok {
			if err := s.txn.del(append(append([]byte(nil), p...), r[:]...)); err != nil {
				return err
			}
		}
	}
	for r, mine := range after {
		if byWriter && slices.Equal(before[r], mine) {
			continue // unchanged: a state join names every writer, most as they were
		}
		if err := s.txn.set(append(append([]byte(nil), p...), r[:]...), crdt.EncodeLeaf(leaf, mine)); err != nil {
			return err
		}
	}
	if len(es) == 0 {
		return s.txn.del(s.leafKey(leaf))
	}
	return s.txn.set(s.leafKey(leaf), encodeTally(crdt.TallyOf(es)))
}

// diffDots keeps the dot index in step with a leaf going from old to es.
func (s *objectStore) diffDots(leaf string, old, es []crdt.Entry) error {
	// The dot index holds the dots a remove can reach (Entry.EachLiveDot):
	// only the difference is written, so deleting one character of a text
	// block touches one dot key, not the block's.
	return crdt.DiffLiveDots(old, es,
		func(d crdt.Dot) error { return s.txn.del(dotKey(s.dotPfx, d)) },
		func(d crdt.Dot) error { return s.txn.set(dotKey(s.dotPfx, d), []byte(leaf)) })
}
