package crdt

import (
	"bytes"
	"fmt"
	"slices"
)

// The decoder of the binary encoding (codec_binary.go describes the
// format): untrusted bytes in, a canonical Object or an error out.

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
