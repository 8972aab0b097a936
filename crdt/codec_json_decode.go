package crdt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// Decoding the JSON form (codec_json.go documents it) from untrusted input:
// the object, its leaves, paths and entries, and the context rebuilt from
// what the leaves prove.

// UnmarshalJSON decodes the JSON encoding into o, replacing its state. The
// input is untrusted (clients send deltas in this form): anything malformed
// or beyond a limit gets an error wrapping ErrInvalid or ErrLimit that says
// where, never a panic. Unlike the binary decoder it does not insist on the
// canonical text: leaves, entries and keys may come in any order,
// whitespace is allowed, and types and ctx may leave out what the leaves
// prove (their root types, their dots), which is added. Hand-written and
// JavaScript-built deltas are welcome; the decoded state re-encodes
// canonically.
func (o *Object) UnmarshalJSON(data []byte) error {
	n, err := UnmarshalObjectJSON(data)
	if err != nil {
		return err
	}
	*o = *n
	return nil
}

// UnmarshalObjectJSON decodes an object from its JSON encoding.
func UnmarshalObjectJSON(data []byte) (*Object, error) {
	if len(data) > MaxEncodedSize {
		return nil, fmt.Errorf("%w: %d bytes of JSON exceeds %d", ErrLimit, len(data), MaxEncodedSize)
	}
	if err := CheckJSON(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	r := &jsonReader{dec: dec, obj: NewObject(), vv: VersionVector{}, seen: map[ReplicaID][]uint64{}}
	if err := r.object(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, r.errf("trailing data after the object")
	}
	r.buildContext()
	return r.obj, nil
}

// jsonReader walks the token stream with the shape in mind, so it never
// descends into structure it did not ask for: nesting, and with it memory,
// stays bounded by the format, not by the input.
type jsonReader struct {
	dec *json.Decoder
	obj *Object
	// vv is the context's vector as sent; seen holds every other dot (cloud
	// and leaf dots) by replica, for buildContext.
	vv   VersionVector
	seen map[ReplicaID][]uint64
	// replicas counts distinct ids against MaxReplicas, which the binary
	// encoding of the result must respect.
	replicas map[ReplicaID]struct{}
	// held is every dot the leaves so far cover.
	held map[Dot]struct{}
}

func (r *jsonReader) object() error {
	return r.fields("object", map[string]func() error{
		"types": func() error {
			return r.array("types", func(int) error {
				t, err := r.typeName("type")
				if err == nil {
					r.obj.meta.Types |= TypeSetOf(t)
				}
				return err
			})
		},
		"leaves": func() error { return r.array("leaves", func(int) error { return r.leaf() }) },
		"ctx": func() error {
			return r.fields("ctx", map[string]func() error{
				"vv":    func() error { return r.array("vv", func(int) error { return r.vvEntry() }) },
				"cloud": func() error { return r.array("cloud", func(int) error { return r.cloudDot() }) },
			})
		},
	})
}

func (r *jsonReader) leaf() error {
	if err := r.delim('[', "leaf"); err != nil {
		return err
	}
	p, err := r.path()
	if err != nil {
		return err
	}
	key := p.Key()
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: leaf %s: key of %d bytes exceeds %d", ErrLimit, p, len(key), MaxKeyLen)
	}
	// The key form is the one every store keeps; checking it the way the
	// binary decoder does keeps the two decoders' notions of valid equal.
	if _, err := ParseKey(key); err != nil {
		return fmt.Errorf("leaf %s: %w", p, err)
	}
	// A leaf is proof of a write of its root type, so a sender that left
	// the type out loses nothing: the same leniency as for dots.
	r.obj.meta.Types |= TypeSetOf(p.Root)
	if r.obj.hasLeaf(key) {
		return r.errf("leaf %s appears twice", p)
	}
	kind := p.leafKind()
	var es []Entry
	err = r.array("entries", func(int) error {
		e, err := r.entry(kind)
		es = append(es, e)
		return err
	})
	if err != nil {
		return fmt.Errorf("leaf %s: %w", p, err)
	}
	if len(es) == 0 {
		return r.errf("leaf %s has no entries", p)
	}
	slices.SortFunc(es, compareEntryDot)
	if kind == leafText {
		if es, err = checkPieces(p, es); err != nil {
			return err
		}
	}
	if kind == leafListItem {
		if err := checkItem(p, es); err != nil {
			return err
		}
	}
	if kind == leafCounter {
		// A delta may name a writer's base and raw entries it covers;
		// what a join would keep of them is what is stored.
		es = normalizeCounter(es)
	}
	if r.held == nil {
		r.held = map[Dot]struct{}{}
	}
	for _, e := range es {
		var dup bool
		e.eachWriteDot(func(d Dot) {
			if _, ok := r.held[d]; ok {
				dup = true
			}
			r.held[d] = struct{}{}
			r.seen[d.Replica] = append(r.seen[d.Replica], d.Seq)
		})
		if dup {
			return r.errf("leaf %s: dot %s appears twice", p, e.Dot)
		}
	}
	_ = r.obj.SetLeaf(key, es)
	return r.delim(']', "leaf")
}

