package crdt

import (
	"bytes"
	"fmt"
	"slices"
)

// Binary encoding, version 1. It is canonical: equal states encode to equal
// bytes, and a decoder refuses any other encoding of a state, so
// decode(b) succeeding implies encode(decode(b)) == b.
//
//	object := version header body
//	header := base-wall replicas          (base-wall: uvarint)
//	replicas := uvarint(n) n*[16]byte     (sorted; only those referenced)
//	body := uvarint(nleaves<<1 | explicit) [types] leaf* context
//
// types is a byte, bit t for each root type the object has been written
// as (and a second byte for types 8 and up, see appendTypes); it is written only when it differs from the root types of the
// leaves (explicit=1), which for a delta is never.
//
//	leaf := [uvarint(shared)] uvarint(len) suffix uvarint(nentries) entry*
//	entry := dot payload                  (payload by leaf kind, see below)
//	dot := uvarint(seq*n + index)         (n = number of replicas in the header)
//	context := uvarint(ncloud<<1 | hasvv) [uvarint(nvv) (uvarint(index) uvarint(seq))*] dot*
//
// A leaf's key shares `shared` leading bytes with the previous key (the
// first leaf omits it). Payloads: nothing for flags and set elements,
// uvarint P and N for counters, a value for multi-value registers, a
// timestamp and a value for LWW registers, a timestamp, a dot (the
// position) and a value for list elements, and for text pieces and a
// list's positions see text_codec.go. A timestamp is
// uvarint(zigzag(base-wall)<<1 | haslogical) [uvarint(logical)]: offsets
// from one base per unit keep the common case to one byte. The context's
// cloud omits the dots the leaves hold, except a deleted text piece's; the
// decoder adds them back. (A deleted piece's dots must be in the context;
// they are written there since the piece costs a few bytes however many
// dots it spans, and the decoder's work must stay linear in its input.)
//
// Version 2 names each replica once per encoding and
// costs a few bytes per writer beside it, for objects many replicas write
// (issue 13). It differs from version 1 in two places, where entries go in
// replica table order and the index is written as the step from the
// previous entry's (the first's from -1), usually 1:
//
//	counter entry (v2) := uvarint(seq<<2 | stepped<<1 | hasN) [uvarint(step)] uvarint(P) [uvarint(N)]
//	vector entry (v2)  := uvarint(seq<<1 | stepped) [uvarint(step)]
//
// where stepped says the step is not 1 and is written, and hasN that N is
// not 0. Version 1 is still read (stored data and logs written before),
// and re-encoded in the current version; a build that reads only version 1
// refuses version 2 with ErrVersion.
//
// Version 3 (binaryVersion) adds a base bit to counter entries, for
// folded writers (fold.go, codec_counter.go):
//
//	counter entry (v3) := uvarint(seq<<3 | base<<2 | stepped<<1 | hasN) [uvarint(step)] uvarint(P) [uvarint(N)]
//
// Versions 1 and 2 are still read; a version 2 build refuses version 3
// with ErrVersion.
const binaryVersion = 3

// BinaryVersion is the version byte every binary encoding written here
// starts with, for code that splits or rebuilds encodings (internal/frames).
const BinaryVersion = binaryVersion

// binaryVersionFirst is the oldest version still read.
const binaryVersionFirst = 1

// Decoding limits. Allocation while decoding is bounded by a constant times
// the input's length, and the input by MaxEncodedSize.
const (
	MaxEncodedSize = 64 << 20 // bytes in one encoded object or batch
	MaxReplicas    = 1 << 22  // replica ids in one header (version 1: packedReplicas)
	MaxKeyLen      = 64 << 10 // bytes in one leaf key
)

// packedReplicas is the largest replica table whose dots pack into one
// uvarint, seq*n+index (MaxSeq); a version 2 encoding with a larger table
// (an object with more writers) writes a dot as uvarint(index)
// uvarint(seq). Version 1 allowed no larger table.
const packedReplicas = 1 << 16

// header is what one encoded unit writes once: the timestamp base and the
// replica table its dots refer to by index.
type header struct {
	version  byte // the encoding version: binaryVersion, or an older one read
	base     int64
	replicas []ReplicaID
	index    map[ReplicaID]int
}

func newHeader(base int64, rs map[ReplicaID]struct{}) *header {
	h := &header{version: binaryVersion, base: base, replicas: make([]ReplicaID, 0, len(rs))}
	for r := range rs {
		h.replicas = append(h.replicas, r)
	}
	slices.SortFunc(h.replicas, compareReplica)
	h.buildIndex()
	return h
}

