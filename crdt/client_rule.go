package crdt

import (
	"fmt"
	"slices"
)

// ClientRule is what a replica that is not trusted (a client) may put in a
// delta, checked against the state it would join. Nodes run it on every
// client delta, whatever encoding or transport brought it; peers, which are
// trusted under the gossip key, are not held to it.
//
// The rule (docs/protocol.md, "What a client may send") is:
//
//   - Entries only under the sender's own replica id: a delta carries the
//     sender's own writes, never another replica's.
//   - A re-sent entry (a dot the receiver has seen) must be exactly what is
//     stored under that dot, at the same leaf: a dot names one write.
//   - New entries keep their type's invariants: a G-counter entry has no
//     decrements; a replica's counter totals only grow with its sequence;
//     no total, and no object's sum of totals, passes MaxSafeInt;
//     a new LWW timestamp is not ahead of MaxWall.
//   - The causal context covers, of other replicas, only dots the receiver
//     has. Covering dots it has not received is either a client that read
//     from a replica further ahead (legitimate: retry once it caught up) or
//     a forged claim on writes that do not exist yet; the rule cannot tell
//     them apart, so it refuses both with ErrUnseenDots, which is retryable,
//     and never stores such a delta.
//
// What a client's own replica id holds is its own business: it may cover
// its own dots freely, since that can only hide its own writes.
type ClientRule struct {
	// Client is the sender's replica id, from its credentials.
	Client ReplicaID
	// MaxWall is the newest wall time (Unix milliseconds) a new
	// last-writer-wins timestamp may carry: the receiver's clock plus the
	// allowed skew.
	MaxWall int64
}

// Check refuses d, a delta from the client, unless it keeps the rule
// against the object held by st with meta m. It reads only the leaves d
// names and the dots d's entries carry, so its cost is the delta's, not
// the object's. The error wraps ErrForgedDot, ErrInvalid, ErrWrongType,
// ErrOutOfRange or ErrUnseenDots; the ones that can never succeed come
// before ErrUnseenDots, so a retry is only asked for where it can help.
func (c ClientRule) Check(st Store, m *Meta, d *Object) error {
	if err := checkDeltaTypes(m.Types, d.meta.Types); err != nil {
		return err
	}
	seen := map[Dot]struct{}{}
	var err error
	d.eachLeaf(func(key string, es []Entry) {
		if err == nil {
			err = c.checkLeaf(st, m, d, key, es, seen)
		}
	})
	if err != nil {
		return err
	}
	var unseen []string
	d.meta.Ctx.eachRange(func(r ReplicaID, lo, hi uint64) {
		if r != c.Client && !m.Ctx.containsRange(r, lo, hi) && len(unseen) < 4 {
			unseen = append(unseen, fmt.Sprintf("%s:%d..%d", r, lo, hi))
		}
	})
	if len(unseen) > 0 {
		slices.Sort(unseen)
		return fmt.Errorf("%w: the context covers %v, not all received here yet", ErrUnseenDots, unseen)
	}
	return nil
}

// checkDeltaTypes refuses a delta that names no type, several, or one the
// object is not.
func checkDeltaTypes(have, dt TypeSet) error {
	if dt == 0 {
		return fmt.Errorf("%w: the delta names no type", ErrInvalid)
	}
	if len(dt.List()) > 1 {
		return fmt.Errorf("%w: a delta names one type", ErrInvalid)
	}
	if have != 0 && dt&^have != 0 {
		return fmt.Errorf("%w: the object is a %s, the delta a %s", ErrWrongType, have.First(), dt.First())
	}
	return nil
}

