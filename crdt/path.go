package crdt

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on paths, so that a hostile delta cannot make the node build
// unbounded keys.
const (
	MaxDepth     = 32   // segments below the root
	MaxFieldName = 1024 // bytes in one map field name
)

// Segment is one step of a Path below the root: a map field (a name and the
// field's type), a set element, a block of a text or of a list's positions,
// or a list element.
type Segment struct {
	Field string
	// Type is the field's type; for a list element its kind (TypeLWW for a
	// scalar, TypeORMap for a map); TypeList for a block of a list's
	// positions; zero for a set element or a text block.
	Type Type
	Elem Value
	// Block names a text's block: the characters one replica minted with
	// sequences Block.Seq to Block.Seq+TextBlock-1 (Block.Seq is 1 more
	// than a multiple of TextBlock), or the same range of a list's
	// positions. Zero for other segments.
	Block Dot
	// Item names a list element by the dot of its insert. Zero for other
	// segments.
	Item Dot
}

// Field returns a map-field segment.
func Field(name string, t Type) Segment { return Segment{Field: name, Type: t} }

// Elem returns a set-element segment.
func Elem(v Value) Segment { return Segment{Elem: v} }

// BlockOf returns the segment of the text block holding d.
func BlockOf(d Dot) Segment {
	return Segment{Block: Dot{Replica: d.Replica, Seq: (d.Seq-1)/TextBlock*TextBlock + 1}}
}

// ListBlockOf returns the segment of the block of a list's positions
// holding d.
func ListBlockOf(d Dot) Segment {
	s := BlockOf(d)
	s.Type = TypeList
	return s
}

// ItemSeg returns the segment of the list element id of kind (TypeLWW for
// a scalar, TypeORMap for a map).
func ItemSeg(id Dot, kind Type) Segment { return Segment{Item: id, Type: kind} }

// IsElem reports whether s is a set-element segment.
func (s Segment) IsElem() bool { return s.Type == 0 && s.Block.Seq == 0 && s.Item.Seq == 0 }

// IsItem reports whether s is a list-element segment.
func (s Segment) IsItem() bool { return s.Item.Seq != 0 }

// isField reports whether s is a map-field segment.
func (s Segment) isField() bool { return !s.IsBlock() && !s.IsItem() && !s.IsElem() }

// IsBlock reports whether s is a text-block segment.
func (s Segment) IsBlock() bool { return s.Block.Seq != 0 }

// Path addresses one leaf of an object: the object's root type, then map
// fields down to a counter, register or flag, down to a set and one of its
// elements, down to a text and one of its blocks, or down to a list and
// one of its blocks of positions or one of its elements (whose map, if it
// is one, continues the path). Map fields are keyed by name and type together, as in
// Riak's maps, so two replicas that concurrently create a field with the
// same name and different types both keep their data.
type Path struct {
	Root Type
	Segs []Segment
}

// Key is the path's binary form: the root type byte, then per segment
// either uvarint(len(name)<<3 | type) and the name (types 8 and up write
// uvarint(len(name)<<3), the type byte, then the name), the element's value
// encoding, or a block's 16-byte replica id and uvarint((seq-1)/TextBlock).
// Below a list a segment starts with a tag byte: 0 for a block of
// positions (then as a text block), 1 for an element (its 16-byte replica
// id, uvarint(seq), and its kind's type byte).
// Leaves are ordered by these bytes in every canonical encoding.
func (p Path) Key() string {
	b := []byte{byte(p.Root)}
	for _, s := range p.Segs {
		b = appendSegment(b, s)
	}
	return string(b)
}

func appendSegment(b []byte, s Segment) []byte {
	switch {
	case s.IsItem():
		b = append(append(b, 1), s.Item.Replica[:]...)
		return append(appendUvarint(b, s.Item.Seq), byte(s.Type))
	case s.IsBlock():
		if s.Type == TypeList {
			b = append(b, 0)
		}
		b = append(b, s.Block.Replica[:]...)
		return appendUvarint(b, (s.Block.Seq-1)/TextBlock)
	case s.IsElem():
		return appendValue(b, s.Elem)
	case s.Type > 7:
		b = append(appendUvarint(b, uint64(len(s.Field))<<3), byte(s.Type))
	default:
		b = appendUvarint(b, uint64(len(s.Field))<<3|uint64(s.Type))
	}
	return append(b, s.Field...)
}

// leafKind is the kind of the leaf the path ends in.
func (p Path) leafKind() leafKind {
	if n := len(p.Segs); n > 0 {
		switch s := p.Segs[n-1]; {
		case s.IsBlock():
			return leafText
		case s.IsItem():
			return leafListItem
		}
	}
	return leafKindOf(p.leafType())
}

