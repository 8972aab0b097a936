package crdt

import (
	"cmp"
	"slices"
)

// Parts of one object small enough for one message each. A large object (a
// long text, a long list, a map holding them) reaches a client joining late
// as several parts, every one a valid delta of the object: it carries some
// of the object's entries, whole leaves or, for a leaf larger than the
// bound, whole entries (a text piece or a list element is never cut), and
// in its context only the dots those entries span. Its join therefore
// removes nothing the receiver holds. The final part also carries the rest
// of the object's context (the dots of removed or superseded entries),
// which covers no entry of any other part; should that rest be large it
// travels in context-only parts of its own. Every part carries the type
// set. Joining all parts, in any order, gives the whole object.

// PartPos is where a part starts: the key of the leaf holding its first
// entry and that entry's dot. Entries are ordered by leaf key, then dot;
// the zero PartPos is before all of them.
type PartPos struct {
	Leaf string
	Dot  Dot
}

// PartsRest is the start of the context-only parts: after every entry
// (a leaf key starts with its root type's byte, never 0xff).
var PartsRest = PartPos{Leaf: "\xff"}

// before reports whether the entry at (key, d) comes before p.
func (p PartPos) before(key string, d Dot) bool {
	if key != p.Leaf {
		return key < p.Leaf
	}
	return compareDot(d, p.Dot) < 0
}

// Parts splits o into parts each at most max bytes in the binary encoding
// (MarshalBinary), but for a part holding one entry that alone is larger.
func (o *Object) Parts(max int) []*Object {
	parts, _ := o.PartsFrom(PartPos{}, max, binarySize)
	return parts
}

// PartsJSON is Parts measured in the JSON encoding (MarshalJSON).
func (o *Object) PartsJSON(max int) []*Object {
	parts, _ := o.PartsFrom(PartPos{}, max, JSONSize)
	return parts
}

// BinarySize is the length of o's binary encoding; 0 if it does not encode.
func BinarySize(o *Object) int { return binarySize(o) }

// JSONSize is the length of o's part JSON encoding (MarshalJSONPart); 0 if
// it does not encode.
func JSONSize(o *Object) int {
	b, _ := o.MarshalJSONPart()
	return len(b)
}

// MarshalJSONPart is the JSON form of a part: the canonical JSON encoding
// but for the cloud, which omits the dots the leaves span, as the binary
// encoding's does. Every JSON decoder adds a state's leaf dots to its
// context, so it decodes to the same object; but where the canonical form
// of a part of a long text would list each character's dot (a part's dots
// rarely start a replica's run, so they cannot compact into the vector),
// this one lists none.
func (o *Object) MarshalJSONPart() ([]byte, error) {
	held := map[Dot]struct{}{}
	o.eachLeaf(func(_ string, es []Entry) {
		for _, e := range es {
			e.eachWriteDot(func(d Dot) { held[d] = struct{}{} })
		}
	})
	return o.marshalJSON(func(d Dot) bool {
		_, ok := held[d]
		return ok
	})
}

func binarySize(o *Object) int {
	b, _ := o.MarshalBinary()
	return len(b)
}

// partUnit is what one part takes or leaves whole: a leaf, or one entry of
// a leaf too large for a part.
type partUnit struct {
	key  string
	es   []Entry
	size int
}

// PartsFrom returns the parts of o holding the entries at or after from,
// each at most max bytes as size measures them (but for one entry alone
// larger), and where each starts. The final parts carry the rest of o's
// context, as Parts describes; there is always at least one part. Parts
// from a position other than the start are how a cut-off transfer resumes.
func (o *Object) PartsFrom(from PartPos, max int, size func(*Object) int) ([]*Object, []PartPos) {
	var units []partUnit
	o.eachLeaf(func(key string, es []Entry) {
		if from.Leaf != "" && key < from.Leaf {
			return
		}
		i := 0
		for i < len(es) && from.before(key, es[i].Dot) {
			i++
		}
		if i == len(es) {
			return
		}
		es = es[i:]
		if n := size(o.unitPart(key, es)); n <= max || len(es) == 1 {
			units = append(units, partUnit{key, es, n})
			return
		}
		for j := range es {
			units = append(units, partUnit{key, es[j : j+1], size(o.unitPart(key, es[j:j+1]))})
		}
	})
	// Units are grouped by the sum of their sizes, which is only an
	// estimate: encodings are not additive (timestamps are offsets from
	// one base per part, keys share prefixes), so a group whose part comes
	// out over max is split in halves until each fits or is one unit.
	var groups [][]partUnit
	total := 0
	for i, u := range units {
		if i == 0 || total+u.size > max {
			groups = append(groups, nil)
			total = size(o.emptyPart())
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], u)
		total += u.size
	}
	var parts []*Object
	var starts []PartPos
	var cur *Object
	var build func(g []partUnit)
	build = func(g []partUnit) {
		p := o.emptyPart()
		// The units of one leaf are adjacent: each leaf's entries are set
		// once, not once per unit (a 100,000-writer counter is 100,000
		// units, and setting a leaf costs its entries).
		for i := 0; i < len(g); {
			j := i + 1
			for j < len(g) && g[j].key == g[i].key {
				j++
			}
			var es []Entry
			if j == i+1 {
				es = g[i].es
			} else {
				for _, u := range g[i:j] {
					es = append(es, u.es...)
				}
			}
			p.addUnit(g[i].key, es)
			i = j
		}
		n := size(p)
		if n > max && len(g) > 1 {
			build(g[:len(g)/2])
			build(g[len(g)/2:])
			return
		}
		cur, total = p, n
		parts = append(parts, p)
		starts = append(starts, PartPos{Leaf: g[0].key, Dot: g[0].es[0].Dot})
	}
	for _, g := range groups {
		build(g)
	}
	rest := o.restContext()
	perPart := max / 64 // a cloud dot costs under 64 bytes in either encoding
	if perPart < 1 {
		perPart = 1
	}
	for first := true; first || len(rest) > 0; first = false {
		n := min(len(rest), perPart)
		if cur == nil || (n > 0 && total+64*n > max) {
			cur = o.emptyPart()
			parts = append(parts, cur)
			starts = append(starts, PartsRest)
			total = size(cur)
		}
		for _, rg := range rest[:n] {
			cur.addRange(rg)
		}
		total += 64 * n
		rest = rest[n:]
		if len(rest) > 0 {
			cur = nil
		}
	}
	return parts, starts
}