// path reads [ROOT, SEG...], letting the type reached so far decide what
// the next segment must be: a map takes a field, a set one element, and
// anything else ends the path.
func (r *jsonReader) path() (Path, error) {
	if err := r.delim('[', "path"); err != nil {
		return Path{}, err
	}
	root, err := r.typeName("path root")
	if err != nil {
		return Path{}, err
	}
	p := Path{Root: root}
	cur := root
	for r.dec.More() {
		switch cur {
		case TypeORMap, listMapItem: // a map, or a map element's fields
			if len(p.Segs) >= MaxDepth {
				return Path{}, fmt.Errorf("%w: path %s: deeper than %d", ErrLimit, p, MaxDepth)
			}
			seg, err := r.field(p)
			if err != nil {
				return Path{}, err
			}
			p.Segs = append(p.Segs, seg)
			cur = seg.Type
		case TypeORSet:
			v, err := r.scalar("set element")
			if err != nil {
				return Path{}, err
			}
			p.Segs = append(p.Segs, Elem(v))
			cur = 0 // an element ends the path
		case TypeText:
			d, err := r.pair()
			if err != nil {
				return Path{}, fmt.Errorf("text block: %w", err)
			}
			if (d.Seq-1)%TextBlock != 0 {
				return Path{}, r.errf("path %s: block sequence %d is not 1 more than a multiple of %d", p, d.Seq, TextBlock)
			}
			p.Segs = append(p.Segs, Segment{Block: d})
			cur = 0 // a block ends the path
		case TypeList:
			seg, err := r.listSegment(p)
			if err != nil {
				return Path{}, err
			}
			p.Segs = append(p.Segs, seg)
			cur = 0 // a block or a scalar element ends the path
			if seg.IsItem() && seg.Type == TypeORMap {
				cur = listMapItem // a map element's leaf, or its fields
			}
		default:
			return Path{}, r.errf("path %s: nothing may follow a %s leaf", p, p.leafName())
		}
	}
	switch cur {
	case TypeList:
		return Path{}, r.errf("path %s: a list leaf needs a block or an element", p)
	case TypeORMap:
		return Path{}, r.errf("path %s: a map is not a leaf; name a field", p)
	case TypeORSet:
		return Path{}, r.errf("path %s: a set leaf needs an element", p)
	case TypeText:
		return Path{}, r.errf("path %s: a text leaf needs a block", p)
	}
	return p, r.delim(']', "path")
}

// field reads a map-field segment [NAME, TYPE] below p.
func (r *jsonReader) field(p Path) (Segment, error) {
	if err := r.delim('[', "map field"); err != nil {
		return Segment{}, err
	}
	name, err := r.string("field name")
	if err != nil {
		return Segment{}, err
	}
	if len(name) > MaxFieldName {
		return Segment{}, fmt.Errorf("%w: path %s: field name of %d bytes exceeds %d", ErrLimit, p, len(name), MaxFieldName)
	}
	t, err := r.typeName("field type")
	if err != nil {
		return Segment{}, err
	}
	return Field(name, t), r.delim(']', "map field")
}

// leafName names what a path ends in, for errors.
func (p Path) leafName() string {
	if len(p.Segs) == 0 {
		return p.Root.String()
	}
	last := p.Segs[len(p.Segs)-1]
	switch {
	case last.IsItem():
		return "list element"
	case last.IsBlock() && last.Type == TypeList:
		return "list block"
	case last.IsBlock():
		return "text block"
	case !last.IsElem():
		return last.Type.String()
	}
	return "set element"
}

func (r *jsonReader) dot() (Dot, error) {
	s, err := r.string("replica")
	if err != nil {
		return Dot{}, err
	}
	id, err := ParseReplicaID(s)
	if err != nil || id.String() != s {
		return Dot{}, r.errf("replica %q is not a lowercase UUID", s)
	}
	if r.replicas == nil {
		r.replicas = map[ReplicaID]struct{}{}
	}
	if _, ok := r.replicas[id]; !ok {
		if len(r.replicas) >= MaxReplicas {
			return Dot{}, fmt.Errorf("%w: more than %d replicas", ErrLimit, MaxReplicas)
		}
		r.replicas[id] = struct{}{}
	}
	seq, err := r.uint("seq", 1, MaxSeq)
	if err != nil {
		return Dot{}, err
	}
	return Dot{Replica: id, Seq: seq}, nil
}

