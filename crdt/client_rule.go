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
//     sender's own writes, never another replica's. No base (fold.go):
//     only nodes fold, so a client never sets or moves one, its own
//     included; a base of its own stored here holds its new entries to
//     totals at least the base's, like any earlier entry of its own.
//   - A re-sent entry (a dot the receiver has seen) must be exactly what is
//     stored under that dot, at the same leaf: a dot names one write.
//   - New entries keep their type's invariants: a G-counter entry has no
//     decrements; a replica's counter totals only grow with its sequence;
//     no total, and no object's sum of totals, passes MaxSafeInt;
//     a new LWW timestamp is not ahead of MaxWall; a new list entry puts
//     its element at a position the sender minted, with a timestamp not
//     ahead of MaxWall; a delta adds at most MaxTextInsert characters to
//     texts and MaxListInsert elements and positions to lists.
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
// names and the dots d's entries carry, as JoinInto does, so it costs what
// the join costs. The error wraps ErrForgedDot (with ErrClientBase for a
// base), ErrInvalid, ErrWrongType,
// ErrOutOfRange or ErrUnseenDots; the ones that can never succeed come
// before ErrUnseenDots, so a retry is only asked for where it can help.
func (c ClientRule) Check(st Store, m *Meta, d *Object) error {
	if err := checkDeltaTypes(m.Types, d.meta.Types); err != nil {
		return err
	}
	cs := &checkState{seen: map[Dot]struct{}{}, unseen: &UnseenError{}}
	unseen := cs.unseen
	var err error
	d.eachLeaf(func(key string, es []Entry) {
		if err == nil {
			err = c.checkLeaf(st, m, d, key, es, cs)
		}
	})
	if err != nil {
		return err
	}
	d.meta.Ctx.eachRange(func(r ReplicaID, lo, hi uint64) {
		if r != c.Client && !m.Ctx.covers(r, lo, hi) {
			unseen.add(r, lo, hi)
		}
	})
	if err := m.Ctx.Err(); err != nil {
		return fmt.Errorf("reading context: %w", err)
	}
	if len(unseen.Missing) > 0 {
		return unseen
	}
	return nil
}

// checkState is what a check gathers across a delta's leaves.
type checkState struct {
	seen      map[Dot]struct{} // every entry's dot, to refuse one twice
	unseen    *UnseenError     // missing dots, reported once nothing else is wrong
	textAdded int              // new text characters, against MaxTextInsert
	listAdded int              // new list elements and positions, against MaxListInsert
}

// DotRange is the sequences Lo..Hi of one replica.
type DotRange struct {
	Replica ReplicaID
	Lo, Hi  uint64
}

// UnseenError is the error of a client delta that covers, or places text
// after, other replicas' dots the receiver has not received: Missing names
// them, so a receiver waiting for them can tell cheaply when they have
// arrived. It wraps ErrUnseenDots.
type UnseenError struct {
	Missing []DotRange
}

func (e *UnseenError) add(r ReplicaID, lo, hi uint64) {
	e.Missing = append(e.Missing, DotRange{Replica: r, Lo: lo, Hi: hi})
}

func (e *UnseenError) Error() string {
	var names []string
	for _, d := range e.Missing {
		names = append(names, fmt.Sprintf("%s:%d..%d", d.Replica, d.Lo, d.Hi))
	}
	slices.Sort(names)
	if len(names) > 4 {
		names = append(names[:4], fmt.Sprintf("and %d more", len(e.Missing)-4))
	}
	return fmt.Sprintf("%v: the delta covers %v, not all received here yet", ErrUnseenDots, names)
}

func (e *UnseenError) Unwrap() error { return ErrUnseenDots }

