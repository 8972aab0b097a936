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
// field's type) or a set element.
type Segment struct {
	Field string
	Type  Type // the field's type; zero for an element segment
	Elem  Value
}

// Field returns a map-field segment.
func Field(name string, t Type) Segment { return Segment{Field: name, Type: t} }

// Elem returns a set-element segment.
func Elem(v Value) Segment { return Segment{Elem: v} }

// IsElem reports whether s is a set-element segment.
func (s Segment) IsElem() bool { return s.Type == 0 }

// Path addresses one leaf of an object: the object's root type, then map
// fields down to a counter, register or flag, or down to a set and one of
// its elements. Map fields are keyed by name and type together, as in
// Riak's maps, so two replicas that concurrently create a field with the
// same name and different types both keep their data.
type Path struct {
	Root Type
	Segs []Segment
}

// Key is the path's binary form: the root type byte, then per segment
// either uvarint(len(name)<<3 | type) and the name, or the element's value
// encoding. Leaves are ordered by these bytes in every canonical encoding.
func (p Path) Key() string {
	b := []byte{byte(p.Root)}
	for _, s := range p.Segs {
		b = appendSegment(b, s)
	}
	return string(b)
}

func appendSegment(b []byte, s Segment) []byte {
	if s.IsElem() {
		return appendValue(b, s.Elem)
	}
	b = appendUvarint(b, uint64(len(s.Field))<<3|uint64(s.Type))
	return append(b, s.Field...)
}

// leafKind is the kind of the leaf the path ends in.
func (p Path) leafKind() leafKind { return leafKindOf(p.leafType()) }

// String renders the path for people: map/title:lww, set/"x".
func (p Path) String() string {
	var sb strings.Builder
	sb.WriteString(p.Root.String())
	for _, s := range p.Segs {
		sb.WriteByte('/')
		if s.IsElem() {
			sb.WriteString(s.Elem.String())
		} else {
			fmt.Fprintf(&sb, "%s:%s", s.Field, s.Type)
		}
	}
	return sb.String()
}

// ParseKey decodes and validates a path key: a map is followed by a field,
// a set by one element that ends the path, and counters, registers and
// flags end it.
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
			if !t.Valid() {
				return Path{}, fmt.Errorf("%w: path field: unknown type %d", ErrInvalid, h&7)
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
			p.Segs = append(p.Segs, Field(string(name), t))
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
