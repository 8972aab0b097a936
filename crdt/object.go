package crdt

import (
	"slices"

	"github.com/google/btree"
)

// Object is the state of one key, in memory: its leaves, a dot index and its
// causal context. A delta is an Object too, and so is the empty state. The
// zero value is not ready; use NewObject. An Object is not safe for
// concurrent use.
type Object struct {
	meta   Meta
	leaves *btree.BTreeG[leafItem]
	dots   map[Dot]string

	// texts caches the order of the texts this object edited, by key
	// prefix (text_index.go); editing is set while Apply runs a text edit,
	// whose own leaf writes keep the cache. Every other write drops it.
	texts   map[string]*textIndex
	editing bool

	// vjson, when kept (KeepValueJSON), is the JSON of a map's fields;
	// every leaf write tells it which field changed.
	vjson *valueJSONCache
}

type leafItem struct {
	key     string
	entries []Entry
	ctr     *counterLeaf // a counter leaf written by writer (SetReplicaLeaf); entries is then nil
}

// get is the item's entries, sorted by dot.
func (it leafItem) get() []Entry {
	if it.ctr != nil {
		return it.ctr.entries()
	}
	return it.entries
}

func lessLeaf(a, b leafItem) bool { return a.key < b.key }

// leafNodes is the free list every object's leaf tree takes nodes from
// and returns them to (it is safe for concurrent use): a delta, decoded and
// joined and dropped, then costs no tree allocation of its own.
var leafNodes = btree.NewFreeListG[leafItem](256)

// NewObject returns an empty object: the bottom of every type.
func NewObject() *Object {
	return &Object{leaves: btree.NewWithFreeListG(16, lessLeaf, leafNodes), dots: map[Dot]string{}}
}

var _ Store = (*Object)(nil)

// Leaf implements Store.
func (o *Object) Leaf(key string) ([]Entry, error) {
	it, _ := o.leaves.Get(leafItem{key: key})
	return it.get(), nil
}

// SetLeaf implements Store.
func (o *Object) SetLeaf(key string, es []Entry) error {
	if !o.editing {
		o.texts = nil
	}
	if o.vjson != nil {
		o.vjson.touched(key)
	}
	// One walk of the tree: the old leaf is what the write replaces.
	var old leafItem
	if len(es) == 0 {
		old, _ = o.leaves.Delete(leafItem{key: key})
	} else {
		old, _ = o.leaves.ReplaceOrInsert(leafItem{key: key, entries: es})
	}
	_ = DiffLiveDots(old.get(), es,
		func(d Dot) error { delete(o.dots, d); return nil },
		func(d Dot) error { o.dots[d] = key; return nil })
	return nil
}

// loadLeaves fills a new, empty object with leaves in key order, as a
// decoder reads them: there are no old leaves to diff the dot index against,
// and live (the count of live dots) sizes the index once instead of
// growing it one rehash at a time, which on a long text was half of a
// decode's time.
func (o *Object) loadLeaves(leaves []leafItem, live int) {
	o.dots = make(map[Dot]string, live)
	for _, it := range leaves {
		if len(it.entries) == 0 {
			continue
		}
		for _, e := range it.entries {
			e.EachLiveDot(func(d Dot) { o.dots[d] = it.key })
		}
		o.leaves.ReplaceOrInsert(it)
	}
}

// ReplicaLeaf implements Store.
func (o *Object) ReplicaLeaf(key string, r ReplicaID) ([]Entry, error) {
	it, _ := o.leaves.Get(leafItem{key: key})
	if it.ctr != nil {
		return it.ctr.by[r], nil
	}
	return replicaEntries(it.entries, r), nil
}

// SetReplicaLeaf implements Store. The leaf is kept by writer from its
// first such write on, so each later one costs the writer's entries.
func (o *Object) SetReplicaLeaf(key string, r ReplicaID, es []Entry) error {
	if !o.editing {
		o.texts = nil
	}
	if o.vjson != nil {
		o.vjson.touched(key)
	}
	it := o.counterItem(key)
	_ = DiffLiveDots(it.ctr.by[r], es,
		func(d Dot) error { delete(o.dots, d); return nil },
		func(d Dot) error { o.dots[d] = key; return nil })
	it.ctr.set(r, es)
	if len(it.ctr.by) == 0 {
		o.leaves.Delete(it)
		return nil
	}
	o.leaves.ReplaceOrInsert(it)
	return nil
}

// CounterTally implements Store.
func (o *Object) CounterTally(key string) (Tally, error) {
	it, ok := o.leaves.Get(leafItem{key: key})
	if !ok {
		return Tally{}, nil
	}
	if it.ctr == nil {
		it = o.counterItem(key)
		o.leaves.ReplaceOrInsert(it)
	}
	return it.ctr.tally, nil
}

// counterItem returns the item at key kept by writer, converting it.
func (o *Object) counterItem(key string) leafItem {
	it, _ := o.leaves.Get(leafItem{key: key})
	if it.ctr == nil {
		it = leafItem{key: key, ctr: newCounterLeaf(it.entries)}
	}
	return it
}