// smallTable is the most replicas a header finds by binary search rather
// than through an index map: most deltas name one or two.
const smallTable = 8

// buildIndex makes the index map of a large replica table.
func (h *header) buildIndex() {
	if len(h.replicas) <= smallTable {
		h.index = nil
		return
	}
	h.index = make(map[ReplicaID]int, len(h.replicas))
	for i, r := range h.replicas {
		h.index[r] = i
	}
}

// indexOf is r's position in the (sorted) replica table.
func (h *header) indexOf(r ReplicaID) (int, bool) {
	if h.index != nil {
		i, ok := h.index[r]
		return i, ok
	}
	return slices.BinarySearchFunc(h.replicas, r, compareReplica)
}

// at is r's position, 0 for a replica the table lacks (the root's zero
// origin, whose code only its sequence 0 matters for).
func (h *header) at(r ReplicaID) int {
	if i, ok := h.indexOf(r); ok {
		return i
	}
	return 0
}

func (h *header) appendReplicas(b []byte) []byte {
	b = appendUvarint(b, uint64(len(h.replicas)))
	for _, r := range h.replicas {
		b = append(b, r[:]...)
	}
	return b
}

func (h *header) appendDot(b []byte, d Dot) []byte {
	if len(h.replicas) > packedReplicas {
		return appendUvarint(appendUvarint(b, uint64(h.at(d.Replica))), d.Seq)
	}
	return appendUvarint(b, d.Seq*uint64(len(h.replicas))+uint64(h.at(d.Replica)))
}

func (h *header) appendTimestamp(b []byte, t Timestamp) []byte {
	x := zigzag(h.base-t.Wall) << 1
	if t.Logical == 0 {
		return appendUvarint(b, x)
	}
	return appendUvarint(appendUvarint(b, x|1), uint64(t.Logical))
}

// collect adds o's replicas to rs and returns the greatest wall time of its
// timestamps.
func (o *Object) collect(rs map[ReplicaID]struct{}) (maxWall int64) {
	o.eachLeaf(func(_ string, es []Entry) {
		for _, e := range es {
			addReplicas(rs, e)
			if e.TS.Wall > maxWall {
				maxWall = e.TS.Wall
			}
		}
	})
	o.meta.Ctx.eachRange(func(r ReplicaID, _, _ uint64) { rs[r] = struct{}{} })
	return maxWall
}

// MarshalBinary returns the canonical binary encoding.
func (o *Object) MarshalBinary() ([]byte, error) {
	rs := map[ReplicaID]struct{}{}
	h := newHeader(o.collect(rs), rs)
	b := []byte{h.version}
	b = appendUvarint(b, uint64(h.base))
	b = h.appendReplicas(b)
	return h.appendBody(b, o), nil
}

func (h *header) appendBody(b []byte, o *Object) []byte {
	b = appendLeafCount(b, o.leaves.Len(), o.meta.Types, o.leafRoots())
	prev, first := "", true
	o.eachLeaf(func(key string, es []Entry) {
		b = h.appendEntries(appendLeafKey(b, first, prev, key), leafKindOfKey(key), es)
		prev, first = key, false
	})
	// o.dots is every live dot the leaves hold (EachLiveDot).
	return h.appendContext(b, &o.meta.Ctx, func(d Dot) bool { _, ok := o.dots[d]; return ok })
}

// appendLeafCount writes a body's leaf count, and its types when they are
// not those of its leaves' roots.
func appendLeafCount(b []byte, n int, types, roots TypeSet) []byte {
	if types == roots {
		return appendUvarint(b, uint64(n)<<1)
	}
	return appendTypes(appendUvarint(b, uint64(n)<<1|1), types)
}

// appendLeafKey writes a leaf's key as the length it shares with the
// previous leaf's (prev) and the rest; the first leaf's is written whole.
func appendLeafKey(b []byte, first bool, prev, key string) []byte {
	if first {
		return appendString(b, key)
	}
	shared := 0
	for shared < len(prev) && shared < len(key) && prev[shared] == key[shared] {
		shared++
	}
	return appendString(appendUvarint(b, uint64(shared)), key[shared:])
}

