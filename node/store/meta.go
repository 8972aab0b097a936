package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lattice-sync/lattice/crdt"
)

// An object's meta is kept in pieces, so that a write reads and writes only
// the context entries its delta names, however many replicas have written
// the object:
//
//	m <key>                       head: metaLayout, the type set, the number of context entries
//	c <len(key)> <key> <replica>  one replica's context entry: top, then the dots above it seen out of order
//
// A head in the first layout (crdt.Meta's binary encoding, the whole
// context in one value) is still read; the object's next write rewrites it
// in this one (migrateMeta).

// metaLayout is the first byte of a head in this layout. The first layout
// began with crdt's binary version (1), so the two cannot be confused.
const metaLayout = 0xC2

const pfxCtx = 'c'

// metaHead is what the head of an object's meta holds.
type metaHead struct {
	types   crdt.TypeSet
	entries uint64 // context entries stored under 'c'
	// legacy is the whole context of a head in the first layout, which
	// the next store writes out entry by entry.
	legacy *crdt.CausalContext
}

func encodeHead(h metaHead) []byte {
	b := binary.AppendUvarint([]byte{metaLayout}, uint64(h.types))
	return binary.AppendUvarint(b, h.entries)
}

func decodeHead(v []byte) (metaHead, error) {
	if len(v) == 0 {
		return metaHead{}, errors.New("empty meta")
	}
	if v[0] != metaLayout {
		var m crdt.Meta
		if err := m.UnmarshalBinary(v); err != nil {
			return metaHead{}, err
		}
		return metaHead{types: m.Types, entries: uint64(len(m.Ctx.VersionVector().Replicas())), legacy: &m.Ctx}, nil
	}
	ts, n := binary.Uvarint(v[1:])
	if n <= 0 || ts > 0xffff {
		return metaHead{}, errors.New("bad type set")
	}
	count, k := binary.Uvarint(v[1+n:])
	if k <= 0 || 1+n+k != len(v) {
		return metaHead{}, errors.New("bad entry count")
	}
	types := crdt.TypeSet(ts)
	if !types.Valid() {
		return metaHead{}, fmt.Errorf("unknown types %#x", ts)
	}
	return metaHead{types: types, entries: count}, nil
}

func ctxKey(prefix []byte, r crdt.ReplicaID) []byte {
	return append(append([]byte(nil), prefix...), r[:]...)
}

func encodeCtxEntry(top uint64, cloud []uint64) []byte {
	b := binary.AppendUvarint(nil, top)
	prev := top
	for _, s := range cloud {
		b = binary.AppendUvarint(b, s-prev)
		prev = s
	}
	return b
}

func decodeCtxEntry(v []byte) (top uint64, cloud []uint64, err error) {
	top, n := binary.Uvarint(v)
	if n <= 0 {
		return 0, nil, errors.New("bad context entry")
	}
	prev := top
	for v = v[n:]; len(v) > 0; v = v[n:] {
		var d uint64
		if d, n = binary.Uvarint(v); n <= 0 || d == 0 {
			return 0, nil, errors.New("bad context entry")
		}
		prev += d
		cloud = append(cloud, prev)
	}
	return top, cloud, nil
}

// storedMeta is an object's meta as a transaction sees it: the head, and a
// lazy context that reads an entry from txn the first time a mutation or a
// join asks for it.
type storedMeta struct {
	head   metaHead
	m      crdt.Meta
	absent map[crdt.ReplicaID]bool // loaded entries that were not stored
}