// Range implements Store.
func (o *Object) Range(lo, hi string, fn func(string, []Entry) error) error {
	var err error
	o.leaves.AscendGreaterOrEqual(leafItem{key: lo}, func(it leafItem) bool {
		if hi != "" && it.key >= hi {
			return false
		}
		err = fn(it.key, it.get())
		return err == nil
	})
	if err == ErrStop {
		return nil
	}
	return err
}

// Dots implements Store. Small ranges, which is what deltas carry, are
// probed dot by dot; large ones scan the index.
func (o *Object) Dots(r ReplicaID, lo, hi uint64, fn func(Dot, string) error) error {
	var err error
	if hi-lo < 64 || uint64(len(o.dots)) > hi-lo {
		for s := lo; s <= hi && err == nil; s++ {
			d := Dot{Replica: r, Seq: s}
			if key, ok := o.dots[d]; ok {
				err = fn(d, key)
			}
			if s == hi {
				break
			}
		}
	} else {
		for d, key := range o.dots {
			if d.Replica == r && d.Seq >= lo && d.Seq <= hi {
				if err = fn(d, key); err != nil {
					break
				}
			}
		}
	}
	if err == ErrStop {
		return nil
	}
	return err
}

// Context returns a copy of the object's causal context.
func (o *Object) Context() *CausalContext { return o.meta.Ctx.Clone() }

// Replicas returns every replica the object names, in its entries or its
// causal context, in canonical order: who has written it, as far as it
// knows.
func (o *Object) Replicas() []ReplicaID {
	seen := map[ReplicaID]struct{}{}
	for d := range o.dots {
		seen[d.Replica] = struct{}{}
	}
	for r := range o.meta.Ctx.vv {
		seen[r] = struct{}{}
	}
	for d := range o.meta.Ctx.cloud {
		seen[d.Replica] = struct{}{}
	}
	out := make([]ReplicaID, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	slices.SortFunc(out, compareReplica)
	return out
}

// Len is the number of leaves.
func (o *Object) Len() int { return o.leaves.Len() }

// IsEmpty reports whether the object is bottom: no leaves and no context.
func (o *Object) IsEmpty() bool {
	return o.leaves.Len() == 0 && o.meta.Ctx.IsEmpty() && o.meta.Types == 0
}

// Type is the object's type, fixed by its first write and kept after every
// remove; zero for an object never written. Should two replicas have
// created the key concurrently with different types, both states are kept
// and the lower type number is the one reported and read.
func (o *Object) Type() Type { return o.meta.Types.First() }

// Types is every type the object has been written as.
func (o *Object) Types() TypeSet { return o.meta.Types }

// Clone returns an independent copy. Entry slices are shared: they are
// never modified in place.
func (o *Object) Clone() *Object {
	c := &Object{meta: Meta{Ctx: *o.meta.Ctx.Clone(), Types: o.meta.Types}, leaves: o.leaves.Clone(), dots: make(map[Dot]string, len(o.dots))}
	for d, k := range o.dots {
		c.dots[d] = k
	}
	// Counter leaves change in place (SetReplicaLeaf): the copy gets its own.
	o.leaves.Ascend(func(it leafItem) bool {
		if it.ctr != nil {
			c.leaves.ReplaceOrInsert(leafItem{key: it.key, ctr: it.ctr.clone()})
		}
		return true
	})
	return c
}

// Join merges d into o. It is the lattice join: commutative, associative
// and idempotent, and d is any state or delta of any replica.
func (o *Object) Join(d *Object) {
	// An in-memory store cannot fail.
	_ = JoinInto(o, &o.meta, d)
}

// Apply performs op as replica r at time now, changes o, and returns the
// delta: join it into any replica to carry the change there.
func (o *Object) Apply(r ReplicaID, now Timestamp, op Op) (*Object, error) {
	if op.Type != TypeText {
		return Apply(o, &o.meta, r, now, op)
	}
	o.editing = true
	d, err := Apply(o, &o.meta, r, now, op)
	o.editing = false
	if err != nil {
		o.texts = nil
	}
	return d, err
}

// keepText caches the index of the text at prefix.
func (o *Object) keepText(prefix string, x *textIndex) {
	if o.texts == nil {
		o.texts = map[string]*textIndex{}
	}
	o.texts[prefix] = x
}

// eachLeaf walks every leaf in key order.
func (o *Object) eachLeaf(fn func(key string, es []Entry)) {
	o.leaves.Ascend(func(it leafItem) bool {
		fn(it.key, it.get())
		return true
	})
}

// hasLeaf reports whether the object holds a leaf at key.
func (o *Object) hasLeaf(key string) bool { return o.leaves.Has(leafItem{key: key}) }

// Equal reports whether two objects hold the same state.
func (o *Object) Equal(p *Object) bool {
	a, _ := o.MarshalBinary()
	b, _ := p.MarshalBinary()
	return string(a) == string(b)
}

// SetMeta replaces the object's context and type set; stores that load an
// object leaf by leaf (the node reading Badger) finish with it.
func (o *Object) SetMeta(m Meta) { o.meta = Meta{Ctx: *m.Ctx.Clone(), Types: m.Types} }
