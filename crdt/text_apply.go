package crdt

import (
	"fmt"
)

// textDelta fills delta with a text operation by replica r, whose highest
// sequence so far is last, on the text whose leaves start with prefix.
//
// An insert of n characters mints the n next dots of r, as pieces in the
// blocks they fall in, and puts them in the delta's context. A delete is
// context only: it covers the deleted characters' dots, whoever minted
// them, like a set's remove.
func textDelta(st Store, prefix string, delta *Object, r ReplicaID, last uint64, op Op) error {
	// An Object applying its own edit keeps the index for the next one.
	o, keep := st.(*Object)
	keep = keep && o.editing
	var x *textIndex
	if keep {
		x = o.texts[prefix]
	}
	if x == nil {
		blocks, err := textBlocks(st, prefix)
		if err != nil {
			return fmt.Errorf("reading text: %w", err)
		}
		x = newTextIndex(charsOf(blocks))
	}
	n := int64(x.visibleLen())
	if op.Kind == OpDelete {
		if op.Index+op.Count > n {
			return fmt.Errorf("%w: delete of %d at %d beyond the text's %d characters", ErrInvalid, op.Count, op.Index, n)
		}
		gone := make([]pos, 0, op.Count)
		for i := op.Index; i < op.Index+op.Count; i++ {
			p := x.visible(int(i))
			gone = append(gone, p)
			delta.meta.Ctx.Add(x.at(p).dot)
		}
		if keep {
			for _, p := range gone {
				x.kill(p)
			}
			o.keepText(prefix, x)
		}
		return nil
	}
	if op.Index > n {
		return fmt.Errorf("%w: insert at %d beyond the text's %d characters", ErrInvalid, op.Index, n)
	}
	rs := []rune(op.Value.s)
	if last+uint64(len(rs)) > MaxSeq {
		return ErrSeqExhausted
	}
	// Fugue's rule: the left origin L is the character before the index
	// (or the root); with no right children it takes the new one as its
	// right child, else the next character in the order (which then has no
	// left children) takes it as its left child. Either way the run lands
	// right after L.
	at := pos{chunk: -1}
	var origin Dot
	if op.Index > 0 {
		at = x.visible(int(op.Index - 1))
		origin = x.at(at).dot
	}
	left := false
	if x.hasRight[origin] {
		nx, _ := x.next(at)
		origin, left = x.at(nx).dot, true
	}
	ins := make([]textChar, len(rs))
	for i, c := range rs {
		d := Dot{Replica: r, Seq: last + 1 + uint64(i)}
		ins[i] = textChar{dot: d, origin: origin, left: left, live: true, r: c}
		origin, left = d, false
		delta.meta.Ctx.Add(d)
	}
	for _, e := range compressChars(ins) {
		key := string(appendSegment([]byte(prefix), BlockOf(e.Dot)))
		es, _ := delta.Leaf(key)
		_ = delta.SetLeaf(key, append(es, e))
	}
	if keep {
		for _, c := range ins {
			if !c.left {
				x.hasRight[c.origin] = true
			}
		}
		x.insertAfter(at, ins)
		o.keepText(prefix, x)
	}
	return nil
}

// renderText is the text the pieces of leaves form.
func renderText(leaves []pathLeaf) string {
	var blocks [][]Entry
	for _, l := range leaves {
		if len(l.entries) > 0 {
			blocks = append(blocks, l.entries)
		}
	}
	return textString(charsOf(blocks))
}

// Text returns the text at path: the object itself if path is empty, else
// the text field path names (every field before it a map). It is "" where
// there is no text, and it reads the text even where a concurrent write
// made the object or field another type too, which Value would show.
func (o *Object) Text(path ...string) string {
	blocks, _ := textBlocks(o, textPrefix(path)) // an in-memory store cannot fail
	return textString(charsOf(blocks))
}

// textPrefix is the key prefix of the blocks of the text at path.
func textPrefix(path []string) string { return typedPrefix(path, TypeText) }

// typedPrefix is the key prefix of the leaves of the object of type t at
// path: the root if path is empty, else the field of type t path names,
// every field before it a map.
func typedPrefix(path []string, t Type) string {
	if len(path) == 0 {
		return string([]byte{byte(t)})
	}
	key := string([]byte{byte(TypeORMap)})
	for i, name := range path {
		ft := TypeORMap
		if i == len(path)-1 {
			ft = t
		}
		key = fieldPrefix(key, name, ft)
	}
	return key
}

// TextAnchor returns a stable anchor for the place before code point index
// in the text at path: the character just before it, or the zero Dot for
// the start. Unlike an index it stays put while others type or delete
// before it (a cursor in a presence state); AnchorIndex reads it back.
func (o *Object) TextAnchor(index int, path ...string) Dot {
	blocks, _ := textBlocks(o, textPrefix(path))
	var last Dot
	n := 0
	for _, c := range textOrder(charsOf(blocks)) {
		if n >= index {
			break
		}
		if c.live {
			last = c.dot
			n++
		}
	}
	return last
}

// AnchorIndex returns where an anchor now is in the text at path: the
// number of live characters up to and including it (a deleted anchor
// counts as the place it had); 0 for the zero Dot or an anchor not (yet)
// known.
func (o *Object) AnchorIndex(a Dot, path ...string) int {
	if a == (Dot{}) {
		return 0
	}
	blocks, _ := textBlocks(o, textPrefix(path))
	n := 0
	for _, c := range textOrder(charsOf(blocks)) {
		if c.live {
			n++
		}
		if c.dot == a {
			return n
		}
	}
	return 0
}

// textBlocks returns the leaves of the text whose blocks start with prefix.
func textBlocks(st Store, prefix string) ([][]Entry, error) {
	var blocks [][]Entry
	err := Leaves(st, prefix, func(_ string, es []Entry) error {
		if len(es) > 0 {
			blocks = append(blocks, es)
		}
		return nil
	})
	return blocks, err
}
