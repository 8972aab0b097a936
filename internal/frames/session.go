package frames

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/lattice-sync/lattice/crdt"
)

// MaxTable is how many replica ids one direction of a session names by
// index. A replica first seen after the table is full is sent in full
// every time; both ends know when that is, so they agree. It bounds what a
// client's session costs the node in memory (some 70 KB).
const MaxTable = 1024

// ErrFrame is wrapped by every error of a frame that does not decode.
var ErrFrame = errors.New("frame does not decode")

// table is one direction's replica table: ids in the order they were first
// sent.
type table struct {
	ids   []crdt.ReplicaID
	index map[crdt.ReplicaID]uint64
}

func (t *table) add(r crdt.ReplicaID) {
	if len(t.ids) >= MaxTable {
		return
	}
	if t.index == nil {
		t.index = map[crdt.ReplicaID]uint64{}
	}
	t.index[r] = uint64(len(t.ids))
	t.ids = append(t.ids, r)
}

// truncate forgets the ids added since the table had n.
func (t *table) truncate(n int) {
	for _, r := range t.ids[n:] {
		delete(t.index, r)
	}
	t.ids = t.ids[:n]
}

// Writer is the sending side of one direction of a session.
type Writer struct {
	table table
	wall  int64
	key   string           // the last item's key
	id    uint64           // the last delta id sent (client to node)
	reps  []crdt.ReplicaID // the last item's replica table
	steps []cursorStep     // the last cursor change written
	// cursor is the last cursor sent (node to client).
	cursor crdt.VersionVector
}

// Reader is the receiving side of one direction of a session.
type Reader struct {
	table table
	readerState
}

// readerState is what a Reader remembers of the items before, apart from
// its table: a failed read puts it back as it was (save, restore).
type readerState struct {
	wall   int64
	key    string
	id     uint64
	reps   []crdt.ReplicaID
	steps  []cursorStep
	cursor crdt.VersionVector
}

// appendRef writes a replica: its index plus one, or 0 and the id, which
// joins the table.
func (w *Writer) appendRef(b []byte, r crdt.ReplicaID) []byte {
	if i, ok := w.table.index[r]; ok {
		return binary.AppendUvarint(b, i+1)
	}
	w.table.add(r)
	return append(append(b, 0), r[:]...)
}

func (rd *Reader) ref(r *reader) (crdt.ReplicaID, error) {
	x, err := r.uvarint()
	if err != nil {
		return crdt.ReplicaID{}, err
	}
	if x == 0 {
		b, err := r.bytes(16)
		if err != nil {
			return crdt.ReplicaID{}, err
		}
		id := crdt.ReplicaID(b)
		if _, ok := rd.table.index[id]; ok {
			return crdt.ReplicaID{}, r.errf("replica %s sent in full again", id)
		}
		rd.table.add(id)
		return id, nil
	}
	if x > uint64(len(rd.table.ids)) {
		return crdt.ReplicaID{}, r.errf("replica index %d beyond the table's %d", x-1, len(rd.table.ids))
	}
	return rd.table.ids[x-1], nil
}

// An item's head byte says what it shares with the direction's previous
// item, and holds a small clock difference.
const (
	headSameKey  = 1 << 0 // the previous item's key
	headSameReps = 1 << 1 // the previous item's replica list
	headLogical  = 1 << 2 // a logical clock follows
	headWallEsc  = 31     // head>>3: the wall difference follows as a varint
)

