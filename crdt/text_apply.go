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
	var cs []textChar
	err := Leaves(st, prefix, func(_ string, es []Entry) error {
		cs = expandPieces(cs, es)
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading text: %w", err)
	}
	f := newFugue(cs)
	vis := f.visible()
	if op.Kind == OpDelete {
		if op.Index+op.Count > int64(len(vis)) {
			return fmt.Errorf("%w: delete of %d at %d beyond the text's %d characters", ErrInvalid, op.Count, op.Index, len(vis))
		}
		for _, i := range vis[op.Index : op.Index+op.Count] {
			delta.meta.Ctx.Add(f.order[i].dot)
		}
		return nil
	}
	if op.Index > int64(len(vis)) {
		return fmt.Errorf("%w: insert at %d beyond the text's %d characters", ErrInvalid, op.Index, len(vis))
	}
	rs := []rune(op.Value.s)
	if last+uint64(len(rs)) > MaxSeq {
		return ErrSeqExhausted
	}
	origin, left := f.place(vis, int(op.Index))
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
	return nil
}

// renderText is the text the pieces of leaves form.
func renderText(leaves []pathLeaf) string {
	var cs []textChar
	for _, l := range leaves {
		cs = expandPieces(cs, l.entries)
	}
	return newFugue(cs).String()
}

// Text returns the text at path: the object itself if path is empty, else
// the text field path names (every field before it a map). It is "" where
// there is no text, and it reads the text even where a concurrent write
// made the object or field another type too, which Value would show.
func (o *Object) Text(path ...string) string {
	key := string([]byte{byte(TypeText)})
	if len(path) > 0 {
		key = string([]byte{byte(TypeORMap)})
		for i, name := range path {
			t := TypeORMap
			if i == len(path)-1 {
				t = TypeText
			}
			key = fieldPrefix(key, name, t)
		}
	}
	var cs []textChar
	_ = Leaves(o, key, func(_ string, es []Entry) error {
		cs = expandPieces(cs, es)
		return nil
	})
	return newFugue(cs).String()
}
