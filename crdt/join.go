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
	return joinDelta(st, m, d, &d.meta.Ctx, d.meta.Types)
}

// deltaLeaves is a delta's leaves: an Object's, or those of a delta decoded
// into reusable buffers (deltaView).
type deltaLeaves interface {
	joinLeaves(st Store, ctx, dctx *CausalContext) error
	hasLeaf(key string) bool
}

// joinDelta is JoinInto of the delta whose leaves are d, context dctx and
// types types.
func joinDelta(st Store, m *Meta, d deltaLeaves, dctx *CausalContext, types TypeSet) error {
	ctx := &m.Ctx
	if err := d.joinLeaves(st, ctx, dctx); err != nil {
		return err
	}
	var removed map[string][]Dot
	collect := func(dot Dot, key string) error {
		if !d.hasLeaf(key) {
			if removed == nil {
				removed = map[string][]Dot{}
			}
			removed[key] = append(removed[key], dot)
		}
		return nil
	}
	var err error
	dctx.eachRange(func(r ReplicaID, lo, hi uint64) {
		if err == nil {
			err = st.Dots(r, lo, hi, collect)
		}
	})
	if err != nil {
		return fmt.Errorf("finding removed dots: %w", err)
	}
	for key, dots := range removed {
		if leafKindOfKey(key) == leafCounter {
			if err := removeCounterDots(st, key, dots); err != nil {
				return err
			}
			continue
		}
		es, err := st.Leaf(key)
		if err != nil {
			return fmt.Errorf("reading leaf: %w", err)
		}
		es = withoutDots(es, dots)
		if err := st.SetLeaf(key, es); err != nil {
			return fmt.Errorf("writing leaf: %w", err)
		}
	}
	ctx.Join(dctx)
	m.Types |= types
	return ctx.Err()
}

// joinLeaves joins each of the object's leaves into st (joinLeaf).
func (o *Object) joinLeaves(st Store, ctx, dctx *CausalContext) error {
	var err error
	o.eachLeaf(func(key string, es []Entry) {
		if err == nil {
			err = joinLeaf(st, key, leafKindOfKey(key), es, ctx, dctx)
		}
	})
	return err
}

// joinLeaf joins a delta's leaf at key, of kind kind, into st: entry by
// entry, a counter's writer by writer.
func joinLeaf(st Store, key string, kind leafKind, es []Entry, ctx, dctx *CausalContext) error {
	if kind == leafCounter {
		return joinCounterLeaf(st, key, es, ctx, dctx)
	}
	cur, err := st.Leaf(key)
	if err != nil {
		return fmt.Errorf("reading leaf: %w", err)
	}
	res := joinLeafEntries(cur, es, ctx, dctx)
	if !equalEntries(cur, res) {
		if err := st.SetLeaf(key, res); err != nil {
			return fmt.Errorf("writing leaf: %w", err)
		}
	}
	return nil
}

// joinCounterLeaf joins a delta's counter leaf writer by writer: a dot's
// fate depends only on its own writer's entries and the two contexts, so
// only the writers the delta names, in its entries or its context, can
// change, and only theirs are read.
func joinCounterLeaf(st Store, key string, es []Entry, ctx, dctx *CausalContext) error {
	var writers []ReplicaID
	seen := map[ReplicaID]struct{}{}
	add := func(r ReplicaID) {
		if _, ok := seen[r]; !ok {
			seen[r] = struct{}{}
			writers = append(writers, r)
		}
	}
	for _, e := range es {
		add(e.Dot.Replica)
	}
	dctx.eachRange(func(r ReplicaID, _, _ uint64) { add(r) })
	for _, r := range writers {
		cur, err := st.ReplicaLeaf(key, r)
		if err != nil {
			return fmt.Errorf("reading counter writer: %w", err)
		}
		res := counterJoin(cur, replicaEntries(es, r), ctx, dctx)
		if !equalEntries(cur, res) {
			if err := st.SetReplicaLeaf(key, r, res); err != nil {
				return fmt.Errorf("writing counter writer: %w", err)
			}
		}
	}
	return nil
}

// removeCounterDots drops dots a remover's context covered from a counter
// leaf, reading only their writers' entries.
func removeCounterDots(st Store, key string, dots []Dot) error {
	byWriter := map[ReplicaID][]Dot{}
	for _, d := range dots {
		byWriter[d.Replica] = append(byWriter[d.Replica], d)
	}
	for r, ds := range byWriter {
		es, err := st.ReplicaLeaf(key, r)
		if err != nil {
			return fmt.Errorf("reading counter writer: %w", err)
		}
		if err := st.SetReplicaLeaf(key, r, withoutDots(es, ds)); err != nil {
			return fmt.Errorf("writing counter writer: %w", err)
		}
	}
	return nil
}
