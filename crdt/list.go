package crdt

import (
	"fmt"
	"slices"
)

// The list type: an ordered sequence of elements, each a scalar or a map,
// with insert, delete and move by index. Order comes from the text's Fugue
// tree (text.go), and move is Kleppmann's ("Moving elements in list CRDTs",
// PaPoC 2020): an element does not own a place, it points at one.
//
// Positions. A position is a node of a Fugue tree, minted with a dot like
// a text's character and kept the same way: pieces in TextBlock-aligned
// blocks of the replica that minted it (leaf path/block(r, range), tag 0).
// A position never holds a value: every piece is "deleted" (V null), so the
// tree only grows, and the text's join, codec and compression serve it
// unchanged. Positions stay forever, since later positions may be placed
// relative to them.
//
// Elements. An element is named by the dot of its insert, its id, and
// keeps one leaf (path/element(id, kind), tag 1), whose entries are a
// last-writer-wins register of positions on the hybrid clock: each entry
// is (dot, timestamp, position, value). The insert's own entry, the head,
// carries the element's scalar value (null for a map element) and its first
// position; each move mints a new position and an entry pointing at it,
// stamped later than every entry it saw, and covers the entries it
// superseded except the head. The element stands at the position of its
// newest entry (timestamp, then dot). A map element's fields are a map
// below its leaf's path, written by ops whose path holds the element's
// index (Op.Item), so a field can change while the element moves.
//
// The list is the Fugue walk of the positions, each showing the element
// whose newest entry points at it, if that element's head is present.
// Concurrent moves of one element both leave entries; the newest wins
// everywhere, and the element shows once. Delete covers every dot below
// the element (head, moves, its map's fields): an observed remove. A move
// or a field write concurrent with the delete leaves an entry without a
// head, which is not shown: delete wins, at the cost of that entry.
//
// Cost: an element costs its leaf (one entry, two after concurrent moves)
// and one position per insert or move, a piece of a few bytes. A deleted
// element keeps only its positions (the tree needs them) and its dots in
// the causal context, which compacts into the version vector.

// MaxListInsert bounds how many elements and positions one client delta
// may add to the lists of one object (the client rule's size limit).
const MaxListInsert = 1 << 12

// MaxListFields bounds the fields of a map element's insert.
const MaxListFields = 256

// listItem is one element as its leaf holds it.
type listItem struct {
	id   Dot
	kind Type   // TypeLWW for a scalar, TypeORMap for a map
	key  string // its leaf's key
	head bool   // the insert's entry is present: it is in the list
	val  Value  // a scalar element's value
	pos  Dot    // the position of its newest entry
	es   []Entry
}

// listView is a list as Fugue orders it.
type listView struct {
	f     *fugue
	at    map[Dot]int // position -> index in f.order
	items []*listItem // the elements in the list, in order
}

// newListView orders the elements items over the positions in blocks.
func newListView(blocks [][]Entry, items []*listItem) *listView {
	v := &listView{f: newFugue(charsOf(blocks))}
	shown := map[Dot][]*listItem{}
	for _, it := range items {
		if it.head {
			shown[it.pos] = append(shown[it.pos], it)
		}
	}
	v.at = make(map[Dot]int, len(v.f.order))
	for i, c := range v.f.order {
		v.at[c.dot] = i
		v.items = append(v.items, shown[c.dot]...)
	}
	return v
}

// newListItem reads an element's leaf.
func newListItem(key string, seg Segment, es []Entry) *listItem {
	it := &listItem{id: seg.Item, kind: seg.Type, key: key, es: es}
	for _, e := range es {
		if e.Dot == it.id {
			it.head, it.val = true, e.V
		}
	}
	if w, ok := lwwWinner(es); ok {
		it.pos = w.Origin
	}
	return it
}

