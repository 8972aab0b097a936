package crdt

import (
	"slices"
	"strings"
)

// The text type: a sequence of Unicode code points ordered as in Fugue
// (Weidner and Kleppmann, "The Art of the Fugue: Minimizing Interleaving in
// Collaborative Text Editing", 2023). Every character has a dot and a place
// in a tree: a parent (its origin; the zero Dot is the root) and a side.
// The text is the tree's in-order walk: a node's left children, the node,
// its right children, same-side siblings in dot order. Typing forwards
// makes each character the right child of the one before; that chain is
// what a piece stores once.
//
// Storage. A piece is one Entry: Len characters with consecutive dots of
// one replica, each after the first the right child of the one before, the
// first placed by Origin and Left. The text's leaves are its blocks: the
// characters of replica r with sequences in one TextBlock-aligned range
// live in the leaf path/block(r, range), so one insert writes the one or
// two blocks its dots fall in, never the whole text. Within a block,
// pieces are maximal: a character that continues the previous one (next
// dot, right child of it, both live or both deleted) is in its piece.
//
// Deletion is an observed remove, as in the set: the remover's context
// covers the characters' dots. A deleted character keeps its place (the
// tree needs it for the characters placed relative to it) but not its
// content: it becomes part of a piece whose V is null. Deleted stretches
// of one replica's typing compress into one entry of a few bytes.

// TextBlock is how many consecutive sequences of one replica share a text
// leaf: what one character's insert or delete rewrites at most.
const TextBlock = 256

// MaxTextInsert bounds the characters of one insert.
const MaxTextInsert = 1 << 16

// textChar is one character of a text, expanded from its piece.
type textChar struct {
	dot    Dot
	origin Dot
	left   bool
	live   bool
	r      rune
}

// isTextLeaf reports whether es are text pieces; stored and decoded leaves
// hold either only pieces or none.
func isTextLeaf(es []Entry) bool { return len(es) > 0 && es[0].Len > 0 }

// expandPieces appends the characters of pieces es, in dot order.
func expandPieces(out []textChar, es []Entry) []textChar {
	for _, e := range es {
		var rs []rune
		if e.live() {
			rs = []rune(e.V.s)
		}
		for i := uint64(0); i < e.Len; i++ {
			c := textChar{dot: Dot{Replica: e.Dot.Replica, Seq: e.Dot.Seq + i}, live: rs != nil}
			if i == 0 {
				c.origin, c.left = e.Origin, e.Left
			} else {
				c.origin = Dot{Replica: e.Dot.Replica, Seq: e.Dot.Seq + i - 1}
			}
			if c.live && int(i) < len(rs) {
				c.r = rs[i]
			}
			out = append(out, c)
		}
	}
	return out
}

// charsOf expands the blocks of one text into its characters in dot order:
// blocks are disjoint runs of one replica's sequences, so ordering the
// blocks orders the characters, without sorting them one by one (leaf keys
// do not sort blocks numerically: their index is a uvarint).
func charsOf(blocks [][]Entry) []textChar {
	slices.SortFunc(blocks, func(a, b []Entry) int { return compareDot(a[0].Dot, b[0].Dot) })
	n := 0
	for _, es := range blocks {
		for _, e := range es {
			n += int(e.Len)
		}
	}
	cs := make([]textChar, 0, n)
	for _, es := range blocks {
		cs = expandPieces(cs, es)
	}
	return cs
}

// continues reports whether c belongs in the piece ending with prev.
func continues(prev, c textChar) bool {
	return c.dot.Replica == prev.dot.Replica && c.dot.Seq == prev.dot.Seq+1 &&
		c.origin == prev.dot && !c.left && c.live == prev.live &&
		(c.dot.Seq-1)%TextBlock != 0
}

// compressChars turns characters in dot order into maximal pieces.
func compressChars(cs []textChar) []Entry {
	var out []Entry
	var sb strings.Builder
	flush := func() {
		if len(out) > 0 && out[len(out)-1].V.kind == KindString {
			out[len(out)-1].V = Value{kind: KindString, s: sb.String()}
		}
		sb.Reset()
	}
	for i, c := range cs {
		if i > 0 && continues(cs[i-1], c) {
			out[len(out)-1].Len++
		} else {
			flush()
			e := Entry{Dot: c.dot, Len: 1, Origin: c.origin, Left: c.left}
			if c.live {
				e.V = Value{kind: KindString}
			}
			out = append(out, e)
		}
		if c.live {
			sb.WriteRune(c.r)
		}
	}
	flush()
	return out
}