// appendContext writes c less the dots stored holds (the live dots of the
// leaves, which the decoder adds back; nil for none).
func (h *header) appendContext(b []byte, c *CausalContext, stored func(Dot) bool) []byte {
	// The cloud less the stored dots, sorted, in place.
	var buf [4]Dot
	cloud := c.appendCloud(buf[:0])
	k := 0
	for _, d := range cloud {
		if stored == nil || !stored(d) {
			cloud[k] = d
			k++
		}
	}
	cloud = cloud[:k]
	vv := c.vv.Replicas()
	x := uint64(len(cloud)) << 1
	if len(vv) > 0 {
		x |= 1
	}
	b = appendUvarint(b, x)
	if len(vv) > 0 {
		b = appendUvarint(b, uint64(len(vv)))
		prev := -1
		for _, r := range vv {
			i := h.at(r)
			if h.version < 2 {
				b = appendUvarint(appendUvarint(b, uint64(i)), c.vv[r])
				continue
			}
			if step := i - prev; step == 1 {
				b = appendUvarint(b, c.vv[r]<<1)
			} else {
				b = appendUvarint(appendUvarint(b, c.vv[r]<<1|1), uint64(step))
			}
			prev = i
		}
	}
	for _, d := range cloud {
		b = h.appendDot(b, d)
	}
	return b
}

// leafKindOfKey is the kind of a stored, already validated, key.
func leafKindOfKey(key string) leafKind {
	p, err := ParseKey(key)
	if err != nil {
		return leafDots
	}
	return p.leafKind()
}

// UnmarshalBinary decodes a canonical binary encoding into o, replacing its
// state. Untrusted input gets an error wrapping ErrInvalid, ErrVersion or
// ErrLimit, never a panic.
func (o *Object) UnmarshalBinary(data []byte) error {
	if len(data) > MaxEncodedSize {
		return fmt.Errorf("%w: %d bytes exceeds %d", ErrLimit, len(data), MaxEncodedSize)
	}
	r := &reader{b: data}
	h, err := readHeaderStart(r)
	if err != nil {
		return err
	}
	if h.base, err = r.wall(); err != nil {
		return fmt.Errorf("base time: %w", err)
	}
	if err := r.replicas(h); err != nil {
		return err
	}
	n, err := r.body(h)
	if err != nil {
		return err
	}
	if r.remaining() != 0 {
		return r.errf("%d trailing bytes", r.remaining())
	}
	if !isCanonical(data, h, n) {
		return fmt.Errorf("%w: not the canonical encoding of its state", ErrInvalid)
	}
	*o = *n
	return nil
}

// isCanonical reports whether data is what MarshalBinary gives n, which
// was decoded from data with header h. It re-encodes n with h itself, once
// h is the header MarshalBinary would build (every replica named, the base
// the greatest wall time), into one buffer of data's size: the decode then
// costs no second header's maps and the encoding never grows its buffer.
func isCanonical(data []byte, h *header, n *Object) bool {
	used := make([]bool, len(h.replicas))
	mark := func(r ReplicaID) bool {
		i, ok := h.indexOf(r)
		if ok {
			used[i] = true
		}
		return ok
	}
	var maxWall int64
	ok := true
	n.eachLeaf(func(_ string, es []Entry) {
		for _, e := range es {
			ok = mark(e.Dot.Replica) && ok
			if e.Origin != (Dot{}) {
				ok = mark(e.Origin.Replica) && ok
			}
			maxWall = max(maxWall, e.TS.Wall)
		}
	})
	n.meta.Ctx.eachRange(func(r ReplicaID, _, _ uint64) { ok = mark(r) && ok })
	if !ok || maxWall != h.base || slices.Contains(used, false) {
		return false
	}
	b := append(make([]byte, 0, len(data)), h.version)
	b = appendUvarint(b, uint64(h.base))
	b = h.appendBody(h.appendReplicas(b), n)
	return bytes.Equal(b, data)
}

// UnmarshalObject decodes a binary object.
func UnmarshalObject(data []byte) (*Object, error) {
	o := NewObject()
	if err := o.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return o, nil
}

func readHeaderStart(r *reader) (*header, error) {
	v, err := r.version()
	if err != nil {
		return nil, err
	}
	return &header{version: v}, nil
}

// version reads an encoding's version byte, refusing versions this build
// does not read.
func (r *reader) version() (byte, error) {
	v, err := r.byte()
	if err != nil {
		return 0, fmt.Errorf("version: %w", err)
	}
	if v < binaryVersionFirst || v > binaryVersion {
		return 0, fmt.Errorf("%w: %d (this build reads %d to %d)", ErrVersion, v, binaryVersionFirst, binaryVersion)
	}
	return v, nil
}