// CoveredBy reports whether m's context now holds every missing dot.
func (e *UnseenError) CoveredBy(m *Meta) bool {
	for _, d := range e.Missing {
		if !m.Ctx.covers(d.Replica, d.Lo, d.Hi) {
			return false
		}
	}
	return true
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
func (c ClientRule) checkLeaf(st Store, m *Meta, d *Object, key string, es []Entry, cs *checkState) error {
	p, err := ParseKey(key)
	if err != nil {
		return err
	}
	t, kind := p.leafType(), p.leafKind()
	for _, e := range es {
		if e.Base {
			return fmt.Errorf("%w: %w: entry %s at %s is a base", ErrForgedDot, ErrClientBase, e.Dot, p)
		}
		if e.Dot.Replica != c.Client {
			return fmt.Errorf("%w: entry %s at %s is another replica's write", ErrForgedDot, e.Dot, p)
		}
		if _, dup := cs.seen[e.Dot]; dup {
			return fmt.Errorf("%w: dot %s appears twice", ErrInvalid, e.Dot)
		}
		cs.seen[e.Dot] = struct{}{}
		if kind == leafText {
			continue // by character, below: pieces merge and split
		}
		if m.Ctx.Contains(e.Dot) {
			if err := checkResend(st, key, e, p); err != nil {
				return err
			}
			continue
		}
		if (t == TypeLWW || kind == leafListItem) && e.TS.Wall > c.MaxWall {
			return fmt.Errorf("%w: timestamp %s is ahead of the node's clock by more than the allowed skew", ErrInvalid, e.TS)
		}
		if kind == leafListItem {
			// A new entry places the element at a position its writer
			// just minted: an insert or a move.
			if e.Origin.Replica != c.Client {
				return fmt.Errorf("%w: entry %s at %s puts the element at another replica's position", ErrForgedDot, e.Dot, p)
			}
			if cs.listAdded++; cs.listAdded > MaxListInsert {
				return fmt.Errorf("%w: a delta adds at most %d elements and positions to lists", ErrLimit, MaxListInsert)
			}
		}
	}
	if kind == leafText {
		return c.checkText(st, m, key, es, p, cs)
	}
	if t != TypeGCounter && t != TypePNCounter {
		return nil
	}
	cur, err := st.ReplicaLeaf(key, c.Client)
	if err != nil {
		return fmt.Errorf("reading counter writer: %w", err)
	}
	// Re-sent entries passed checkResend above; the join drops those the
	// store no longer holds (a remove covered them), so only new entries
	// are held to the client's stored totals.
	fresh := make([]Entry, 0, len(es))
	for _, e := range es {
		if !m.Ctx.Contains(e.Dot) {
			fresh = append(fresh, e)
		}
	}
	if err := c.checkCounter(t, cur, fresh, p, &d.meta.Ctx); err != nil {
		return err
	}
	tally, err := st.CounterTally(key)
	if err != nil {
		return fmt.Errorf("reading counter tally: %w", err)
	}
	if err := counterRaise(tally, cur, counterJoin(cur, es, &m.Ctx, &d.meta.Ctx)); err != nil {
		return fmt.Errorf("counter %s: %w", p, err)
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
	var es []Entry
	if p.leafKind() == leafCounter {
		es, err = st.ReplicaLeaf(key, e.Dot.Replica)
	} else {
		es, err = st.Leaf(key)
	}
	if err != nil {
		return fmt.Errorf("reading leaf: %w", err)
	}
	i, found := slices.BinarySearchFunc(es, e.Dot, func(x Entry, d Dot) int { return compareDot(x.Dot, d) })
	if found && comparePayload(es[i], e) == 0 {
		return nil
	}
	return fmt.Errorf("%w: dot %s was written at %s with another value", ErrForgedDot, e.Dot, p)
}

// MaxTextSeq bounds the sequence of a character a client writes into a
// text: how many characters, live or deleted, one replica can add to one
// object. A text's readers pay for every character it ever held, so one
// token must not be able to make a shared text arbitrarily expensive.
const MaxTextSeq = 1 << 20

// checkText checks a text leaf character by character, since the pieces
// that carry them merge and split as the text is edited: a resent
// character must have the place (origin, side) and, where both still hold
// it, the content stored under its dot; a new one must be placed after a
// character that exists here, or the client's own, and a delta adds at
// most MaxTextInsert characters, none past MaxTextSeq. A list's positions
// are checked the same way, against MaxListInsert.
func (c ClientRule) checkText(st Store, m *Meta, key string, es []Entry, p Path, cs *checkState) error {
	var stored map[Dot]textChar
	list := p.leafType() == TypeList
	for _, ch := range expandPieces(nil, es) {
		if o := ch.origin; o != (Dot{}) && o.Replica != c.Client && !m.Ctx.Contains(o) {
			cs.unseen.add(o.Replica, o.Seq, o.Seq)
		}
		if !m.Ctx.Contains(ch.dot) {
			if list {
				if cs.listAdded++; cs.listAdded > MaxListInsert {
					return fmt.Errorf("%w: a delta adds at most %d elements and positions to lists", ErrLimit, MaxListInsert)
				}
			} else if cs.textAdded++; cs.textAdded > MaxTextInsert {
				return fmt.Errorf("%w: a delta adds at most %d characters to a text", ErrLimit, MaxTextInsert)
			}
			if ch.dot.Seq > MaxTextSeq {
				return fmt.Errorf("%w: a replica writes at most %d characters into one object's texts", ErrLimit, MaxTextSeq)
			}
			continue
		}
		if stored == nil {
			cur, err := st.Leaf(key)
			if err != nil {
				return fmt.Errorf("reading leaf: %w", err)
			}
			stored = map[Dot]textChar{}
			for _, s := range expandPieces(nil, cur) {
				stored[s.dot] = s
			}
		}
		s, ok := stored[ch.dot]
		if !ok {
			continue // seen and not kept here: the join drops it
		}
		if s.origin != ch.origin || s.left != ch.left || s.live && ch.live && s.r != ch.r {
			return fmt.Errorf("%w: character %s of %s was written with another place or content", ErrForgedDot, ch.dot, p)
		}
	}
	return nil
}

// checkCounter holds a replica's counter entries to their invariants: P and
// N are running totals, so they only grow with the sequence, stay within
// MaxSafeInt, and a G-counter never decrements.
//
// One exception: a stored entry of the client inside a map that the
// delta's context covers and the delta does not carry is removed by the
// delta, as a delete of the field would remove it (a client's pending
// delete and a later increment of the same field, joined into one delta:
// the increment starts from zero). The client could send the delete and
// the increment apart, so this gives it no power it lacks; a counter at
// the top of an object has no delete, and its totals only grow.
func (c ClientRule) checkCounter(t Type, cur, es []Entry, p Path, dctx *CausalContext) error {
	var mine []Entry
	for _, e := range cur {
		if e.Dot.Replica != c.Client {
			continue
		}
		// A base is never removed (fold.go): the client stays above it.
		if len(p.Segs) > 0 && !e.Base && dctx.Contains(e.Dot) && !slices.ContainsFunc(es, func(n Entry) bool { return n.Dot == e.Dot }) {
			continue // removed by this delta, as by a delete of its field
		}
		mine = append(mine, e)
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
				return fmt.Errorf("%w: %w: entry %s of %s takes back counts of entry %s: a replica's totals only grow", ErrInvalid, ErrCounterBehind, e.Dot, p, o.Dot)
			}
		}
		mine = append(mine, e)
	}
	return nil
}

// leafType is the type whose leaf the path ends in: the set for an
// element, the text for a text block, the list for a list's block or
// element, the field's type for a field, else the root.
func (p Path) leafType() Type {
	if len(p.Segs) == 0 {
		return p.Root
	}
	last := p.Segs[len(p.Segs)-1]
	switch {
	case last.IsBlock() && last.Type == TypeList, last.IsItem():
		return TypeList
	case last.IsBlock():
		return TypeText
	case last.IsElem():
		return TypeORSet
	}
	return last.Type
}
