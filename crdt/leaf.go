package crdt

import (
	"fmt"
	"slices"
)

// Entry is one dot of a leaf and what the dot maps to. Which fields are in
// use depends on the leaf's kind: none for flags and set elements, P and N
// for counters (this replica's running totals of increments and
// decrements), V for multi-value registers, TS and V for last-writer-wins
// registers, and TS, V and Origin (the position it puts the element at) for
// a list element's entries (list.go). A leaf's entries are sorted by dot,
// one entry per dot.
//
// A text piece (see text.go) is the one entry that spans several dots: Len
// characters with the consecutive dots Dot.Seq to Dot.Seq+Len-1, V holding
// them as a string, or null once they are deleted, and Origin and Left
// placing the first of them in the Fugue tree. Every other entry has Len 0
// and spans its one dot.
//
// A counter entry with Base set is a writer's base (fold.go): the writer's
// totals at Dot.Seq, which a node has folded into its fold entry, so that
// the writer counts only what its entries hold beyond them. A base is not a
// write: it holds no dot (EachLiveDot), no context removes it, and joins
// keep the greater of two (counterJoin).
type Entry struct {
	Dot    Dot
	P      uint64
	N      uint64
	TS     Timestamp
	V      Value
	Len    uint64
	Origin Dot
	Left   bool
	Base   bool
}

// span is the number of dots e covers.
func (e Entry) span() uint64 {
	if e.Len == 0 {
		return 1
	}
	return e.Len
}

// live reports whether e's dots are present: false only for a deleted
// text piece, which keeps its place in the tree but no characters.
func (e Entry) live() bool { return e.Len == 0 || e.V.kind == KindString }

// eachDot calls fn for every dot e covers, deleted or not.
func (e Entry) eachDot(fn func(Dot)) {
	for i := uint64(0); i < e.span(); i++ {
		fn(Dot{Replica: e.Dot.Replica, Seq: e.Dot.Seq + i})
	}
}

// eachWriteDot calls fn for every dot e covers as a write: eachDot's, and
// none for a counter base, which is not a write (fold.go). What a state's
// leaves hold, for its encodings' implied dots and its parts.
func (e Entry) eachWriteDot(fn func(Dot)) {
	if !e.Base {
		e.eachDot(fn)
	}
}

// SeenIn reports whether c holds every dot e covers: all of a text piece's,
// the one dot of any other entry.
func (e Entry) SeenIn(c *CausalContext) bool {
	return c.covers(e.Dot.Replica, e.Dot.Seq, e.Dot.Seq+e.span()-1)
}

// EachLiveDot calls fn for every dot e holds: its dot, or the dots of a
// text piece's characters unless they are deleted. Stores index these: a
// remove (a context covering them) must find them, and nothing else can be
// removed.
func (e Entry) EachLiveDot(fn func(Dot)) {
	if e.live() && !e.Base {
		e.eachDot(fn)
	}
}

// comparePayload orders two entries that carry the same dot. A correct
// replica never mints one dot twice, so this only matters for forged or
// corrupted input; picking the greater payload keeps join a semilattice
// even then.
func comparePayload(a, b Entry) int {
	switch {
	case a.Base != b.Base:
		if a.Base {
			return 1
		}
		return -1
	case a.P != b.P:
		return cmpU(a.P, b.P)
	case a.N != b.N:
		return cmpU(a.N, b.N)
	}
	if c := a.TS.Compare(b.TS); c != 0 {
		return c
	}
	if c := compareDot(a.Origin, b.Origin); c != 0 {
		return c
	}
	return a.V.Compare(b.V)
}

// overlap reports a dot two entries both cover, sorting es by dot.
func overlap(es []Entry) (Dot, bool) {
	slices.SortFunc(es, compareEntryDot)
	for i := 1; i < len(es); i++ {
		a, b := es[i-1], es[i]
		if a.Dot.Replica == b.Dot.Replica && b.Dot.Seq < a.Dot.Seq+a.span() {
			return b.Dot, true
		}
	}
	return Dot{}, false
}

