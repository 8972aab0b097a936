package crdt

import (
	"fmt"
)

// JoinInto joins delta d into the object held by st, whose context is ctx,
// touching only the leaves d names and the leaves that hold dots d's context
// covers. The result equals the textbook join of the two states (Almeida et
// al.): a leaf d names is joined entry by entry; a dot d's context covers
// that sits in a leaf d does not name was removed where d came from, so it
// goes.
func JoinInto(st Store, m *Meta, d *Object) error {
	ctx := &m.Ctx
	var err error
	d.eachLeaf(func(key string, es []Entry) {
		if err != nil {
			return
		}
		var cur []Entry
		if cur, err = st.Leaf(key); err != nil {
			err = fmt.Errorf("reading leaf: %w", err)
			return
		}
		res := joinLeafEntries(cur, es, ctx, &d.meta.Ctx)
		if !equalEntries(cur, res) {
			if err = st.SetLeaf(key, res); err != nil {
				err = fmt.Errorf("writing leaf: %w", err)
			}
		}
	})
	if err != nil {
		return err
	}
	removed := map[string][]Dot{}
	d.meta.Ctx.eachRange(func(r ReplicaID, lo, hi uint64) {
		if err != nil {
			return
		}
		err = st.Dots(r, lo, hi, func(dot Dot, key string) error {
			if !d.hasLeaf(key) {
				removed[key] = append(removed[key], dot)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("finding removed dots: %w", err)
	}
	for key, dots := range removed {
		es, err := st.Leaf(key)
		if err != nil {
			return fmt.Errorf("reading leaf: %w", err)
		}
		es = withoutDots(es, dots)
		if err := st.SetLeaf(key, es); err != nil {
			return fmt.Errorf("writing leaf: %w", err)
		}
	}
	ctx.Join(&d.meta.Ctx)
	m.Types |= d.meta.Types
	return nil
}
