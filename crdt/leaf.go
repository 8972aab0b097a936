package crdt

import (
	"slices"
)

// Entry is one dot of a leaf and what the dot maps to. Which fields are in
// use depends on the leaf's kind: none for flags and set elements, P and N
// for counters (this replica's running totals of increments and
// decrements), V for multi-value registers, TS and V for last-writer-wins
// registers. A leaf's entries are sorted by dot, one entry per dot.
type Entry struct {
	Dot Dot
	P   uint64
	N   uint64
	TS  Timestamp
	V   Value
}

// comparePayload orders two entries that carry the same dot. A correct
// replica never mints one dot twice, so this only matters for forged or
// corrupted input; picking the greater payload keeps join a semilattice
// even then.
func comparePayload(a, b Entry) int {
	switch {
	case a.P != b.P:
		return cmpU(a.P, b.P)
	case a.N != b.N:
		return cmpU(a.N, b.N)
	}
	if c := a.TS.Compare(b.TS); c != 0 {
		return c
	}
	return a.V.Compare(b.V)
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

// withoutReplica returns a new slice of the entries not of r, in order.
func withoutReplica(es []Entry, r ReplicaID) []Entry {
	out := make([]Entry, 0, len(es))
	for _, e := range es {
		if e.Dot.Replica != r {
			out = append(out, e)
		}
	}
	return out
}

// latestOf returns the entry of r with the highest sequence, if any.
func latestOf(es []Entry, r ReplicaID) (Entry, bool) {
	var best Entry
	ok := false
	for _, e := range es {
		if e.Dot.Replica == r && (!ok || e.Dot.Seq > best.Dot.Seq) {
			best, ok = e, true
		}
	}
	return best, ok
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
// broke the rule gets there, and it must not wrap.
func counterTotal(es []Entry) (p, n uint64) {
	p, n, _ = counterTotalChecked(es)
	return p, n
}

// counterTotalChecked is counterTotal, with ok false if a sum saturated.
func counterTotalChecked(es []Entry) (p, n uint64, ok bool) {
	ok = true
	add := func(sum, x uint64) uint64 {
		if x > MaxSafeInt || sum > MaxSafeInt-x {
			ok = false
			return MaxSafeInt
		}
		return sum + x
	}
	for i, e := range es {
		// es is sorted by dot, so a replica's entries are adjacent and its
		// latest is the last of them.
		if i+1 < len(es) && es[i+1].Dot.Replica == e.Dot.Replica {
			continue
		}
		p, n = add(p, e.P), add(n, e.N)
	}
	return p, n, ok
}
