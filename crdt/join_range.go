package crdt

import "fmt"

// JoinRange joins part of a whole state: the leaves of chunk with
// lo <= key < hi (hi "" means no bound), where chunk carries the sender's
// entire context. It is the textbook join restricted to that key range,
// which is sound because the join of two states is computed leaf by leaf
// given both contexts: every leaf of st in the range that chunk lacks loses
// the dots chunk's context covers, and every leaf chunk holds is joined
// entry by entry.
//
// A state too large for one message travels as consecutive ranges. Between
// them the receiver's context gains only each range's own dots, which keeps
// every stored dot in the context without letting the sender's context
// decide later ranges; the last range (last=true) joins the whole context
// and the type set.
func JoinRange(st Store, m *Meta, chunk *Object, lo, hi string, last bool) error {
	keys := map[string]bool{}
	if err := st.Range(lo, hi, func(k string, _ []Entry) error {
		keys[k] = true
		return nil
	}); err != nil {
		return fmt.Errorf("reading range: %w", err)
	}
	var added []Dot
	if err := chunk.Range(lo, hi, func(k string, es []Entry) error {
		keys[k] = true
		for _, e := range es {
			e.eachWriteDot(func(d Dot) { added = append(added, d) })
		}
		return nil
	}); err != nil {
		return err
	}
	for k := range keys {
		cur, err := st.Leaf(k)
		if err != nil {
			return fmt.Errorf("reading leaf: %w", err)
		}
		theirs, _ := chunk.Leaf(k)
		res := joinLeafEntries(cur, theirs, &m.Ctx, &chunk.meta.Ctx)
		if len(res) != len(cur) || !equalEntries(res, cur) {
			if err := st.SetLeaf(k, res); err != nil {
				return fmt.Errorf("writing leaf: %w", err)
			}
		}
	}
	for _, d := range added {
		if chunk.meta.Ctx.Contains(d) {
			m.Ctx.Add(d)
		}
	}
	if last {
		m.Ctx.Join(&chunk.meta.Ctx)
		m.Types |= chunk.meta.Types
	}
	return m.Ctx.Err()
}

func equalEntries(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Slice returns the part of o with lo <= key < hi, carrying o's whole
// context and types: the unit JoinRange takes.
func (o *Object) Slice(lo, hi string) *Object {
	s := NewObject()
	s.meta = Meta{Ctx: *o.meta.Ctx.Clone(), Types: o.meta.Types}
	_ = o.Range(lo, hi, func(k string, es []Entry) error { return s.SetLeaf(k, es) })
	return s
}
