package crdt

import (
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
