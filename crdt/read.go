package crdt

import (
	"slices"
)

// Value returns the object's plain value, ready for encoding/json: int64
// for counters, []any of scalars for sets and multi-value registers (in
// canonical order), map[string]any for maps, a scalar or nil for an LWW
// register, bool for a flag, string for a text, []any of scalars and
// map[string]any for a list, and nil for an empty object.
func (o *Object) Value() any {
	t := o.Type()
	if t == 0 {
		return nil
	}
	return render(t, o.pathLeaves(t), 0)
}

// pathLeaves are the object's leaves under its type t, parsed, in key
// order: what render reads.
func (o *Object) pathLeaves(t Type) []pathLeaf {
	leaves := make([]pathLeaf, 0, o.leaves.Len())
	o.leaves.Ascend(func(it leafItem) bool {
		if it.key[0] != byte(t) {
			return true
		}
		p, err := ParseKey(it.key)
		if err != nil {
			return true // unreachable: keys are validated on the way in
		}
		leaves = append(leaves, toPathLeaf(it, p))
		return true
	})
	return leaves
}

// pathLeaf is the leaf it, whose key parses to p.
func toPathLeaf(it leafItem, p Path) pathLeaf {
	l := pathLeaf{path: p}
	if it.ctr != nil {
		// A counter kept by writer is read from its tally, not its
		// writers' entries.
		tally := it.ctr.tally
		l.tally = &tally
	} else {
		l.entries = it.entries
	}
	return l
}

type pathLeaf struct {
	path    Path
	entries []Entry
	tally   *Tally // a counter leaf's, when read from its tally (entries nil)
}

// render builds the plain value of a type from its leaves, which all share
// the path down to depth and are in key order.
func render(t Type, leaves []pathLeaf, depth int) any {
	switch t {
	case TypeGCounter, TypePNCounter:
		var p, n uint64
		for _, l := range leaves {
			lp, ln := counterTotal(l.entries)
			if l.tally != nil {
				lp, ln, _, _ = l.tally.Sums()
			}
			p, n = p+lp, n+ln
		}
		return int64(p) - int64(n)
	case TypeLWW:
		for _, l := range leaves {
			if w, ok := lwwWinner(l.entries); ok {
				return w.V.Interface()
			}
		}
		return nil
	case TypeMVRegister:
		vs := mvValues(leaves)
		out := make([]any, len(vs))
		for i, v := range vs {
			out[i] = v.Interface()
		}
		return out
	case TypeEWFlag:
		for _, l := range leaves {
			if len(l.entries) > 0 {
				return true
			}
		}
		return false
	case TypeText:
		return renderText(leaves)
	case TypeList:
		return renderList(leaves, depth)
	case TypeORSet:
		out := []any{}
		for _, l := range leaves {
			if len(l.entries) > 0 && len(l.path.Segs) > depth {
				out = append(out, l.path.Segs[depth].Elem.Interface())
			}
		}
		return out
	case TypeORMap:
		out := make(map[string]any, len(leaves)) // leaves bound the fields
		types := make(map[string]Type, len(leaves))
		for i := 0; i < len(leaves); {
			seg := leaves[i].path.Segs[depth]
			j := i + 1
			for j < len(leaves) && sameField(leaves[j].path.Segs[depth], seg) {
				j++
			}
			// Concurrent creations of one name with different types keep
			// both; the lower type number is the one read. A text whose
			// characters are all deleted is absent, like an empty set.
			if prev, ok := types[seg.Field]; !ok || seg.Type < prev {
				v := render(seg.Type, leaves[i:j], depth+1)
				if v != "" || seg.Type != TypeText {
					types[seg.Field] = seg.Type
					out[seg.Field] = v
				}
			}
			i = j
		}
		return out
	}
	return nil
}

// mvValues are a multi-value register's values, distinct, in canonical
// order.
func mvValues(leaves []pathLeaf) []Value {
	var vs []Value
	for _, l := range leaves {
		for _, e := range l.entries {
			vs = append(vs, e.V)
		}
	}
	slices.SortFunc(vs, Value.Compare)
	return slices.Compact(vs)
}

func sameField(a, b Segment) bool { return a.Field == b.Field && a.Type == b.Type }