// String renders the path for people: map/title:lww, set/"x".
func (p Path) String() string {
	var sb strings.Builder
	sb.WriteString(p.Root.String())
	for _, s := range p.Segs {
		sb.WriteByte('/')
		if s.IsItem() {
			fmt.Fprintf(&sb, "item(%s):%s", s.Item, s.Type)
		} else if s.IsBlock() {
			sb.WriteString(s.Block.String())
		} else if s.IsElem() {
			sb.WriteString(s.Elem.String())
		} else {
			fmt.Fprintf(&sb, "%s:%s", s.Field, s.Type)
		}
	}
	return sb.String()
}

// ParseKey decodes and validates a path key: a map is followed by a field,
// a set by one element that ends the path, a text by one block that ends
// it, a list by a block that ends it or an element that ends it or (a map
// element) goes on as a map, and counters, registers and flags end it.
func ParseKey(key string) (Path, error) {
	r := &reader{b: []byte(key)}
	root, err := r.byte()
	if err != nil {
		return Path{}, fmt.Errorf("path: %w", err)
	}
	p := Path{Root: Type(root)}
	if !p.Root.Valid() {
		return Path{}, fmt.Errorf("%w: path: unknown root type %d", ErrInvalid, root)
	}
	cur := p.Root
	for {
		switch cur {
		case TypeORMap:
			if r.remaining() == 0 {
				return Path{}, fmt.Errorf("%w: path %s: a map is not a leaf", ErrInvalid, p)
			}
			if len(p.Segs) >= MaxDepth {
				return Path{}, fmt.Errorf("%w: path deeper than %d", ErrLimit, MaxDepth)
			}
			h, err := r.uvarint()
			if err != nil {
				return Path{}, fmt.Errorf("path field: %w", err)
			}
			t, n := Type(h&7), h>>3
			if t == 0 {
				x, err := r.byte()
				if err != nil {
					return Path{}, fmt.Errorf("path field type: %w", err)
				}
				if t = Type(x); t <= 7 {
					return Path{}, fmt.Errorf("%w: path field: type %d written in the long form", ErrInvalid, x)
				}
			}
			if !t.Valid() {
				return Path{}, fmt.Errorf("%w: path field: unknown type %d", ErrInvalid, uint8(t))
			}
			if n > MaxFieldName {
				return Path{}, fmt.Errorf("%w: field name of %d bytes exceeds %d", ErrLimit, n, MaxFieldName)
			}
			name, err := r.bytes(int(n))
			if err != nil {
				return Path{}, fmt.Errorf("path field: %w", err)
			}
			if !utf8.Valid(name) {
				return Path{}, fmt.Errorf("%w: field name is not valid UTF-8", ErrInvalid)
			}
			// The name as a substring of key: no copy (key is a string).
			p.Segs = append(p.Segs, Field(key[r.off-len(name):r.off], t))
			cur = t
		case TypeORSet:
			if r.remaining() == 0 {
				return Path{}, fmt.Errorf("%w: path %s: a set leaf needs an element", ErrInvalid, p)
			}
			v, err := r.value()
			if err != nil {
				return Path{}, fmt.Errorf("path element: %w", err)
			}
			p.Segs = append(p.Segs, Elem(v))
			if r.remaining() != 0 {
				return Path{}, fmt.Errorf("%w: path %s: bytes after a set element", ErrInvalid, p)
			}
			return p, nil
		case TypeText:
			rb, err := r.bytes(16)
			if err != nil {
				return Path{}, fmt.Errorf("%w: path %s: a text leaf needs a block", ErrInvalid, p)
			}
			i, err := r.uvarint()
			if err != nil {
				return Path{}, fmt.Errorf("path block: %w", err)
			}
			if i > (MaxSeq-1)/TextBlock {
				return Path{}, fmt.Errorf("%w: path block %d out of range", ErrInvalid, i)
			}
			var rep ReplicaID
			copy(rep[:], rb)
			p.Segs = append(p.Segs, Segment{Block: Dot{Replica: rep, Seq: i*TextBlock + 1}})
			if r.remaining() != 0 {
				return Path{}, fmt.Errorf("%w: path %s: bytes after a text block", ErrInvalid, p)
			}
			return p, nil
		case TypeList:
			seg, err := r.listSegment(p)
			if err != nil {
				return Path{}, err
			}
			p.Segs = append(p.Segs, seg)
			if r.remaining() == 0 {
				return p, nil
			}
			if seg.IsBlock() || seg.Type != TypeORMap {
				return Path{}, fmt.Errorf("%w: path %s: bytes after a list's %s", ErrInvalid, p, p.leafName())
			}
			cur = TypeORMap
		default:
			if r.remaining() != 0 {
				return Path{}, fmt.Errorf("%w: path %s: bytes after a %s leaf", ErrInvalid, p, cur)
			}
			return p, nil
		}
	}
}

// fieldPrefix is the key prefix of every leaf below field (name, t) of the
// map at parent.
func fieldPrefix(parent string, name string, t Type) string {
	return string(appendSegment([]byte(parent), Field(name, t)))
}