// checkLeaf checks the entries d carries at key.
func (c ClientRule) checkLeaf(st Store, m *Meta, d *Object, key string, es []Entry, seen map[Dot]struct{}) error {
	p, err := ParseKey(key)
	if err != nil {
		return err
	}
	t := p.leafType()
	for _, e := range es {
		if e.Dot.Replica != c.Client {
			return fmt.Errorf("%w: entry %s at %s is another replica's write", ErrForgedDot, e.Dot, p)
		}
		if _, dup := seen[e.Dot]; dup {
			return fmt.Errorf("%w: dot %s appears twice", ErrInvalid, e.Dot)
		}
		seen[e.Dot] = struct{}{}
		if m.Ctx.Contains(e.Dot) {
			if err := checkResend(st, key, e, p); err != nil {
				return err
			}
			continue
		}
		if t == TypeLWW && e.TS.Wall > c.MaxWall {
			return fmt.Errorf("%w: timestamp %s is ahead of the node's clock by more than the allowed skew", ErrInvalid, e.TS)
		}
	}
	if t != TypeGCounter && t != TypePNCounter {
		return nil
	}
	cur, err := st.Leaf(key)
	if err != nil {
		return fmt.Errorf("reading leaf: %w", err)
	}
	if err := c.checkCounter(t, cur, es, p); err != nil {
		return err
	}
	joined := joinEntries(cur, es, &m.Ctx, &d.meta.Ctx)
	if _, _, ok := counterTotalChecked(joined); !ok {
		return fmt.Errorf("%w: counter %s would pass 2^53-1 (%d)", ErrOutOfRange, p, MaxSafeInt)
	}
	return nil
}

// checkResend accepts an entry under a dot already seen only if it is what
// is stored under that dot, at the same leaf. A dot seen and no longer
// stored was removed: the join drops the entry whatever it carries.
func checkResend(st Store, key string, e Entry, p Path) error {
	var at string
	err := st.Dots(e.Dot.Replica, e.Dot.Seq, e.Dot.Seq, func(_ Dot, k string) error {
		at = k
		return ErrStop
	})
	if err != nil {
		return fmt.Errorf("reading dot index: %w", err)
	}
	if at == "" {
		return nil
	}
	if at != key {
		return fmt.Errorf("%w: dot %s is already a write elsewhere, not at %s", ErrForgedDot, e.Dot, p)
	}
	es, err := st.Leaf(key)
	if err != nil {
		return fmt.Errorf("reading leaf: %w", err)
	}
	i, found := slices.BinarySearchFunc(es, e.Dot, func(x Entry, d Dot) int { return compareDot(x.Dot, d) })
	if found && comparePayload(es[i], e) == 0 {
		return nil
	}
	return fmt.Errorf("%w: dot %s was written at %s with another value", ErrForgedDot, e.Dot, p)
}

// checkCounter holds a replica's counter entries to their invariants: P and
// N are running totals, so they only grow with the sequence, stay within
// MaxSafeInt, and a G-counter never decrements.
func (c ClientRule) checkCounter(t Type, cur, es []Entry, p Path) error {
	var mine []Entry
	for _, e := range cur {
		if e.Dot.Replica == c.Client {
			mine = append(mine, e)
		}
	}
	for _, e := range es {
		switch {
		case t == TypeGCounter && e.N != 0:
			return fmt.Errorf("%w: %s is a gcounter; entry %s decrements it", ErrInvalid, p, e.Dot)
		case e.P > MaxSafeInt || e.N > MaxSafeInt:
			return fmt.Errorf("%w: entry %s of %s passes 2^53-1", ErrOutOfRange, e.Dot, p)
		}
		for _, o := range mine {
			if o.Dot.Seq < e.Dot.Seq && (e.P < o.P || e.N < o.N) || o.Dot.Seq > e.Dot.Seq && (e.P > o.P || e.N > o.N) {
				return fmt.Errorf("%w: entry %s of %s takes back counts of entry %s: a replica's totals only grow", ErrInvalid, e.Dot, p, o.Dot)
			}
		}
		mine = append(mine, e)
	}
	return nil
}

// leafType is the type whose leaf the path ends in: the set for an
// element, the field's type for a field, else the root.
func (p Path) leafType() Type {
	if len(p.Segs) == 0 {
		return p.Root
	}
	last := p.Segs[len(p.Segs)-1]
	if last.IsElem() {
		return TypeORSet
	}
	return last.Type
}

// containsRange reports whether every dot lo..hi of r has been seen. It
// costs at most one probe per cloud dot, whatever the range's length.
func (c *CausalContext) containsRange(r ReplicaID, lo, hi uint64) bool {
	if hi <= c.vv[r] {
		return true
	}
	if lo <= c.vv[r] {
		lo = c.vv[r] + 1
	}
	if hi-lo >= uint64(len(c.cloud)) {
		return false
	}
	for s := lo; s <= hi; s++ {
		if _, ok := c.cloud[Dot{Replica: r, Seq: s}]; !ok {
			return false
		}
	}
	return true
}