// appendItem writes one item; the last of a frame has no body length, its
// body runs to the frame's end.
//
//	item := head [key] [uvarint(zigzag(wall diff))] [uvarint(logical)] [replicas] [uvarint(len(body))] body
//	head := zigzag(wall - previous wall) << 3 (31 << 3 if 31 or more) | logical<<2 | same replicas<<1 | same key
//	key := uvarint(len(key)) key
//	replicas := uvarint(bitmap<<1 | 1) (the table's ids at the bits set) | uvarint(n<<1) ref*n
//	ref := uvarint(index+1) | 0 [16]byte
func (w *Writer) appendItem(b []byte, it *Item, last bool) []byte {
	var head byte
	sameKey := w.key == it.Key && it.Key != ""
	sameReps := slices.Equal(it.Replicas, w.reps)
	if sameKey {
		head |= headSameKey
	}
	if sameReps {
		head |= headSameReps
	}
	if it.Clock.Logical != 0 {
		head |= headLogical
	}
	d := it.Clock.Wall - w.wall
	w.wall = it.Clock.Wall
	z := uint64(d<<1 ^ d>>63)
	if z < headWallEsc {
		head |= byte(z) << 3
	} else {
		head |= headWallEsc << 3
	}
	b = append(b, head)
	if !sameKey {
		b = binary.AppendUvarint(b, uint64(len(it.Key)))
		b = append(b, it.Key...)
		w.key = it.Key
	}
	if z >= headWallEsc {
		b = binary.AppendUvarint(b, z)
	}
	if it.Clock.Logical != 0 {
		b = binary.AppendUvarint(b, uint64(it.Clock.Logical))
	}
	if !sameReps {
		b = w.appendReplicas(b, it.Replicas)
		w.reps = it.Replicas
	}
	if !last {
		b = binary.AppendUvarint(b, uint64(len(it.Body)))
	}
	return append(b, it.Body...)
}

// maxBitmap is how many of the table's first ids a replica list may name
// as a bitmap (the bitmap<<1|1 must fit a uint64).
const maxBitmap = 63

// appendReplicas writes an item's replica list (crdt's order: by id
// bytes): as a bitmap over the table when every id is among its first 63,
// else in full.
//
//	replicas := uvarint(bitmap<<1 | 1) | uvarint(n<<1) ref*n
func (w *Writer) appendReplicas(b []byte, rs []crdt.ReplicaID) []byte {
	var bits uint64
	for _, r := range rs {
		i, ok := w.table.index[r]
		if !ok || i >= maxBitmap {
			bits = 0
			break
		}
		bits |= 1 << i
	}
	if bits != 0 || len(rs) == 0 {
		return binary.AppendUvarint(b, bits<<1|1)
	}
	b = binary.AppendUvarint(b, uint64(len(rs))<<1)
	for _, r := range rs {
		b = w.appendRef(b, r)
	}
	return b
}

func (rd *Reader) replicas(r *reader) ([]crdt.ReplicaID, error) {
	x, err := r.uvarint()
	if err != nil {
		return nil, r.errf("replica list")
	}
	if x&1 == 1 {
		bits := x >> 1
		var rs []crdt.ReplicaID
		for i := 0; bits != 0; i++ {
			if bits&1 == 1 {
				if i >= len(rd.table.ids) {
					return nil, r.errf("replica index %d beyond the table's %d", i, len(rd.table.ids))
				}
				rs = append(rs, rd.table.ids[i])
			}
			bits >>= 1
		}
		slices.SortFunc(rs, func(a, b crdt.ReplicaID) int { return slices.Compare(a[:], b[:]) })
		return rs, nil
	}
	n := x >> 1
	if n > uint64(r.left()) {
		return nil, r.errf("replica count")
	}
	rs := make([]crdt.ReplicaID, n)
	for i := range rs {
		if rs[i], err = rd.ref(r); err != nil {
			return nil, fmt.Errorf("replica %d: %w", i, err)
		}
		if i > 0 && slices.Compare(rs[i-1][:], rs[i][:]) >= 0 {
			return nil, r.errf("replica list not sorted or has duplicates")
		}
	}
	return rs, nil
}

// maxKey bounds a key in a frame; the node refuses longer ones anyway.
const maxKey = 64 << 10