func (r *reader) wall() (int64, error) {
	w, err := r.uvarint()
	if err != nil {
		return 0, err
	}
	if w > MaxSafeInt {
		return 0, r.errf("wall time %d beyond 2^53-1", w)
	}
	return int64(w), nil
}

func (r *reader) replicas(h *header) error {
	n, err := r.count(16)
	if err != nil {
		return fmt.Errorf("replica table: %w", err)
	}
	limit := MaxReplicas
	if h.version < 2 {
		limit = packedReplicas
	}
	if n > limit {
		return fmt.Errorf("%w: %d replicas exceeds %d", ErrLimit, n, limit)
	}
	if h.replicas == nil || cap(h.replicas) < n {
		h.replicas = make([]ReplicaID, n)
	}
	h.replicas = h.replicas[:n]
	for i := range h.replicas {
		b, _ := r.bytes(16)
		copy(h.replicas[i][:], b)
		if i > 0 && compareReplica(h.replicas[i-1], h.replicas[i]) >= 0 {
			return r.errf("replica table not sorted or has duplicates")
		}
	}
	h.buildIndex()
	return nil
}

func (r *reader) dot(h *header) (Dot, error) {
	x, err := r.uvarint()
	if err != nil {
		return Dot{}, err
	}
	n := uint64(len(h.replicas))
	if n == 0 {
		return Dot{}, r.errf("dot with an empty replica table")
	}
	d := Dot{Replica: h.replicas[x%n], Seq: x / n}
	if n > packedReplicas {
		if x >= n {
			return Dot{}, r.errf("dot replica index %d out of range", x)
		}
		seq, err := r.uvarint()
		if err != nil {
			return Dot{}, err
		}
		d = Dot{Replica: h.replicas[x], Seq: seq}
	}
	if d.Seq == 0 || d.Seq > MaxSeq {
		return Dot{}, r.errf("dot sequence %d out of range", d.Seq)
	}
	return d, nil
}

func (r *reader) timestamp(h *header) (Timestamp, error) {
	x, err := r.uvarint()
	if err != nil {
		return Timestamp{}, err
	}
	off := unzigzag(x >> 1)
	if off > MaxSafeInt || off < -MaxSafeInt {
		return Timestamp{}, r.errf("timestamp offset out of range")
	}
	t := Timestamp{Wall: h.base - off}
	if t.Wall < 0 || t.Wall > MaxSafeInt {
		return Timestamp{}, r.errf("wall time %d out of range", t.Wall)
	}
	if x&1 == 1 {
		l, err := r.uvarint()
		if err != nil {
			return Timestamp{}, err
		}
		if l == 0 || l > uint64(^uint32(0)) {
			return Timestamp{}, r.errf("logical time %d out of range", l)
		}
		t.Logical = uint32(l)
	}
	return t, nil
}

// body decodes leaves and context into a new object.
func (r *reader) body(h *header) (*Object, error) {
	var v deltaView
	if err := r.view(h, &v); err != nil {
		return nil, err
	}
	return v.object(), nil
}