// emptyPart is a part with o's type set and nothing else.
func (o *Object) emptyPart() *Object {
	p := NewObject()
	p.meta.Types = o.meta.Types
	return p
}

// unitPart is the part holding only es, at key.
func (o *Object) unitPart(key string, es []Entry) *Object {
	p := o.emptyPart()
	p.addUnit(key, es)
	return p
}

// addUnit adds entries es of the leaf at key, and their dots to the
// context. Units of one leaf arrive in dot order.
func (p *Object) addUnit(key string, es []Entry) {
	old, _ := p.Leaf(key)
	_ = p.SetLeaf(key, append(slices.Clip(old), es...))
	for _, e := range es {
		e.eachWriteDot(p.meta.Ctx.Add)
	}
}

// dotRange is sequences lo..hi of one replica.
type dotRange struct {
	r      ReplicaID
	lo, hi uint64
}

// addRange adds the dots of rg to p's context.
func (p *Object) addRange(rg dotRange) {
	if rg.lo == 1 || rg.lo == p.meta.Ctx.vv[rg.r]+1 {
		if p.meta.Ctx.vv == nil {
			p.meta.Ctx.vv = VersionVector{}
		}
		p.meta.Ctx.vv[rg.r] = max(p.meta.Ctx.vv[rg.r], rg.hi)
		p.meta.Ctx.compactReplica(rg.r)
		return
	}
	for s := rg.lo; s <= rg.hi; s++ {
		p.meta.Ctx.Add(Dot{Replica: rg.r, Seq: s})
		if s == rg.hi {
			break
		}
	}
}

// restContext is o's context less every dot its entries span, as ranges:
// a range starting at 1 counts as one dot (it is one vector entry), any
// other as one range per dot (cloud dots), so that callers can split them
// by cost.
func (o *Object) restContext() []dotRange {
	held := map[ReplicaID][][2]uint64{}
	o.eachLeaf(func(_ string, es []Entry) {
		for _, e := range es {
			if !e.Base {
				held[e.Dot.Replica] = append(held[e.Dot.Replica], [2]uint64{e.Dot.Seq, e.Dot.Seq + e.span() - 1})
			}
		}
	})
	for r, rs := range held {
		slices.SortFunc(rs, func(a, b [2]uint64) int { return cmp.Compare(a[0], b[0]) })
		merged := rs[:0]
		for _, x := range rs {
			if n := len(merged); n > 0 && x[0] <= merged[n-1][1]+1 {
				merged[n-1][1] = max(merged[n-1][1], x[1])
				continue
			}
			merged = append(merged, x)
		}
		held[r] = merged
	}
	var out []dotRange
	o.meta.Ctx.eachRange(func(r ReplicaID, lo, hi uint64) {
		_ = subtractRanges([][2]uint64{{lo, hi}}, held[r], func(a, b uint64) error {
			if a == 1 {
				out = append(out, dotRange{r, a, b})
				return nil
			}
			for s := a; s <= b; s++ {
				out = append(out, dotRange{r, s, s})
				if s == b {
					break
				}
			}
			return nil
		})
	})
	slices.SortFunc(out, func(a, b dotRange) int {
		if c := compareReplica(a.r, b.r); c != 0 {
			return c
		}
		return cmp.Compare(a.lo, b.lo)
	})
	return out
}