func (rd *Reader) item(r *reader, last bool) (Item, error) {
	var it Item
	head, err := r.byte()
	if err != nil {
		return it, fmt.Errorf("head: %w", err)
	}
	if head&headSameKey != 0 {
		if rd.key == "" {
			return it, r.errf("an item repeats a key before any")
		}
		it.Key = rd.key
	} else {
		kn, err := r.uvarint()
		if err != nil || kn > maxKey {
			return it, r.errf("key length")
		}
		k, err := r.bytes(int(kn))
		if err != nil {
			return it, fmt.Errorf("key: %w", err)
		}
		if string(k) == rd.key && rd.key != "" {
			return it, r.errf("key repeated in full")
		}
		it.Key = string(k)
		rd.key = it.Key
	}
	z := uint64(head >> 3)
	if z == headWallEsc {
		if z, err = r.uvarint(); err != nil {
			return it, fmt.Errorf("clock: %w", err)
		}
		if z < headWallEsc {
			return it, r.errf("a small clock difference written long")
		}
	}
	wall := rd.wall + (int64(z>>1) ^ -int64(z&1))
	if wall < 0 || wall > crdt.MaxSafeInt {
		return it, r.errf("clock %d out of range", wall)
	}
	it.Clock.Wall = wall
	if head&headLogical != 0 {
		l, err := r.uvarint()
		if err != nil {
			return it, fmt.Errorf("clock: %w", err)
		}
		if l == 0 || l > uint64(^uint32(0)) {
			return it, r.errf("logical clock %d out of range", l)
		}
		it.Clock.Logical = uint32(l)
	}
	rd.wall = wall
	if head&headSameReps != 0 {
		it.Replicas = rd.reps
	} else {
		if it.Replicas, err = rd.replicas(r); err != nil {
			return it, err
		}
		if slices.Equal(it.Replicas, rd.reps) {
			return it, r.errf("the previous replica list written again")
		}
		rd.reps = it.Replicas
	}
	if last {
		it.Body, _ = r.bytes(r.left())
		return it, nil
	}
	bn, err := r.uvarint()
	if err != nil || bn > uint64(r.left()) {
		return it, r.errf("body length")
	}
	it.Body, _ = r.bytes(int(bn))
	return it, nil
}

// MaxItems bounds the items of one frame, either way: a reader refuses a
// frame that counts more before it reads (or allocates for) any, and a
// writer starts a new frame at it.
const MaxItems = 512

// items reads n items.
func (rd *Reader) items(r *reader, n uint64) ([]Item, error) {
	if n == 0 || n > MaxItems || n > uint64(r.left()) {
		return nil, r.errf("item count %d (at most %d, and no more than the bytes left)", n, MaxItems)
	}
	its := make([]Item, 0, n)
	for i := uint64(0); i < n; i++ {
		it, err := rd.item(r, i == n-1)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		its = append(its, it)
	}
	return its, nil
}

// appendItems writes the items; the count went in the frame's header.
func (w *Writer) appendItems(b []byte, its []*Item) []byte {
	for i, it := range its {
		b = w.appendItem(b, it, i == len(its)-1)
	}
	return b
}

// appendCount writes x with a flag for a frame of more than one item, and
// the count if so.
func appendCount(b []byte, x uint64, n int) []byte {
	if n == 1 {
		return binary.AppendUvarint(b, x<<1)
	}
	return binary.AppendUvarint(binary.AppendUvarint(b, x<<1|1), uint64(n))
}

// count reads what appendCount wrote: x, and the item count.
func (r *reader) count() (x, n uint64, err error) {
	v, err := r.uvarint()
	if err != nil {
		return 0, 0, err
	}
	if v&1 == 0 {
		return v >> 1, 1, nil
	}
	if n, err = r.uvarint(); err != nil {
		return 0, 0, err
	}
	if n < 2 {
		return 0, 0, r.errf("a count of %d written long", n)
	}
	return v >> 1, n, nil
}

// cursorStep is one entry of a cursor's change: a replica's sequence
// moved by d.
type cursorStep struct {
	r crdt.ReplicaID
	d int64
}