// joinText joins two versions of a text block character by character: the
// textbook dot-store join for the characters' presence (kept where both
// have it, or where one has it and the other has not seen it), while their
// places, fixed at minting, are kept by either side forever. Should forged
// input give one dot two places or contents, the greater wins, which keeps
// the join a semilattice.
func joinText(s, o []Entry, sc, oc *CausalContext) []Entry {
	if out, ok := joinDisjointPieces(s, o, sc, oc); ok {
		return out
	}
	a, b := expandPieces(nil, s), expandPieces(nil, o)
	out := make([]textChar, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var c int
		switch {
		case i == len(a):
			c = 1
		case j == len(b):
			c = -1
		default:
			c = compareDot(a[i].dot, b[j].dot)
		}
		var x textChar
		switch {
		case c == 0:
			x = a[i]
			y := b[j]
			if comparePlace(y, x) > 0 {
				x.origin, x.left = y.origin, y.left
			}
			x.live = x.live && y.live
			x.r = max(x.r, y.r)
			i++
			j++
		case c < 0:
			x = a[i]
			x.live = x.live && !oc.Contains(x.dot)
			i++
		default:
			x = b[j]
			x.live = x.live && !sc.Contains(x.dot)
			j++
		}
		if !x.live {
			x.r = 0
		}
		out = append(out, x)
	}
	return compressChars(out)
}

// joinDisjointPieces is joinText's common case, piece by piece: neither
// side holds or has seen any character of the other's pieces (a new run
// typed into a block), so the join keeps every piece as it is and only
// merges a new piece with the one it continues.
func joinDisjointPieces(s, o []Entry, sc, oc *CausalContext) ([]Entry, bool) {
	for _, e := range s {
		if oc.intersects(e.Dot.Replica, e.Dot.Seq, e.Dot.Seq+e.Len-1) {
			return nil, false
		}
	}
	for _, e := range o {
		if sc.intersects(e.Dot.Replica, e.Dot.Seq, e.Dot.Seq+e.Len-1) {
			return nil, false
		}
	}
	all := make([]Entry, 0, len(s)+len(o))
	all = append(append(all, s...), o...)
	slices.SortFunc(all, compareEntryDot)
	for i := 1; i < len(all); i++ {
		if all[i].Dot.Replica == all[i-1].Dot.Replica && all[i].Dot.Seq < all[i-1].Dot.Seq+all[i-1].Len {
			return nil, false // overlapping pieces: only forged input
		}
	}
	return mergePieces(all), true
}

// comparePlace orders two places of one character (only forged input has
// two).
func comparePlace(a, b textChar) int {
	if c := compareDot(a.origin, b.origin); c != 0 {
		return c
	}
	switch {
	case a.left == b.left:
		return 0
	case a.left:
		return 1
	}
	return -1
}

// deleteChars marks the characters with dots ds deleted, piece by piece:
// a piece holding none of them is kept as it is, one holding some is cut
// around them, and the result is merged back into maximal pieces.
func deleteChars(es []Entry, ds []Dot) []Entry {
	gone := make(map[uint64]bool, len(ds))
	var seqs []uint64
	for _, d := range ds {
		if len(es) > 0 && d.Replica == es[0].Dot.Replica {
			gone[d.Seq] = true
			seqs = append(seqs, d.Seq)
		}
	}
	slices.Sort(seqs)
	cut := make([]Entry, 0, len(es)+2*len(ds))
	for _, e := range es {
		hit := false
		if e.live() {
			i, _ := slices.BinarySearch(seqs, e.Dot.Seq)
			hit = i < len(seqs) && seqs[i] < e.Dot.Seq+e.Len
		}
		if !hit {
			cut = append(cut, e)
			continue
		}
		rs := []rune(e.V.s)
		for k := 0; k < len(rs); {
			dead := gone[e.Dot.Seq+uint64(k)]
			j := k + 1
			for j < len(rs) && gone[e.Dot.Seq+uint64(j)] == dead {
				j++
			}
			p := Entry{Dot: Dot{Replica: e.Dot.Replica, Seq: e.Dot.Seq + uint64(k)}, Len: uint64(j - k), Origin: e.Origin, Left: e.Left}
			if k > 0 {
				p.Origin, p.Left = Dot{Replica: e.Dot.Replica, Seq: p.Dot.Seq - 1}, false
			}
			if !dead {
				p.V = Value{kind: KindString, s: string(rs[k:j])}
			}
			cut = append(cut, p)
			k = j
		}
	}
	return mergePieces(cut)
}

// mergePieces merges each piece into the one before it where it continues
// it; pieces are in dot order.
func mergePieces(es []Entry) []Entry {
	out := es[:0]
	for _, e := range es {
		if n := len(out); n > 0 && extends(out[n-1], e) {
			prev := out[n-1]
			prev.Len += e.Len
			if prev.live() {
				prev.V = Value{kind: KindString, s: prev.V.s + e.V.s}
			}
			out[n-1] = prev
			continue
		}
		out = append(out, e)
	}
	return out
}

