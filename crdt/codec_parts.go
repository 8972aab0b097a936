package crdt

import (
	"fmt"
)

// Parts of an object encoded on their own, for stores that keep each leaf
// and the context under keys of their own (the node's Badger layout). Each
// part carries its own small header, so it decodes without its neighbours.
//
//	leaf    := version base-wall replicas uvarint(nentries) entry*
//	meta    := version replicas types context

// EncodeLeaf encodes the entries of the leaf at key.
func EncodeLeaf(key string, es []Entry) []byte {
	rs := map[ReplicaID]struct{}{}
	var base int64
	for _, e := range es {
		addReplicas(rs, e)
		base = max(base, e.TS.Wall)
	}
	h := newHeader(base, rs)
	b := appendUvarint([]byte{h.version}, uint64(base))
	b = h.appendReplicas(b)
	return h.appendEntries(b, leafKindOfKey(key), es)
}

func (h *header) appendEntries(b []byte, kind leafKind, es []Entry) []byte {
	b = appendUvarint(b, uint64(len(es)))
	if kind == leafCounter && h.version >= 2 {
		return h.appendCounterEntries(b, es)
	}
	for _, e := range es {
		b = h.appendDot(b, e.Dot)
		switch kind {
		case leafCounter:
			b = appendUvarint(appendUvarint(b, e.P), e.N)
		case leafMV:
			b = appendValue(b, e.V)
		case leafLWW:
			b = appendValue(h.appendTimestamp(b, e.TS), e.V)
		case leafListItem:
			b = appendValue(h.appendDot(h.appendTimestamp(b, e.TS), e.Origin), e.V)
		case leafText:
			b = h.appendPiece(b, e)
		}
	}
	return b
}

// addReplicas adds the replicas e names to rs: its dot's and, for a text
// piece, its origin's (for a list element's entry, its position's).
func addReplicas(rs map[ReplicaID]struct{}, e Entry) {
	rs[e.Dot.Replica] = struct{}{}
	if e.Origin != (Dot{}) {
		rs[e.Origin.Replica] = struct{}{}
	}
}

// DecodeLeaf decodes what EncodeLeaf wrote for the leaf at key.
func DecodeLeaf(key string, data []byte) ([]Entry, error) {
	p, err := ParseKey(key)
	if err != nil {
		return nil, err
	}
	r := &reader{b: data}
	h, err := readHeaderStart(r)
	if err != nil {
		return nil, err
	}
	if h.base, err = r.wall(); err != nil {
		return nil, fmt.Errorf("base time: %w", err)
	}
	if err := r.replicas(h); err != nil {
		return nil, err
	}
	es, err := r.entries(h, p)
	if err != nil {
		return nil, err
	}
	if r.remaining() != 0 {
		return nil, r.errf("%d trailing bytes", r.remaining())
	}
	return es, nil
}

// entries reads a leaf's entries: at least one, in strict dot order.
func (r *reader) entries(h *header, p Path) ([]Entry, error) {
	kind := p.leafKind()
	ne, err := r.count(1)
	if err != nil {
		return nil, fmt.Errorf("leaf %s entries: %w", p, err)
	}
	if ne == 0 {
		return nil, r.errf("leaf %s has no entries", p)
	}
	es := r.newEntries(ne)
	if kind == leafCounter && h.version >= 2 {
		return r.counterEntries(h, p, es)
	}
	for j := range es {
		e := &es[j]
		if e.Dot, err = r.dot(h); err != nil {
			return nil, fmt.Errorf("leaf %s: %w", p, err)
		}
		if j > 0 && compareDot(es[j-1].Dot, e.Dot) >= 0 {
			return nil, r.errf("leaf %s: dots not in order", p)
		}
		switch kind {
		case leafCounter:
			if e.P, err = r.uvarint(); err == nil {
				e.N, err = r.uvarint()
			}
			if err == nil && (e.P > MaxSafeInt || e.N > MaxSafeInt) {
				err = r.errf("counter total beyond 2^53-1")
			}
		case leafMV:
			e.V, err = r.value()
		case leafLWW:
			if e.TS, err = r.timestamp(h); err == nil {
				e.V, err = r.value()
			}
		case leafListItem:
			if e.TS, err = r.timestamp(h); err == nil {
				if e.Origin, err = r.dot(h); err == nil {
					e.V, err = r.value()
				}
			}
		case leafText:
			err = r.piece(h, e)
		}
		if err != nil {
			return nil, fmt.Errorf("leaf %s: %w", p, err)
		}
	}
	switch kind {
	case leafText:
		return checkPieces(p, es)
	case leafListItem:
		return es, checkItem(p, es)
	}
	return es, nil
}

// MarshalBinary encodes the meta on its own: version, replicas, the type
// set (appendTypes), then the context.
func (m *Meta) MarshalBinary() ([]byte, error) {
	rs := map[ReplicaID]struct{}{}
	m.Ctx.eachRange(func(r ReplicaID, _, _ uint64) { rs[r] = struct{}{} })
	h := newHeader(0, rs)
	b := h.appendReplicas([]byte{h.version})
	b = appendTypes(b, m.Types)
	return h.appendContext(b, &m.Ctx, nil), nil
}

// UnmarshalBinary decodes what MarshalBinary wrote, replacing m.
func (m *Meta) UnmarshalBinary(data []byte) error {
	r := &reader{b: data}
	h, err := readHeaderStart(r)
	if err != nil {
		return err
	}
	if err := r.replicas(h); err != nil {
		return err
	}
	ts, err := r.types()
	if err != nil {
		return fmt.Errorf("types: %w", err)
	}
	n := Meta{Types: ts}
	if err := r.context(h, &n.Ctx); err != nil {
		return fmt.Errorf("context: %w", err)
	}
	if r.remaining() != 0 {
		return r.errf("%d trailing bytes", r.remaining())
	}
	*m = n
	return nil
}