// joinLeafEntries joins two versions of one leaf: text pieces by
// character (joinText), everything else by dot (joinEntries).
func joinLeafEntries(s, o []Entry, sc, oc *CausalContext) []Entry {
	if isTextLeaf(s) || isTextLeaf(o) {
		return joinText(s, o, sc, oc)
	}
	if hasBase(s) || hasBase(o) {
		return counterJoin(s, o, sc, oc)
	}
	return joinEntries(s, o, sc, oc)
}

// withoutDots returns es less the dots a remover's context covered: the
// entries carrying them, or for a text, those characters marked deleted.
func withoutDots(es []Entry, dots []Dot) []Entry {
	if isTextLeaf(es) {
		return deleteChars(es, dots)
	}
	for _, d := range dots {
		es = withoutDot(es, d)
	}
	return es
}

func cmpU(a, b uint64) int {
	if a < b {
		return -1
	}
	return 1
}

func compareEntryDot(a, b Entry) int { return compareDot(a.Dot, b.Dot) }

// joinEntries is the join of two dot stores (Almeida et al., section 5):
// keep what both have, what one has and the other has not seen, and drop
// what one has and the other saw and removed. s and o are sorted by dot;
// the result is a new sorted slice.
func joinEntries(s, o []Entry, sc, oc *CausalContext) []Entry {
	out := make([]Entry, 0, len(s)+len(o))
	i, j := 0, 0
	for i < len(s) || j < len(o) {
		var c int
		switch {
		case i == len(s):
			c = 1
		case j == len(o):
			c = -1
		default:
			c = compareEntryDot(s[i], o[j])
		}
		switch {
		case c == 0:
			e := s[i]
			if comparePayload(o[j], e) > 0 {
				e = o[j]
			}
			out = append(out, e)
			i++
			j++
		case c < 0:
			if !oc.Contains(s[i].Dot) {
				out = append(out, s[i])
			}
			i++
		default:
			if !sc.Contains(o[j].Dot) {
				out = append(out, o[j])
			}
			j++
		}
	}
	return out
}

// withoutDot returns entries less the one carrying d.
func withoutDot(es []Entry, d Dot) []Entry {
	i, found := slices.BinarySearchFunc(es, d, func(e Entry, d Dot) int { return compareDot(e.Dot, d) })
	if !found {
		return es
	}
	out := make([]Entry, 0, len(es)-1)
	out = append(out, es[:i]...)
	return append(out, es[i+1:]...)
}

// lwwWinner returns the entry with the greatest timestamp, ties broken by
// replica id and then sequence.
func lwwWinner(es []Entry) (Entry, bool) {
	if len(es) == 0 {
		return Entry{}, false
	}
	best := es[0]
	for _, e := range es[1:] {
		c := e.TS.Compare(best.TS)
		if c == 0 {
			c = compareDot(e.Dot, best.Dot)
		}
		if c > 0 {
			best = e
		}
	}
	return best, true
}

// counterTotal sums, per replica, the latest entry: an entry holds that
// replica's running totals, so an older entry still present (its successor
// arrived first) must not count twice. The sums saturate at MaxSafeInt:
// writers refuse to pass it (ErrOutOfRange), so only state from a peer that
// broke the rule, or writes that each kept it on nodes that could not see
// each other, gets there, and it must not wrap.
func counterTotal(es []Entry) (p, n uint64) {
	p, n, _, _ = TallyOf(es).Sums()
	return p, n
}

// counterRaise checks what a write changes in a counter leaf whose Tally
// is t: one writer's entries go from before to after (both sorted by dot).
// It refuses taking a sum over MaxSafeInt, whether it passes it now or was
// past it already (concurrent writes on nodes that could not see each
// other can each keep the bound and together pass it). A write that raises
// neither sum (a resend; a decrement while increments are at the bound)
// passes.
func counterRaise(t Tally, before, after []Entry) error {
	var b, a Entry
	if len(before) > 0 {
		b = before[len(before)-1]
	}
	if len(after) > 0 {
		a = after[len(after)-1]
	}
	t.Replace(before, after)
	_, _, pOver, nOver := t.Sums()
	if pOver && a.P > b.P || nOver && a.N > b.N {
		return fmt.Errorf("%w: the counter's sum would pass 2^53-1 (%d)", ErrOutOfRange, MaxSafeInt)
	}
	return nil
}