// readList reads the list whose leaves start with prefix.
func readList(st Store, prefix string) (*listView, error) {
	var blocks [][]Entry
	var items []*listItem
	err := Leaves(st, prefix, func(key string, es []Entry) error {
		seg, n, err := listSegmentOf(key[len(prefix):])
		if err != nil {
			return err
		}
		switch {
		case len(es) == 0:
		case seg.IsBlock():
			blocks = append(blocks, es)
		case n == len(key)-len(prefix): // not a field of a map element
			items = append(items, newListItem(key, seg, es))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading list: %w", err)
	}
	return newListView(blocks, items), nil
}

// listSegmentOf reads the segment a list's leaf key starts with, below the
// list's prefix, and its length in bytes.
func listSegmentOf(rest string) (Segment, int, error) {
	r := &reader{b: []byte(rest)}
	seg, err := r.listSegment(Path{Root: TypeList})
	return seg, r.off, err
}

// place returns where Fugue puts a new position that is to land right
// after the element at index j-1 of items (at the start for j 0): the left
// origin L is that element's position, or the root; if L has right
// children, the new position becomes the left child of the position after
// L in the order, which then has none.
func (v *listView) place(items []*listItem, j int) (origin Dot, left bool) {
	i := -1
	if j > 0 {
		origin = items[j-1].pos
		i = v.at[origin]
	}
	if v.f.hasRight[origin] {
		return v.f.order[i+1].dot, true
	}
	return origin, false
}

// listDelta fills delta with a list operation by replica r, whose highest
// sequence so far is last, at time now, on the list whose leaves start with
// prefix.
func listDelta(st Store, prefix string, delta *Object, r ReplicaID, last uint64, now Timestamp, op Op) error {
	v, err := readList(st, prefix)
	if err != nil {
		return err
	}
	n := int64(len(v.items))
	next := func() (Dot, error) {
		if last >= MaxSeq {
			return Dot{}, ErrSeqExhausted
		}
		last++
		d := Dot{Replica: r, Seq: last}
		delta.meta.Ctx.Add(d)
		return d, nil
	}
	// mint puts a new position, placed by Fugue, into the delta.
	mint := func(items []*listItem, j int) (Dot, error) {
		origin, left := v.place(items, j)
		p, err := next()
		if err != nil {
			return Dot{}, err
		}
		key := string(appendSegment([]byte(prefix), ListBlockOf(p)))
		return p, delta.SetLeaf(key, []Entry{{Dot: p, Len: 1, Origin: origin, Left: left}})
	}
	switch op.Kind {
	case OpDelete:
		if op.Index+op.Count > n {
			return fmt.Errorf("%w: delete of %d at %d beyond the list's %d elements", ErrOutOfRange, op.Count, op.Index, n)
		}
		for _, it := range v.items[op.Index : op.Index+op.Count] {
			ds, err := dotsUnder(st, it.key)
			if err != nil {
				return fmt.Errorf("reading element: %w", err)
			}
			for _, d := range ds {
				delta.meta.Ctx.Add(d)
			}
		}
		return nil
	case OpMove:
		if op.Index >= n || op.To >= n {
			return fmt.Errorf("%w: move from %d to %d in a list of %d elements", ErrOutOfRange, op.Index, op.To, n)
		}
		it := v.items[op.Index]
		rest := slices.Delete(slices.Clone(v.items), int(op.Index), int(op.Index)+1)
		p, err := mint(rest, int(op.To))
		if err != nil {
			return err
		}
		d, err := next()
		if err != nil {
			return err
		}
		e := Entry{Dot: d, TS: now, Origin: p}
		for _, old := range it.es {
			if old.TS.Compare(e.TS) >= 0 {
				e.TS = old.TS.successor()
			}
			if old.Dot != it.id {
				delta.meta.Ctx.Add(old.Dot) // superseded; the head stays
			}
		}
		return delta.SetLeaf(it.key, []Entry{e})
	}
	if op.Index > n {
		return fmt.Errorf("%w: insert at %d beyond the list's %d elements", ErrOutOfRange, op.Index, n)
	}
	p, err := mint(v.items, int(op.Index))
	if err != nil {
		return err
	}
	id, err := next()
	if err != nil {
		return err
	}
	kind, val := TypeLWW, op.Value
	if op.Map != nil {
		kind, val = TypeORMap, Null()
	}
	key := string(appendSegment([]byte(prefix), ItemSeg(id, kind)))
	if err := delta.SetLeaf(key, []Entry{{Dot: id, TS: now, Origin: p, V: val}}); err != nil {
		return err
	}
	names := make([]string, 0, len(op.Map))
	for name := range op.Map {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		d, err := next()
		if err != nil {
			return err
		}
		if err := delta.SetLeaf(fieldPrefix(key, name, TypeLWW), []Entry{{Dot: d, TS: now, V: op.Map[name]}}); err != nil {
			return err
		}
	}
	return nil
}

// itemMapKey returns the key of the map of the element at index in the
// list whose leaves start with prefix: what an op whose path holds a list
// index (Op.Item) writes below.
func itemMapKey(st Store, prefix string, index int64) (string, error) {
	v, err := readList(st, prefix)
	if err != nil {
		return "", err
	}
	if index >= int64(len(v.items)) {
		return "", fmt.Errorf("%w: element %d of a list of %d", ErrOutOfRange, index, len(v.items))
	}
	it := v.items[index]
	if it.kind != TypeORMap {
		return "", fmt.Errorf("%w: element %d of the list is a scalar, not a map", ErrWrongType, index)
	}
	return it.key, nil
}

// renderList is the plain value of the list whose leaves, all below one
// list, are leaves, the list's own segments at depth: []any of each
// element's scalar, or map[string]any for a map element.
func renderList(leaves []pathLeaf, depth int) []any {
	_, vals := listElems(leaves, depth)
	return vals
}

// listElems returns the elements of the list whose leaves are leaves, in
// order, and their plain values.
func listElems(leaves []pathLeaf, depth int) ([]*listItem, []any) {
	var blocks [][]Entry
	var items []*listItem
	fields := map[Dot][]pathLeaf{}
	for _, l := range leaves {
		if len(l.path.Segs) <= depth {
			continue
		}
		seg := l.path.Segs[depth]
		switch {
		case seg.IsBlock():
			blocks = append(blocks, l.entries)
		case len(l.path.Segs) == depth+1:
			items = append(items, newListItem("", seg, l.entries))
		default:
			fields[seg.Item] = append(fields[seg.Item], l)
		}
	}
	shown := newListView(blocks, items).items
	out := make([]any, 0, len(shown))
	for _, it := range shown {
		if it.kind == TypeORMap {
			out = append(out, render(TypeORMap, fields[it.id], depth+1))
		} else {
			out = append(out, it.val.Interface())
		}
	}
	return shown, out
}

// List returns the list at path (the object itself if path is empty, else
// the list field path names, every field before it a map) as plain values,
// nil where there is none; it reads the list even where a concurrent write
// made the object or field another type too.
func (o *Object) List(path ...string) []any {
	prefix := typedPrefix(path, TypeList)
	var leaves []pathLeaf
	_ = Leaves(o, prefix, func(key string, es []Entry) error {
		if p, err := ParseKey(key); err == nil {
			leaves = append(leaves, pathLeaf{path: p, entries: es})
		}
		return nil
	})
	if leaves == nil {
		return nil
	}
	return renderList(leaves, len(path))
}