func (r *jsonReader) entry(kind leafKind) (Entry, error) {
	var e Entry
	if err := r.delim('[', "entry"); err != nil {
		return e, err
	}
	var err error
	if e.Dot, err = r.dot(); err != nil {
		return e, err
	}
	switch kind {
	case leafCounter:
		if e.P, err = r.uint("P", 0, MaxSafeInt); err == nil {
			e.N, err = r.uint("N", 0, MaxSafeInt)
		}
		if err == nil && r.dec.More() {
			var mark string
			if mark, err = r.string("base mark"); err == nil && mark != "base" {
				err = r.errf("counter entry: want \"base\" after N, got %q", mark)
			}
			e.Base = true
		}
	case leafMV:
		e.V, err = r.scalar("value")
	case leafLWW:
		var wall, logical uint64
		if wall, err = r.uint("wall", 0, MaxSafeInt); err == nil {
			logical, err = r.uint("logical", 0, uint64(^uint32(0)))
		}
		e.TS = Timestamp{Wall: int64(wall), Logical: uint32(logical)}
		if err == nil {
			e.V, err = r.scalar("value")
		}
	case leafListItem:
		var wall, logical uint64
		if wall, err = r.uint("wall", 0, MaxSafeInt); err == nil {
			logical, err = r.uint("logical", 0, uint64(^uint32(0)))
		}
		e.TS = Timestamp{Wall: int64(wall), Logical: uint32(logical)}
		if err == nil {
			e.Origin, err = r.pair()
		}
		if err == nil {
			e.V, err = r.scalar("value")
		}
	case leafText:
		err = r.piece(&e)
	}
	if err != nil {
		return e, err
	}
	return e, r.delim(']', "entry")
}

// piece reads a text piece's LEN,ORIGIN,VALUE; checkPieces does the rest.
func (r *jsonReader) piece(e *Entry) error {
	var err error
	if e.Len, err = r.uint("piece length", 1, TextBlock); err != nil {
		return err
	}
	t, err := r.token()
	if err != nil {
		return err
	}
	switch t {
	case nil:
	case json.Delim('['):
		if e.Origin, err = r.dot(); err != nil {
			return err
		}
		side, err := r.string("side")
		if err != nil {
			return err
		}
		if side != "left" && side != "right" {
			return r.errf("side %q is neither \"left\" nor \"right\"", side)
		}
		e.Left = side == "left"
		if err := r.delim(']', "origin"); err != nil {
			return err
		}
	default:
		return r.errf("origin: want null or [REPLICA,SEQ,SIDE], got %s", describe(t))
	}
	if e.V, err = r.scalar("piece value"); err != nil {
		return err
	}
	return nil
}

// pair reads [REPLICA, SEQ].
func (r *jsonReader) pair() (Dot, error) {
	if err := r.delim('[', "dot"); err != nil {
		return Dot{}, err
	}
	d, err := r.dot()
	if err != nil {
		return Dot{}, err
	}
	return d, r.delim(']', "dot")
}

func (r *jsonReader) vvEntry() error {
	d, err := r.pair()
	if err != nil {
		return err
	}
	if _, dup := r.vv[d.Replica]; dup {
		return r.errf("replica %s appears twice", d.Replica)
	}
	r.vv[d.Replica] = d.Seq
	return nil
}

func (r *jsonReader) cloudDot() error {
	d, err := r.pair()
	if err != nil {
		return err
	}
	r.seen[d.Replica] = append(r.seen[d.Replica], d.Seq)
	return nil
}

// buildContext sets the object's context to the sent vector plus every
// other dot, leaf dots included, in compact form. It sorts once per replica
// rather than calling Add per dot, whose compaction scans the whole cloud
// each time the vector advances: quadratic on hostile input.
func (r *jsonReader) buildContext() {
	c := &r.obj.meta.Ctx
	c.vv = r.vv
	for id, seqs := range r.seen {
		slices.Sort(seqs)
		top := c.vv[id]
		for _, s := range seqs {
			switch {
			case s <= top:
			case s == top+1:
				top = s
			default:
				if c.cloud == nil {
					c.cloud = map[Dot]struct{}{}
				}
				c.cloud[Dot{Replica: id, Seq: s}] = struct{}{}
			}
		}
		if top > 0 {
			c.vv[id] = top
		}
	}
}
