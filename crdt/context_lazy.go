package crdt

import "slices"

// ContextSource is where a lazy causal context finds a replica's entry the
// first time it needs it: the highest sequence up to which every dot of r
// has been seen, and the dots of r above it seen out of order. A store that
// keeps an object's context one entry per replica (the node, in Badger)
// reads it with one point lookup. Its errors stay in the context (Err).
type ContextSource func(r ReplicaID) (top uint64, cloud []uint64, err error)

// lazyState is what a lazy context keeps beside its vector and cloud:
// where unloaded entries come from, which replicas it has loaded, and which
// it has changed since it was made (or since ResetChanged), so that a store
// writes back only those.
type lazyState struct {
	src     ContextSource
	loaded  map[ReplicaID]struct{}
	changed map[ReplicaID]struct{}
	edits   uint64 // changes made, to tell whether a join changed anything
	err     error
}

// NewLazyContext returns a context whose entries are read from src one
// replica at a time, as the mutators and the join ask for them: what lets a
// join cost the size of the delta whatever the number of replicas the
// object has seen. Whole-context views (VersionVector, Cloud, Size,
// IsEmpty, Equal, the encodings) see only the replicas loaded so far; use
// them on contexts that are not lazy.
func NewLazyContext(src ContextSource) CausalContext {
	return CausalContext{lazy: &lazyState{src: src, loaded: map[ReplicaID]struct{}{}, changed: map[ReplicaID]struct{}{}}}
}

// touch loads r's entry from the source, once.
func (c *CausalContext) touch(r ReplicaID) {
	l := c.lazy
	if l == nil {
		return
	}
	if _, ok := l.loaded[r]; ok {
		return
	}
	l.loaded[r] = struct{}{}
	top, cloud, err := l.src(r)
	if err != nil {
		if l.err == nil {
			l.err = err
		}
		return
	}
	c.put(r, top, cloud)
}

// SetEntry adds r's entry, as a ContextSource gives it, to c: how a store
// that keeps a context entry by entry reads it whole.
func (c *CausalContext) SetEntry(r ReplicaID, top uint64, cloud []uint64) {
	c.put(r, top, cloud)
	c.compactReplica(r)
}

func (c *CausalContext) put(r ReplicaID, top uint64, cloud []uint64) {
	if top > c.vv[r] {
		if c.vv == nil {
			c.vv = VersionVector{}
		}
		c.vv[r] = top
	}
	for _, s := range cloud {
		if s > c.vv[r] {
			if c.cloud == nil {
				c.cloud = map[Dot]struct{}{}
			}
			c.cloud[Dot{Replica: r, Seq: s}] = struct{}{}
		}
	}
}

// mark records that r's entry changed.
func (c *CausalContext) mark(r ReplicaID) {
	if c.lazy != nil {
		c.lazy.changed[r] = struct{}{}
		c.lazy.edits++
	}
}

// Edits counts the changes made to a lazy context: equal counts before and
// after a join mean it added nothing. Zero for a context that is not lazy.
func (c *CausalContext) Edits() uint64 {
	if c.lazy == nil {
		return 0
	}
	return c.lazy.edits
}

// Err is the first error the source of a lazy context returned; a join or
// mutation that ran while it was set must be thrown away.
func (c *CausalContext) Err() error {
	if c.lazy == nil {
		return nil
	}
	return c.lazy.err
}

// Changed returns the replicas whose entries a lazy context changed, in
// canonical order; nil for a context that is not lazy.
func (c *CausalContext) Changed() []ReplicaID {
	if c.lazy == nil {
		return nil
	}
	rs := make([]ReplicaID, 0, len(c.lazy.changed))
	for r := range c.lazy.changed {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, compareReplica)
	return rs
}

// ResetChanged forgets which entries changed, once a store has written
// them.
func (c *CausalContext) ResetChanged() {
	if c.lazy != nil {
		clear(c.lazy.changed)
	}
}

// Entry returns r's entry as a ContextSource gives it: the contiguous top
// and the sorted sequences above it seen out of order.
func (c *CausalContext) Entry(r ReplicaID) (top uint64, cloud []uint64) {
	c.touch(r)
	top = c.vv[r]
	for d := range c.cloud {
		if d.Replica == r {
			cloud = append(cloud, d.Seq)
		}
	}
	slices.Sort(cloud)
	return top, cloud
}

// IsLazy reports whether the context reads its entries from a source.
func (c *CausalContext) IsLazy() bool { return c.lazy != nil }

// cloneLazy copies the lazy state: the same source, its own sets.
func (l *lazyState) clone() *lazyState {
	if l == nil {
		return nil
	}
	n := &lazyState{src: l.src, err: l.err, edits: l.edits, loaded: make(map[ReplicaID]struct{}, len(l.loaded)), changed: make(map[ReplicaID]struct{}, len(l.changed))}
	for r := range l.loaded {
		n.loaded[r] = struct{}{}
	}
	for r := range l.changed {
		n.changed[r] = struct{}{}
	}
	return n
}
