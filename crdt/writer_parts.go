package crdt

import "slices"

// Writer parts of a counter. A counter's state is a product over its
// writers: a writer's entries change only by its own entries and its own
// context entry (counterJoin), whatever the other writers hold. So the
// state restricted to some writers (their entries in every leaf, their
// context entries, the type set) is a valid delta of the whole, and its
// join into any replica changes only those writers. WriterParts cuts a
// counter into such restrictions, each of a bounded number of writers: a
// state transfer sends a counter of many writers as these parts, and the
// receiver joins each in a transaction of its own (node/replica).
//
// Between parts the receiver holds the join of what it had with some
// writers of the sender, a state the log could have brought as well; it
// never counts a writer's share twice, with one exception: a fold replica's
// entry holds the shares of the writers it folded, whose bases travel in
// their own writers' parts. A receiver that still holds a folded writer's
// raw entries would count that writer twice between the fold replica's
// part and the writer's. The writers late names are therefore put in the
// last parts: a caller names the fold replicas (FoldReplica of the nodes
// it knows), so that every base has arrived before the totals it moved.

// CounterOnly reports whether every leaf of o is a counter leaf, so that
// WriterParts applies.
func (o *Object) CounterOnly() bool {
	only := true
	o.eachLeaf(func(key string, _ []Entry) {
		only = only && IsCounterLeaf(key)
	})
	return only
}

// WriterParts splits o, an object of counter leaves only, into parts of
// at most maxWriters writers each and about maxBytes in the binary
// encoding (a writer whose own part is larger travels alone). Every writer
// of o, named by an entry or by the context, is in exactly one part, with
// all its entries and its whole context entry; every part carries o's type
// set. Writers for which late reports true come in the last parts. Joining
// every part, in any order, gives o. It returns nil for an object with a
// leaf other than a counter's.
func (o *Object) WriterParts(maxWriters, maxBytes int, late func(ReplicaID) bool) []*Object {
	if !o.CounterOnly() {
		return nil
	}
	maxWriters = max(maxWriters, 1)
	type leafEntries struct {
		key string
		es  []Entry
	}
	var leaves []leafEntries
	byWriter := map[ReplicaID][][]Entry{} // per leaf, in leaves' order
	seen := map[ReplicaID]bool{}
	var writers []ReplicaID
	add := func(r ReplicaID) {
		if !seen[r] {
			seen[r] = true
			writers = append(writers, r)
		}
	}
	o.eachLeaf(func(key string, es []Entry) {
		i := len(leaves)
		leaves = append(leaves, leafEntries{key, es})
		for _, e := range es {
			r := e.Dot.Replica
			add(r)
			w := byWriter[r]
			for len(w) <= i {
				w = append(w, nil)
			}
			w[i] = append(w[i], e)
			byWriter[r] = w
		}
	})
	for r := range o.meta.Ctx.vv {
		add(r)
	}
	for d := range o.meta.Ctx.cloud {
		add(d.Replica)
	}
	isLate := func(r ReplicaID) bool { return late != nil && late(r) }
	slices.SortFunc(writers, func(a, b ReplicaID) int {
		if la, lb := isLate(a), isLate(b); la != lb {
			if la {
				return 1
			}
			return -1
		}
		return compareReplica(a, b)
	})
	// A writer's share of a part's encoding: its entries, its id and its
	// context entry (a generous bound per number).
	cost := func(r ReplicaID) int {
		n := 16 + 10
		for i, es := range byWriter[r] {
			if len(es) > 0 {
				n += len(EncodeLeaf(leaves[i].key, es))
			}
		}
		_, cloud := o.meta.Ctx.Entry(r)
		return n + 10*len(cloud)
	}
	var parts []*Object
	var cur *Object
	var pending [][]Entry // cur's entries, per leaf
	flush := func() {
		for i, es := range pending {
			if len(es) > 0 {
				slices.SortFunc(es, func(a, b Entry) int { return compareDot(a.Dot, b.Dot) })
				_ = cur.SetLeaf(leaves[i].key, es)
			}
		}
	}
	count, size := 0, 0
	for _, r := range writers {
		c := cost(r)
		if cur == nil || count == maxWriters || (count > 0 && size+c > maxBytes) {
			if cur != nil {
				flush()
			}
			cur = o.emptyPart()
			parts = append(parts, cur)
			pending = make([][]Entry, len(leaves))
			count, size = 0, 64
		}
		for i, es := range byWriter[r] {
			pending[i] = append(pending[i], es...)
		}
		if top, cloud := o.meta.Ctx.Entry(r); top > 0 || len(cloud) > 0 {
			cur.meta.Ctx.SetEntry(r, top, cloud)
		}
		count++
		size += c
	}
	if cur == nil {
		return []*Object{o.emptyPart()}
	}
	flush()
	return parts
}
