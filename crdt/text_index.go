package crdt

// textIndex is one text's characters in Fugue order, deleted ones
// included, in chunks that count their live characters: what a local edit
// needs (the character at a visible index, and its neighbour in the order)
// in time proportional to the number of chunks rather than to the text.
//
// An in-memory Object keeps one per text it edits and updates it with its
// own edits, which is what makes typing into a long text cheap; any other
// change to its leaves (a join, a SetLeaf) drops it, and the next edit
// builds it again from the leaves. Fugue makes the update simple: a run
// inserted locally after the character L lands right after L in the order,
// whether it becomes L's right child or the left child of L's successor.
type textIndex struct {
	chunks   []*textChunk
	hasRight map[Dot]bool // characters with right children; the zero Dot is the root
}

type textChunk struct {
	cs   []textChar
	live int
}

const textChunkMax = 256

// newTextIndex indexes the characters of a text.
func newTextIndex(cs []textChar) *textIndex {
	f := newFugue(cs)
	x := &textIndex{hasRight: f.hasRight}
	x.append(f.order)
	return x
}

// append adds characters at the end, in chunks.
func (x *textIndex) append(cs []textChar) {
	for len(cs) > 0 {
		n := min(len(cs), textChunkMax)
		ch := &textChunk{cs: append([]textChar(nil), cs[:n]...)}
		for _, c := range ch.cs {
			if c.live {
				ch.live++
			}
		}
		x.chunks = append(x.chunks, ch)
		cs = cs[n:]
	}
}

// visibleLen is the number of live characters.
func (x *textIndex) visibleLen() int {
	n := 0
	for _, ch := range x.chunks {
		n += ch.live
	}
	return n
}

// pos is a place in the order: a chunk and an offset in it.
type pos struct{ chunk, off int }

// visible returns the place of the i-th live character (0-based); the
// caller checks i against visibleLen.
func (x *textIndex) visible(i int) pos {
	for ci, ch := range x.chunks {
		if i >= ch.live {
			i -= ch.live
			continue
		}
		for off, c := range ch.cs {
			if c.live {
				if i == 0 {
					return pos{ci, off}
				}
				i--
			}
		}
	}
	panic("crdt: text index: visible index out of range")
}

func (x *textIndex) at(p pos) *textChar { return &x.chunks[p.chunk].cs[p.off] }

// next returns the place after p (p.chunk -1 stands for before the start)
// and whether there is one.
func (x *textIndex) next(p pos) (pos, bool) {
	if p.chunk < 0 {
		p = pos{0, -1}
	}
	for ci := p.chunk; ci < len(x.chunks); ci++ {
		off := 0
		if ci == p.chunk {
			off = p.off + 1
		}
		if off < len(x.chunks[ci].cs) {
			return pos{ci, off}, true
		}
	}
	return pos{}, false
}

// insertAfter puts cs right after p (p.chunk -1: at the start), all live.
func (x *textIndex) insertAfter(p pos, cs []textChar) {
	if len(x.chunks) == 0 {
		x.append(cs)
		return
	}
	ci, off := p.chunk, p.off+1
	if ci < 0 {
		ci, off = 0, 0
	}
	ch := x.chunks[ci]
	merged := make([]textChar, 0, len(ch.cs)+len(cs))
	merged = append(append(append(merged, ch.cs[:off]...), cs...), ch.cs[off:]...)
	// Split an overfull chunk into parts about half full, so that typing
	// into one place does not leave a trail of tiny chunks.
	parts := 1
	if len(merged) > textChunkMax {
		parts = (len(merged) + textChunkMax/2 - 1) / (textChunkMax / 2)
	}
	size := (len(merged) + parts - 1) / parts
	var repl []*textChunk
	for len(merged) > 0 {
		k := min(size, len(merged))
		c := &textChunk{cs: merged[:k:k]}
		for _, t := range c.cs {
			if t.live {
				c.live++
			}
		}
		repl = append(repl, c)
		merged = merged[k:]
	}
	x.chunks = append(x.chunks[:ci], append(repl, x.chunks[ci+1:]...)...)
}

// kill marks the live character at p deleted.
func (x *textIndex) kill(p pos) {
	c := x.at(p)
	if c.live {
		c.live, c.r = false, 0
		x.chunks[p.chunk].live--
	}
}