// view decodes leaves and context into v, reusing its buffers. Checks
// beyond bounds (key order, dot order, unique dots) are what make a decoded
// state valid to join.
func (r *reader) view(h *header, v *deltaView) error {
	v.reset()
	x, err := r.uvarint()
	if err != nil {
		return fmt.Errorf("leaf count: %w", err)
	}
	if x>>1 > uint64(r.remaining()/3) {
		return r.errf("%d leaves exceed the %d bytes left", x>>1, r.remaining())
	}
	nleaves, explicit := int(x>>1), x&1 == 1
	if explicit {
		ts, err := r.types()
		if err != nil {
			return fmt.Errorf("types: %w", err)
		}
		v.types = ts
	}
	var roots TypeSet
	// The live entries (v.spans), whose dots the object's dot index holds
	// and which must therefore be in one leaf each, and the deleted text
	// pieces. A deleted piece only holds a place in its text, so its dots
	// may also be in a piece of another text: only a forged history makes
	// one (a replica that minted a dot twice), and the join of two such
	// states keeps both deleted, which must still decode.
	dead := v.dead
	prev := ""
	for i := 0; i < nleaves; i++ {
		shared := 0
		if i > 0 {
			s, err := r.uvarint()
			if err != nil {
				return fmt.Errorf("leaf %d: %w", i, err)
			}
			if s > uint64(len(prev)) {
				return r.errf("leaf %d shares %d bytes of a %d-byte key", i, s, len(prev))
			}
			shared = int(s)
		}
		n, err := r.count(1)
		if err != nil {
			return fmt.Errorf("leaf %d key: %w", i, err)
		}
		if shared+n > MaxKeyLen {
			return fmt.Errorf("%w: leaf key of %d bytes exceeds %d", ErrLimit, shared+n, MaxKeyLen)
		}
		suffix, _ := r.bytes(n)
		key, p, err := r.leafKey(prev[:shared], suffix)
		if i > 0 && key <= prev {
			return r.errf("leaf keys not in order")
		}
		prev = key
		if err != nil {
			return fmt.Errorf("leaf %d: %w", i, err)
		}
		roots |= TypeSetOf(p.Root)
		if explicit && !v.types.Has(p.Root) {
			return r.errf("leaf %s: root type not in the object's types", p)
		}
		es, err := r.entries(h, p)
		if err != nil {
			return err
		}
		for _, e := range es {
			if e.Base {
				continue // not a write: no dot (fold.go)
			}
			if !e.live() {
				dead = append(dead, e)
			} else {
				v.spans = append(v.spans, e)
				v.live += int(e.span())
			}
		}
		v.leaves = append(v.leaves, leafItem{key: key, entries: es})
		v.kinds = append(v.kinds, p.leafKind())
	}
	v.dead = dead
	if !explicit {
		v.types = roots
	}
	v.explicit = explicit
	if err := r.context(h, &v.ctx); err != nil {
		return fmt.Errorf("context: %w", err)
	}
	if d, ok := overlap(v.spans); ok {
		return r.errf("dot %s appears in two leaves", d)
	}
	// In dot order (overlap sorted them), so that each dot extends the
	// vector rather than the cloud.
	for _, e := range v.spans {
		if e.Len == 0 {
			v.ctx.Add(e.Dot)
			continue
		}
		e.EachLiveDot(v.ctx.Add)
	}
	for _, e := range v.dead {
		if !v.ctx.covers(e.Dot.Replica, e.Dot.Seq, e.Dot.Seq+e.Len-1) {
			return r.errf("deleted piece %s+%d not in the context", e.Dot, e.Len)
		}
	}
	return nil
}

// vectorEntry reads one version vector entry: its replica's index and its
// sequence.
func (r *reader) vectorEntry(h *header, last int) (idx, seq uint64, err error) {
	if h.version < 2 {
		if idx, err = r.uvarint(); err == nil {
			seq, err = r.uvarint()
		}
		return idx, seq, err
	}
	x, err := r.uvarint()
	if err != nil {
		return 0, 0, err
	}
	step := uint64(1)
	if x&1 == 1 {
		if step, err = r.uvarint(); err != nil {
			return 0, 0, err
		}
		if step > uint64(len(h.replicas)) {
			return 0, 0, r.errf("version vector step %d out of range", step)
		}
	}
	return uint64(last+1) + step - 1, x >> 1, nil
}

func (r *reader) context(h *header, c *CausalContext) error {
	x, err := r.uvarint()
	if err != nil {
		return err
	}
	ncloud := x >> 1
	if ncloud > uint64(r.remaining()) {
		return r.errf("cloud of %d dots exceeds the %d bytes left", ncloud, r.remaining())
	}
	if x&1 == 1 {
		per := 2 // bytes an entry takes at least
		if h.version >= 2 {
			per = 1
		}
		nvv, err := r.count(per)
		if err != nil {
			return err
		}
		if nvv == 0 || nvv > len(h.replicas) {
			return r.errf("version vector of %d entries", nvv)
		}
		if c.vv == nil {
			c.vv = make(VersionVector, nvv)
		}
		last := -1
		for i := 0; i < nvv; i++ {
			idx, seq, err := r.vectorEntry(h, last)
			if err != nil {
				return err
			}
			if idx >= uint64(len(h.replicas)) || int(idx) <= last {
				return r.errf("version vector index %d out of order or range", idx)
			}
			last = int(idx)
			if seq == 0 || seq > MaxSeq {
				return r.errf("version vector sequence %d out of range", seq)
			}
			c.vv[h.replicas[idx]] = seq
		}
	}
	for i := uint64(0); i < ncloud; i++ {
		d, err := r.dot(h)
		if err != nil {
			return err
		}
		c.Add(d)
	}
	return nil
}