// DiffLiveDots calls gone for every live dot (EachLiveDot) of old that new
// lacks and came for every one of new that old lacks: what a store's dot
// index must change when a leaf goes from old to new. A text block differs
// from its last version in a few characters, so it is compared by ranges,
// not dot by dot.
func DiffLiveDots(old, new []Entry, gone, came func(Dot) error) error {
	if !isTextLeaf(old) && !isTextLeaf(new) {
		if sortedByDot(old) && sortedByDot(new) {
			return diffSortedDots(old, new, gone, came)
		}
		had := make(map[Dot]bool, len(old))
		for _, e := range old {
			if !e.Base {
				had[e.Dot] = true
			}
		}
		for _, e := range new {
			if e.Base {
				continue
			}
			if had[e.Dot] {
				delete(had, e.Dot)
			} else if err := came(e.Dot); err != nil {
				return err
			}
		}
		for d := range had {
			if err := gone(d); err != nil {
				return err
			}
		}
		return nil
	}
	// A text block's pieces are all of one replica, sorted and disjoint:
	// walk both lists of live ranges at once.
	a, b := liveRanges(old), liveRanges(new)
	var r ReplicaID
	if len(old) > 0 {
		r = old[0].Dot.Replica
	} else {
		r = new[0].Dot.Replica
	}
	each := func(lo, hi uint64, fn func(Dot) error) error {
		for s := lo; s <= hi; s++ {
			if err := fn(Dot{Replica: r, Seq: s}); err != nil {
				return err
			}
		}
		return nil
	}
	if err := subtractRanges(a, b, func(lo, hi uint64) error { return each(lo, hi, gone) }); err != nil {
		return err
	}
	return subtractRanges(b, a, func(lo, hi uint64) error { return each(lo, hi, came) })
}

// sortedByDot reports whether es is in strict dot order, as a leaf is.
func sortedByDot(es []Entry) bool {
	for i := 1; i < len(es); i++ {
		if compareDot(es[i-1].Dot, es[i].Dot) >= 0 {
			return false
		}
	}
	return true
}

// diffSortedDots is DiffLiveDots of two leaves of one dot each entry,
// sorted by dot (as every leaf is): one walk, no index. A counter's base
// carries its writer's dot but holds none, so it is stepped over; a base
// and a live entry under one dot differ.
func diffSortedDots(old, new []Entry, gone, came func(Dot) error) error {
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		c := 0
		switch {
		case i == len(old):
			c = 1
		case j == len(new):
			c = -1
		default:
			c = compareEntryDot(old[i], new[j])
		}
		var err error
		switch {
		case c == 0 && old[i].Base == new[j].Base:
			i++
			j++
		case c < 0 || c == 0 && old[i].Base:
			if !old[i].Base { // a base holds no dot
				err = gone(old[i].Dot)
			}
			i++
		default:
			if !new[j].Base {
				err = came(new[j].Dot)
			}
			j++
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// liveRanges lists the live pieces of a text block as [lo, hi] sequences.
func liveRanges(es []Entry) [][2]uint64 {
	var out [][2]uint64
	for _, e := range es {
		if !e.live() {
			continue
		}
		lo, hi := e.Dot.Seq, e.Dot.Seq+e.Len-1
		if n := len(out); n > 0 && out[n-1][1]+1 == lo {
			out[n-1][1] = hi
			continue
		}
		out = append(out, [2]uint64{lo, hi})
	}
	return out
}

// subtractRanges calls fn with every part of the ranges a that no range of
// b covers; both are sorted and disjoint.
func subtractRanges(a, b [][2]uint64, fn func(lo, hi uint64) error) error {
	j := 0
	for _, x := range a {
		lo := x[0]
		for j < len(b) && b[j][1] < lo {
			j++
		}
		for k := j; k < len(b) && b[k][0] <= x[1] && lo <= x[1]; k++ {
			if b[k][0] > lo {
				if err := fn(lo, b[k][0]-1); err != nil {
					return err
				}
			}
			lo = max(lo, b[k][1]+1)
		}
		if lo <= x[1] {
			if err := fn(lo, x[1]); err != nil {
				return err
			}
		}
	}
	return nil
}