// fugue is a text's characters in document order, deleted ones included.
// Characters whose parent is missing (a delta that arrived before the one
// it was typed after) are left out until it comes: every replica holding
// the same state leaves out the same ones.
type fugue struct {
	order    []textChar
	hasRight map[Dot]bool // nodes with right children; the zero Dot is the root
}

// newFugue is the tree the characters cs form, walked (walkFugue), with the
// set of nodes that have right children, which an insert's placement reads.
func newFugue(cs []textChar) *fugue {
	f := &fugue{order: make([]textChar, 0, len(cs)), hasRight: map[Dot]bool{}}
	w := walkFugue(cs, func(c *textChar) { f.order = append(f.order, *c) })
	n := len(w.cs)
	for p := 0; p <= n; p++ {
		if w.nr[p+1] > w.nr[p] {
			if p == n { // the root
				f.hasRight[Dot{}] = true
			} else {
				f.hasRight[w.cs[p].dot] = true
			}
		}
	}
	return f
}

// fugueWalk is what a walk leaves that newFugue needs besides the order:
// the characters in dot order and the offsets of each node's right
// children, the root's last.
type fugueWalk struct {
	cs []textChar
	nr []int32
}

// textOrder is the characters of cs in text order, deleted ones included:
// all a reader of the text needs, without the index of nodes with right
// children that an edit needs (a map insert per such node, the larger part
// of building a fugue for a long text).
func textOrder(cs []textChar) []textChar {
	order := make([]textChar, 0, len(cs))
	walkFugue(cs, func(c *textChar) { order = append(order, *c) })
	return order
}

// textString is the text the characters cs form: the live ones, in text
// order, written as the walk meets them.
func textString(cs []textChar) string {
	var sb strings.Builder
	sb.Grow(len(cs))
	walkFugue(cs, func(c *textChar) {
		if c.live {
			sb.WriteRune(c.r)
		}
	})
	return sb.String()
}

// walkFugue walks the tree the characters cs form. It works on indices, not
// maps: with cs in dot order (sorted here if they are not), a character's
// parent is the one before it (a continuation) or found by binary search,
// and each node's children, gathered in index order, are already in the
// dot order Fugue sorts siblings by. It calls emit with each character,
// deleted ones included, in text order.
func walkFugue(cs []textChar, emit func(*textChar)) fugueWalk {
	if !slices.IsSortedFunc(cs, compareCharDot) {
		cs = slices.Clone(cs)
		slices.SortFunc(cs, compareCharDot)
	}
	n := len(cs)
	root := n // the root's index in the child lists
	parent := make([]int32, n)
	nl, nr := make([]int32, n+2), make([]int32, n+2) // child counts, then offsets
	for i, c := range cs {
		p := root
		switch {
		case c.origin == (Dot{}):
		case i > 0 && cs[i-1].dot == c.origin:
			p = i - 1
		default:
			j, ok := slices.BinarySearchFunc(cs, c.origin, func(x textChar, d Dot) int { return compareDot(x.dot, d) })
			if !ok {
				p = -1 // an orphan, for now
			} else {
				p = j
			}
		}
		parent[i] = int32(p)
		if p < 0 {
			continue
		}
		if c.left {
			nl[p+1]++
		} else {
			nr[p+1]++
		}
	}
	for i := 1; i < len(nl); i++ {
		nl[i] += nl[i-1]
		nr[i] += nr[i-1]
	}
	lk, rk := make([]int32, nl[n+1]), make([]int32, nr[n+1])
	fl, fr := slices.Clone(nl), slices.Clone(nr)
	for i, c := range cs {
		p := parent[i]
		if p < 0 {
			continue
		}
		if c.left {
			lk[fl[p]] = int32(i)
			fl[p]++
		} else {
			rk[fr[p]] = int32(i)
			fr[p]++
		}
	}
	// An explicit stack, since a long run of typing is a deep chain: -1-i
	// means visit node i's subtree, i means emit it.
	var stack []int32
	push := func(p int32) {
		for x := nr[p+1] - 1; x >= nr[p]; x-- {
			stack = append(stack, -1-rk[x])
		}
		if int(p) != root {
			stack = append(stack, p)
		}
		for x := nl[p+1] - 1; x >= nl[p]; x-- {
			stack = append(stack, -1-lk[x])
		}
	}
	push(int32(root))
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if x < 0 {
			push(-1 - x)
			continue
		}
		emit(&cs[x])
	}
	return fugueWalk{cs: cs, nr: nr}
}

func compareCharDot(a, b textChar) int { return compareDot(a.dot, b.dot) }
