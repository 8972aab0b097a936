package crdt

import "slices"

// RawDelta builds an object from parts, bypassing the mutators, so tests
// can make the deltas a hostile client would send.
func RawDelta(types TypeSet, leaves map[string][]Entry, ctx []Dot, vv VersionVector) *Object {
	o := NewObject()
	o.meta.Types = types
	for k, es := range leaves {
		es = slices.Clone(es)
		slices.SortFunc(es, compareEntryDot)
		_ = o.SetLeaf(k, slices.CompactFunc(es, func(a, b Entry) bool { return a.Dot == b.Dot }))
	}
	for r, s := range vv {
		if o.meta.Ctx.vv == nil {
			o.meta.Ctx.vv = VersionVector{}
		}
		if s > o.meta.Ctx.vv[r] {
			o.meta.Ctx.vv[r] = s
		}
	}
	for _, d := range ctx {
		o.meta.Ctx.Add(d)
	}
	return o
}

// MarshalBinaryIn encodes o in the given binary version, for tests of the
// versions still read: what a decoder of such input must re-encode to.
func MarshalBinaryIn(o *Object, version byte) []byte {
	rs := map[ReplicaID]struct{}{}
	h := newHeader(o.collect(rs), rs)
	h.version = version
	b := appendUvarint([]byte{version}, uint64(h.base))
	return h.appendBody(h.appendReplicas(b), o)
}

// MarshalBatchIn is MarshalBinaryIn for a batch.
func MarshalBatchIn(b Batch, version byte) ([]byte, error) { return b.encode(version) }

// CounterListBuilt reports whether any counter leaf of o kept by writer has
// built its list of every entry: what a read or write of one writer must
// not need.
func CounterListBuilt(o *Object) bool {
	built := false
	o.leaves.Ascend(func(it leafItem) bool {
		built = built || it.ctr != nil && it.ctr.list.Load() != nil
		return true
	})
	return built
}
