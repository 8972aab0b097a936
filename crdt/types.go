package crdt

import "fmt"

// Type is the CRDT type of an object or of a map field. The numbers are part
// of the encodings; never renumber them.
type Type uint8

const (
	TypeGCounter   Type = 1 // grow-only counter
	TypePNCounter  Type = 2 // counter that goes up and down
	TypeORSet      Type = 3 // add-wins observed-remove set of scalars
	TypeORMap      Type = 4 // observed-remove map of named, typed CRDT fields
	TypeLWW        Type = 5 // last-writer-wins register on the hybrid clock
	TypeMVRegister Type = 6 // multi-value register: keeps concurrent writes
	TypeEWFlag     Type = 7 // enable-wins flag
	TypeText       Type = 8 // collaborative text: a Fugue sequence of characters
	TypeList       Type = 9 // ordered list of scalars and maps, with move (list.go)

	maxType = TypeList
)

var typeNames = [...]string{
	TypeGCounter:   "gcounter",
	TypePNCounter:  "counter",
	TypeORSet:      "set",
	TypeORMap:      "map",
	TypeLWW:        "lww",
	TypeMVRegister: "mvreg",
	TypeEWFlag:     "flag",
	TypeText:       "text",
	TypeList:       "list",
}

// OneLeaf reports whether an object of type t keeps all its state in one
// leaf, at its root (counters, registers, flags), so that a reader can
// fetch it with one point read; sets, maps, texts and lists keep many.
func (t Type) OneLeaf() bool {
	switch t {
	case TypeGCounter, TypePNCounter, TypeLWW, TypeMVRegister, TypeEWFlag:
		return true
	}
	return false
}

// Valid reports whether t is a known type.
func (t Type) Valid() bool { return t >= 1 && t <= maxType }

// String returns the type's name as it appears in JSON.
func (t Type) String() string {
	if t.Valid() {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// ParseType reads a type name.
func ParseType(s string) (Type, error) {
	for t := TypeGCounter; t <= maxType; t++ {
		if typeNames[t] == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown type %q", ErrInvalid, s)
}

// MarshalText implements encoding.TextMarshaler.
func (t Type) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("%w: unknown type %d", ErrInvalid, uint8(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// leafKind is what a leaf's entries carry, decided by the type that owns it.
type leafKind uint8

const (
	leafDots     leafKind = iota // flags and set elements: a dot set
	leafCounter                  // counters: dot -> (P, N)
	leafMV                       // multi-value register: dot -> value
	leafLWW                      // last-writer-wins: dot -> (timestamp, value)
	leafText                     // text, and a list's positions: pieces of a Fugue tree, see text.go
	leafListItem                 // list element: dot -> (timestamp, value, position), see list.go
)

// leafKindOf returns the kind of the leaf a terminal type keeps. Sets keep
// one dot-set leaf per element; maps keep no leaf of their own.
func leafKindOf(t Type) leafKind {
	switch t {
	case TypeGCounter, TypePNCounter:
		return leafCounter
	case TypeMVRegister:
		return leafMV
	case TypeLWW:
		return leafLWW
	case TypeText:
		return leafText
	}
	return leafDots
}
