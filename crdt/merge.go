package crdt

import (
	"bytes"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Merging a binary batch straight into its targets: JoinBatch decodes a
// crdt.Batch into buffers it keeps for the next one and joins each item's
// leaves into the item's target, never building the intermediate Object
// (its leaf tree, dot index and context) that UnmarshalBatch returns. It
// refuses exactly what UnmarshalBatch refuses, with the same errors, and
// joins nothing unless the whole batch decodes: the result is that of
// UnmarshalBatch followed by JoinInto of each item.

// deltaView is one decoded delta body, held in buffers a Merger reuses:
// what reader.view decodes and an Object is built from.
type deltaView struct {
	types    TypeSet
	explicit bool
	leaves   []leafItem // in key order
	kinds    []leafKind // leaves[i]'s kind
	ctx      CausalContext
	spans    []Entry // the live entries, in dot order once decoded
	dead     []Entry // the deleted text pieces
	live     int     // live dots
}

func (v *deltaView) reset() {
	v.types, v.explicit, v.live = 0, false, 0
	v.leaves, v.kinds = v.leaves[:0], v.kinds[:0]
	v.spans, v.dead = v.spans[:0], v.dead[:0]
	clear(v.ctx.vv)
	clear(v.ctx.cloud)
	v.ctx.lazy = nil
}

// object builds the Object of a view that is not reused afterwards: the
// object takes its context.
func (v *deltaView) object() *Object {
	o := NewObject()
	o.loadLeaves(v.leaves, v.live)
	o.meta.Types = v.types
	o.meta.Ctx = v.ctx
	return o
}

// joinLeaves joins each of the view's leaves into st (joinLeaf).
func (v *deltaView) joinLeaves(st Store, ctx, dctx *CausalContext) error {
	for i, it := range v.leaves {
		if err := joinLeaf(st, it.key, v.kinds[i], it.entries, ctx, dctx); err != nil {
			return err
		}
	}
	return nil
}

func (v *deltaView) hasLeaf(key string) bool {
	_, ok := slices.BinarySearchFunc(v.leaves, key, func(it leafItem, k string) int {
		switch {
		case it.key < k:
			return -1
		case it.key > k:
			return 1
		}
		return 0
	})
	return ok
}

// holds reports whether d is a live dot of the view's leaves (the dot
// index of its Object).
func (v *deltaView) holds(d Dot) bool {
	// spans[i] is the first entry at or after d; d is held by it or by
	// the piece before it. (A search by index: entries are large to copy.)
	i, j := 0, len(v.spans)
	for i < j {
		h := int(uint(i+j) >> 1)
		if compareDot(v.spans[h].Dot, d) < 0 {
			i = h + 1
		} else {
			j = h
		}
	}
	if i < len(v.spans) && v.spans[i].Dot == d {
		return true
	}
	if i == 0 {
		return false
	}
	e := v.spans[i-1]
	return e.Dot.Replica == d.Replica && d.Seq < e.Dot.Seq+e.span()
}

// appendView is appendBody of the view's Object.
func (h *header) appendView(b []byte, v *deltaView) []byte {
	var roots TypeSet
	for _, it := range v.leaves {
		roots |= TypeSetOf(Type(it.key[0]))
	}
	b = appendLeafCount(b, len(v.leaves), v.types, roots)
	for i, it := range v.leaves {
		prev := ""
		if i > 0 {
			prev = v.leaves[i-1].key
		}
		b = h.appendEntries(appendLeafKey(b, i == 0, prev, it.key), v.kinds[i], it.entries)
	}
	return h.appendContext(b, &v.ctx, v.holds)
}

// keyCache holds the leaf keys a Merger has parsed, each key's string
// once: a stream of deltas names the same few keys again and again.
type keyCache struct {
	m     map[string]parsedKey
	bytes int // of the keys in m
	buf   []byte
}

type parsedKey struct {
	key  string
	path Path
}

// The most keys, and key bytes, a cache holds; it starts again when full.
const (
	keyCacheMax      = 4096
	keyCacheMaxBytes = 1 << 20
)

// leafKey is the leaf key that is prefix followed by suffix, and its path
// (ParseKey's, and its error).
func (r *reader) leafKey(prefix string, suffix []byte) (string, Path, error) {
	c := r.keys
	if c == nil {
		key := prefix + string(suffix)
		p, err := ParseKey(key)
		return key, p, err
	}
	c.buf = append(append(c.buf[:0], prefix...), suffix...)
	if k, ok := c.m[string(c.buf)]; ok {
		return k.key, k.path, nil
	}
	key := string(c.buf)
	p, err := ParseKey(key)
	if err == nil {
		if c.m == nil || len(c.m) >= keyCacheMax || c.bytes+len(key) > keyCacheMaxBytes {
			c.m, c.bytes = make(map[string]parsedKey), 0
		}
		c.m[key] = parsedKey{key, p}
		c.bytes += len(key)
	}
	return key, p, err
}

// arenaMax is the most entries a Merger's arena keeps between batches.
const arenaMax = 1 << 12

// keepMax is the largest batch whose decode buffers a Merger keeps for
// the next: one larger is read into buffers dropped after it.
const keepMax = 64 << 10

// newEntries returns n zero entries: new ones, or with an arena (a
// Merger's, whose entries are joined and dropped) taken from it.
func (r *reader) newEntries(n int) []Entry {
	if r.arena == nil {
		return make([]Entry, n)
	}
	a := *r.arena
	if cap(a)-len(a) < n {
		// Leaves decoded before keep the old array.
		a = make([]Entry, 0, max(2*cap(a), n, 16))
	}
	es := a[len(a) : len(a)+n : len(a)+n]
	clear(es)
	*r.arena = a[:len(a)+n]
	return es
}

// batchReader decodes batches into buffers it reuses from one batch to
// the next.
type batchReader struct {
	h     header
	clock Timestamp
	n     int // items of the last batch read
	keys  []string
	views []deltaView
	buf   []byte // the canonical encoding, to compare
	// reuse says the decoded leaves are joined and dropped before the
	// next read (a Merger's), so keys and entries may be kept.
	reuse bool
	paths keyCache
	arena []Entry
}

// read decodes data, refusing what is not the canonical encoding of a
// batch. The items are keys[:n] and views[:n].
func (d *batchReader) read(data []byte) error {
	d.n = 0
	if len(data) > MaxEncodedSize {
		return fmt.Errorf("%w: %d bytes exceeds %d", ErrLimit, len(data), MaxEncodedSize)
	}
	r := &reader{b: data}
	if d.reuse {
		if cap(d.arena) > arenaMax {
			d.arena = nil
		}
		d.arena = d.arena[:0]
		r.keys, r.arena = &d.paths, &d.arena
	}
	var err error
	if d.h.version, err = r.version(); err != nil {
		return err
	}
	if d.clock.Wall, err = r.wall(); err != nil {
		return fmt.Errorf("clock: %w", err)
	}
	l, err := r.uvarint()
	if err != nil {
		return fmt.Errorf("clock: %w", err)
	}
	if l > uint64(^uint32(0)) {
		return r.errf("logical clock %d out of range", l)
	}
	d.clock.Logical = uint32(l)
	d.h.base = d.clock.Wall
	if err := r.replicas(&d.h); err != nil {
		return err
	}
	n, err := r.count(3)
	if err != nil {
		return fmt.Errorf("item count: %w", err)
	}
	d.keys = d.keys[:0]
	items := r.off
	for i := 0; i < n; i++ {
		kn, err := r.count(1)
		if err != nil {
			return fmt.Errorf("item %d key: %w", i, err)
		}
		if kn > MaxKeyLen {
			return fmt.Errorf("%w: key of %d bytes exceeds %d", ErrLimit, kn, MaxKeyLen)
		}
		key, _ := r.bytes(kn)
		if !utf8.Valid(key) {
			return r.errf("item %d key is not valid UTF-8", i)
		}
		if i == len(d.views) {
			d.views = append(d.views, deltaView{})
		}
		if err := r.view(&d.h, &d.views[i]); err != nil {
			return fmt.Errorf("item %q: %w", key, err)
		}
		d.keys = append(d.keys, string(key))
	}
	if r.remaining() != 0 {
		return r.errf("%d trailing bytes", r.remaining())
	}
	// Everything before the items is canonical once decoded (minimal
	// varints, a sorted table, which is the table Batch.MarshalBinary
	// would write, since a batch names its whole table): the items are
	// encoded again, with the decoded header, and compared.
	b := append(d.buf[:0], data[:items]...)
	for i, key := range d.keys {
		b = d.h.appendView(appendString(b, key), &d.views[i])
	}
	d.buf = b
	if !bytes.Equal(b, data) {
		return fmt.Errorf("%w: not the canonical encoding of its batch", ErrInvalid)
	}
	d.n = n
	return nil
}

// A Merger joins binary batches into their targets, reusing its decode
// buffers from one batch to the next. The zero value is ready; a Merger is
// not safe for concurrent use: a goroutine that merges (a node's committer,
// a client's reader) keeps one. (crdt stays free of concurrency, so there
// is no pool of them here.) It keeps buffers the size of the largest batch
// of up to 64 KiB it read, and up to 1 MiB of parsed leaf keys.
type Merger struct {
	d batchReader
}

// JoinBatch decodes data, a binary Batch from untrusted bytes, as
// UnmarshalBatch does (the same checks, the same errors) and joins each
// item's delta into the store target gives for the item's key (the
// item is skipped if target gives a nil store): the result of JoinInto of
// each item of UnmarshalBatch, in order, without building their Objects.
// Nothing is joined unless the whole batch decodes. It returns the batch's
// clock; a target's or a store's error ends the join and is returned.
func (m *Merger) JoinBatch(data []byte, target func(key string) (Store, *Meta, error)) (Timestamp, error) {
	defer m.shrink(len(data))
	m.d.reuse = true
	if err := m.d.read(data); err != nil {
		return Timestamp{}, err
	}
	for i, key := range m.d.keys[:m.d.n] {
		st, meta, err := target(key)
		if err != nil {
			return m.d.clock, err
		}
		if st == nil {
			continue
		}
		v := &m.d.views[i]
		if err := joinDelta(st, meta, v, &v.ctx, v.types); err != nil {
			return m.d.clock, err
		}
	}
	return m.d.clock, nil
}

// shrink drops the buffers a batch of size bytes grew, if it was large.
func (m *Merger) shrink(size int) {
	if size > keepMax {
		m.d = batchReader{paths: m.d.paths}
	}
}

// JoinBatchObjects is JoinBatch into in-memory objects: target gives the
// object an item's key joins into, or nil to skip the item.
func (m *Merger) JoinBatchObjects(data []byte, target func(key string) *Object) (Timestamp, error) {
	return m.JoinBatch(data, func(key string) (Store, *Meta, error) {
		o := target(key)
		if o == nil {
			return nil, nil, nil
		}
		return o, &o.meta, nil
	})
}
