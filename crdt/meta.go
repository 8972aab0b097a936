package crdt

import "math/bits"

// Meta is what an object keeps beside its leaves: its causal context, and
// the set of root types it has been written as. The type set only grows, so
// the type a key got from its first write outlives every remove, and a key
// two replicas created concurrently with different types keeps both.
type Meta struct {
	Ctx   CausalContext
	Types TypeSet
}

// TypeSet is a set of types, one bit each (bit t for type t; bit 0 is
// never a type, which the encodings use, see appendTypes).
type TypeSet uint16

// TypeSetOf returns the set holding t.
func TypeSetOf(t Type) TypeSet { return 1 << t }

// Has reports whether t is in the set.
func (s TypeSet) Has(t Type) bool { return s&(1<<t) != 0 }

// First returns the lowest type in the set, zero if it is empty.
func (s TypeSet) First() Type {
	if s == 0 {
		return 0
	}
	return Type(bits.TrailingZeros16(uint16(s)))
}

// Valid reports whether the set holds only known types.
func (s TypeSet) Valid() bool { return s&^validTypes == 0 }

const validTypes = TypeSet(1<<(maxType+1) - 2)

// List returns the types in the set, lowest first.
func (s TypeSet) List() []Type {
	var ts []Type
	for t := TypeGCounter; t <= maxType; t++ {
		if s.Has(t) {
			ts = append(ts, t)
		}
	}
	return ts
}

// leafRoots is the set of root types of o's leaves.
func (o *Object) leafRoots() TypeSet {
	var s TypeSet
	o.eachLeaf(func(key string, _ []Entry) { s |= TypeSetOf(Type(key[0])) })
	return s
}

// Meta returns a copy of the object's context and type set.
func (o *Object) Meta() Meta { return Meta{Ctx: *o.meta.Ctx.Clone(), Types: o.meta.Types} }