// appendCursor writes how cur differs from the last cursor sent: the
// entries that changed, by replica id, each as the difference from the
// last cursor's entry (an entry either lacks counts as 0); or, when they
// changed exactly as in the last cursor that changed (the common case of
// a steady stream: the node's own entry one further), a flag alone.
//
//	cursor := count(x) [(ref uvarint(zigzag(seq - last seq)))*m]
//	x := 0 (unchanged) | 1 (the last change again) | m<<1 (m entries follow)
func (w *Writer) appendCursor(b []byte, cur crdt.VersionVector, items int) []byte {
	var changed []crdt.ReplicaID
	for r, s := range cur {
		if w.cursor[r] != s {
			changed = append(changed, r)
		}
	}
	for r, s := range w.cursor {
		if _, ok := cur[r]; !ok && s != 0 {
			changed = append(changed, r)
		}
	}
	slices.SortFunc(changed, func(a, b crdt.ReplicaID) int { return slices.Compare(a[:], b[:]) })
	steps := make([]cursorStep, len(changed))
	for i, r := range changed {
		steps[i] = cursorStep{r, int64(cur[r] - w.cursor[r])}
	}
	switch {
	case len(steps) == 0:
		b = appendCount(b, 0, items)
	case slices.Equal(steps, w.steps):
		b = appendCount(b, 1, items)
	default:
		b = appendCount(b, uint64(len(steps))<<1, items)
		for _, st := range steps {
			b = binary.AppendUvarint(w.appendRef(b, st.r), uint64(st.d<<1^st.d>>63))
		}
		w.steps = steps
	}
	w.SetCursor(cur)
	return b
}

// SetCursor records a cursor the session sent otherwise (in JSON: a
// snapshot's last page, a catchup), which the next frame's cursor is
// written against.
func (w *Writer) SetCursor(cur crdt.VersionVector) { w.cursor = cur.Clone() }

// SetCursor records a cursor the session received otherwise.
func (rd *Reader) SetCursor(cur crdt.VersionVector) { rd.cursor = cur.Clone() }

// Cursor is the last cursor received.
func (rd *Reader) Cursor() crdt.VersionVector { return rd.cursor.Clone() }

// readCursor reads a cursor and returns the frame's item count.
func (rd *Reader) readCursor(r *reader) (uint64, error) {
	x, items, err := r.count()
	if err != nil || x > 1 && (x&1 == 1 || x>>1 > uint64(r.left()/2)) {
		return 0, r.errf("cursor entry count")
	}
	steps := rd.steps
	switch {
	case x == 0:
		steps = nil
	case x == 1:
		if len(steps) == 0 {
			return 0, r.errf("a cursor repeats a change before any")
		}
	default:
		steps = make([]cursorStep, x>>1)
		for i := range steps {
			id, err := rd.ref(r)
			if err != nil {
				return 0, fmt.Errorf("cursor: %w", err)
			}
			if i > 0 && slices.Compare(steps[i-1].r[:], id[:]) >= 0 {
				return 0, r.errf("cursor entries not sorted")
			}
			z, err := r.uvarint()
			if err != nil {
				return 0, fmt.Errorf("cursor: %w", err)
			}
			if z == 0 {
				return 0, r.errf("cursor entry %s unchanged", id)
			}
			steps[i] = cursorStep{id, int64(z>>1) ^ -int64(z&1)}
		}
		if slices.Equal(steps, rd.steps) {
			return 0, r.errf("the last cursor change written again")
		}
		rd.steps = steps
	}
	cur := rd.cursor.Clone()
	if cur == nil {
		cur = crdt.VersionVector{}
	}
	for _, st := range steps {
		if st.d < 0 && uint64(-st.d) > cur[st.r] {
			return 0, r.errf("cursor entry %s below 0", st.r)
		}
		if s := cur[st.r] + uint64(st.d); s == 0 {
			delete(cur, st.r)
		} else {
			cur[st.r] = s
		}
	}
	rd.cursor = cur
	return items, nil
}

// save and restore undo a failed read.
type saved struct {
	n int // the table's length
	readerState
}

func (rd *Reader) save() saved { return saved{len(rd.table.ids), rd.readerState} }

func (rd *Reader) restore(s saved) {
	rd.table.truncate(s.n)
	rd.readerState = s.readerState
}
