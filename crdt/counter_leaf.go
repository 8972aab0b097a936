package crdt

import (
	"math/bits"
	"slices"
	"sync/atomic"
)

// Tally is what a counter leaf sums over its writers: each writer's share
// (its latest entry's totals, less its base's if it was folded: fold.go),
// added up in 128 bits so that the sum is exact whatever
// the number of writers, and how many writers it counts. A store keeps it
// beside the per-writer entries, so reading a counter or checking that a
// write keeps its sum within MaxSafeInt costs one lookup, not a walk of
// every writer.
type Tally struct {
	P, N    Uint128
	Writers uint64
}

// Uint128 is an unsigned 128-bit integer, Hi*2^64 + Lo.
type Uint128 struct{ Hi, Lo uint64 }

func (u Uint128) add(x uint64) Uint128 {
	lo, c := bits.Add64(u.Lo, x, 0)
	return Uint128{Hi: u.Hi + c, Lo: lo}
}

func (u Uint128) sub(x uint64) Uint128 {
	lo, b := bits.Sub64(u.Lo, x, 0)
	return Uint128{Hi: u.Hi - b, Lo: lo}
}

// saturated is u, or MaxSafeInt and true if u passes it.
func (u Uint128) saturated() (uint64, bool) {
	if u.Hi != 0 || u.Lo > MaxSafeInt {
		return MaxSafeInt, true
	}
	return u.Lo, false
}

// Add counts e's totals as a writer's share.
func (t *Tally) Add(e Entry) {
	t.P, t.N = t.P.add(e.P), t.N.add(e.N)
	t.Writers++
}

// Sub stops counting e, which Add counted.
func (t *Tally) Sub(e Entry) {
	t.P, t.N = t.P.sub(e.P), t.N.sub(e.N)
	t.Writers--
}

// Replace moves a writer's entries, sorted by dot, from old (if had) to
// new (if has).
func (t *Tally) Replace(old []Entry, new []Entry) {
	if len(old) > 0 {
		t.Sub(counterShare(old))
	}
	if len(new) > 0 {
		t.Add(counterShare(new))
	}
}

// Sums returns the sums saturated at MaxSafeInt, and which saturated: what
// counterSums gives for the whole leaf.
func (t Tally) Sums() (p, n uint64, pOver, nOver bool) {
	p, pOver = t.P.saturated()
	n, nOver = t.N.saturated()
	return p, n, pOver, nOver
}

// Value is the counter's value as Object.Value reads a counter of this one
// leaf: the saturated sums' difference.
func (t Tally) Value() int64 {
	p, n, _, _ := t.Sums()
	return int64(p) - int64(n)
}

// TallyOf sums a whole counter leaf, sorted by dot.
func TallyOf(es []Entry) Tally {
	var t Tally
	for i := 0; i < len(es); {
		j := i + 1
		for j < len(es) && es[j].Dot.Replica == es[i].Dot.Replica {
			j++
		}
		t.Add(counterShare(es[i:j]))
		i = j
	}
	return t
}

// counterLeaf is a counter leaf in memory, kept by writer: writing one
// writer's entry costs one map update, whatever the number of writers.
// list is every entry in dot order, built on demand and dropped on change;
// it is atomic so that readers of an object (which do not change it) may
// build it concurrently.
type counterLeaf struct {
	by    map[ReplicaID][]Entry
	tally Tally
	list  atomic.Pointer[[]Entry]
}

// newCounterLeaf groups es, sorted by dot, by writer.
func newCounterLeaf(es []Entry) *counterLeaf {
	c := &counterLeaf{by: map[ReplicaID][]Entry{}}
	if len(es) > 0 {
		c.list.Store(&es)
	}
	for i := 0; i < len(es); {
		j := i + 1
		for j < len(es) && es[j].Dot.Replica == es[i].Dot.Replica {
			j++
		}
		c.by[es[i].Dot.Replica] = es[i:j:j]
		c.tally.Add(counterShare(es[i:j]))
		i = j
	}
	return c
}

// entries is every entry, sorted by dot.
func (c *counterLeaf) entries() []Entry {
	if l := c.list.Load(); l != nil || len(c.by) == 0 {
		if l == nil {
			return nil
		}
		return *l
	}
	rs := make([]ReplicaID, 0, len(c.by))
	n := 0
	for r, es := range c.by {
		rs = append(rs, r)
		n += len(es)
	}
	slices.SortFunc(rs, compareReplica)
	list := make([]Entry, 0, n)
	for _, r := range rs {
		list = append(list, c.by[r]...)
	}
	c.list.Store(&list)
	return list
}

// set replaces r's entries, sorted by dot.
func (c *counterLeaf) set(r ReplicaID, es []Entry) {
	c.tally.Replace(c.by[r], es)
	if len(es) == 0 {
		delete(c.by, r)
	} else {
		c.by[r] = es
	}
	c.list.Store(nil)
}

func (c *counterLeaf) clone() *counterLeaf {
	n := &counterLeaf{by: make(map[ReplicaID][]Entry, len(c.by)), tally: c.tally}
	n.list.Store(c.list.Load())
	for r, es := range c.by {
		n.by[r] = es
	}
	return n
}

// replicaEntries returns the entries of r in es, sorted by dot: they are
// adjacent, found by binary search.
func replicaEntries(es []Entry, r ReplicaID) []Entry {
	lo, _ := slices.BinarySearchFunc(es, r, func(e Entry, r ReplicaID) int { return compareReplica(e.Dot.Replica, r) })
	hi := lo
	for hi < len(es) && es[hi].Dot.Replica == r {
		hi++
	}
	return es[lo:hi:hi]
}

// IsCounterLeaf reports whether key is a counter's leaf, which stores keep
// by writer (Store.SetReplicaLeaf).
func IsCounterLeaf(key string) bool { return leafKindOfKey(key) == leafCounter }