// openMeta reads key's head and makes its lazy context; a missing object
// has none.
func openMeta(txn kv, key string) (*storedMeta, bool, error) {
	sm := &storedMeta{absent: map[crdt.ReplicaID]bool{}}
	v, ok, err := txn.get(metaKey(key))
	if err != nil {
		return nil, false, err
	}
	if ok {
		if sm.head, err = decodeHead(v); err != nil {
			return nil, false, fmt.Errorf("object %q meta: %w", key, err)
		}
	}
	pfx := objPrefix(pfxCtx, key)
	sm.m = crdt.Meta{Types: sm.head.types, Ctx: crdt.NewLazyContext(func(r crdt.ReplicaID) (uint64, []uint64, error) {
		if l := sm.head.legacy; l != nil {
			top, cloud := l.Entry(r)
			sm.absent[r] = top == 0 && len(cloud) == 0
			return top, cloud, nil
		}
		v, ok, err := txn.get(ctxKey(pfx, r))
		if err != nil || !ok {
			sm.absent[r] = true
			return 0, nil, err
		}
		top, cloud, err := decodeCtxEntry(v)
		if err != nil {
			return 0, nil, fmt.Errorf("object %q context entry %s: %w", key, r, err)
		}
		return top, cloud, nil
	})}
	return sm, ok, nil
}

// store writes what m changed since it was read (or last stored): the
// context entries of the replicas it changed, and the head if the types or
// the number of entries changed. A head in the first layout is rewritten
// in this one, with every entry.
func (sm *storedMeta) store(txn kv, key string, m *crdt.Meta) error {
	pfx := objPrefix(pfxCtx, key)
	head := metaHead{types: m.Types, entries: sm.head.entries}
	changed := m.Ctx.Changed()
	if l := sm.head.legacy; l != nil {
		// Migration: every entry is written, and counted, anew.
		changed = append(changed, l.VersionVector().Replicas()...)
		for _, d := range l.Cloud() {
			changed = append(changed, d.Replica)
		}
		head.entries = 0
	}
	done := map[crdt.ReplicaID]bool{}
	for _, r := range changed {
		if done[r] {
			continue
		}
		done[r] = true
		top, cloud := m.Ctx.Entry(r)
		if err := txn.set(ctxKey(pfx, r), encodeCtxEntry(top, cloud)); err != nil {
			return fmt.Errorf("object %q context entry: %w", key, err)
		}
		if sm.absent[r] || sm.head.legacy != nil {
			head.entries++
			sm.absent[r] = false
		}
	}
	if err := m.Ctx.Err(); err != nil {
		return fmt.Errorf("object %q context: %w", key, err)
	}
	m.Ctx.ResetChanged()
	if head.types != sm.head.types || head.entries != sm.head.entries || sm.head.legacy != nil {
		if err := txn.set(metaKey(key), encodeHead(head)); err != nil {
			return fmt.Errorf("object %q meta: %w", key, err)
		}
	}
	sm.head = head
	return nil
}

// fullMeta reads key's whole meta, every context entry: for reads of the
// whole object.
func fullMeta(txn kv, key string) (crdt.Meta, bool, error) {
	v, ok, err := txn.get(metaKey(key))
	if err != nil || !ok {
		return crdt.Meta{}, false, err
	}
	head, err := decodeHead(v)
	if err != nil {
		return crdt.Meta{}, false, fmt.Errorf("object %q meta: %w", key, err)
	}
	if head.legacy != nil {
		return crdt.Meta{Types: head.types, Ctx: *head.legacy}, true, nil
	}
	m := crdt.Meta{Types: head.types}
	pfx := objPrefix(pfxCtx, key)
	err = txn.scan(pfx, pfx, func(k, v []byte) (bool, error) {
		if len(k) != len(pfx)+len(crdt.ReplicaID{}) {
			return false, fmt.Errorf("bad context key %x", k)
		}
		r := crdt.ReplicaID(k[len(pfx):])
		top, cloud, err := decodeCtxEntry(v)
		if err != nil {
			return false, fmt.Errorf("context entry %s: %w", r, err)
		}
		m.Ctx.SetEntry(r, top, cloud)
		return true, nil
	})
	if err != nil {
		return crdt.Meta{}, false, fmt.Errorf("object %q context: %w", key, err)
	}
	return m, true, nil
}
