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
// every time; both ends know when that is, so they agree.
const MaxTable = 4096

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
	// cursor is the last cursor sent (node to client).
	cursor crdt.VersionVector
}

// Reader is the receiving side of one direction of a session.
type Reader struct {
	table  table
	wall   int64
	key    string
	id     uint64
	reps   []crdt.ReplicaID
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

// appendItem writes one item; the last of a frame has no body length, its
// body runs to the frame's end.
//
//	item := keyref clock replicas [uvarint(len(body))] body
//	replicas := uvarint(n<<1 | 1) (the direction's previous item's table, n long) | uvarint(n<<1) ref*n
//	keyref := 0 (the key of the direction's previous item) | uvarint(len(key)+1) key
//	clock := uvarint(zigzag(wall-previous wall)<<1 | haslogical) [uvarint(logical)]
//	ref := uvarint(index+1) | 0 [16]byte
func (w *Writer) appendItem(b []byte, it *Item, last bool) []byte {
	if w.key == it.Key && it.Key != "" {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(it.Key))+1)
		b = append(b, it.Key...)
		w.key = it.Key
	}
	d := it.Clock.Wall - w.wall
	w.wall = it.Clock.Wall
	x := uint64(d<<1^d>>63) << 1
	if it.Clock.Logical == 0 {
		b = binary.AppendUvarint(b, x)
	} else {
		b = binary.AppendUvarint(binary.AppendUvarint(b, x|1), uint64(it.Clock.Logical))
	}
	if slices.Equal(it.Replicas, w.reps) {
		b = binary.AppendUvarint(b, uint64(len(it.Replicas))<<1|1)
	} else {
		b = binary.AppendUvarint(b, uint64(len(it.Replicas))<<1)
		for _, r := range it.Replicas {
			b = w.appendRef(b, r)
		}
		w.reps = it.Replicas
	}
	if !last {
		b = binary.AppendUvarint(b, uint64(len(it.Body)))
	}
	return append(b, it.Body...)
}

// maxKey bounds a key in a frame; the node refuses longer ones anyway.
const maxKey = 64 << 10

func (rd *Reader) item(r *reader, last bool) (Item, error) {
	var it Item
	kr, err := r.uvarint()
	if err != nil {
		return it, fmt.Errorf("key: %w", err)
	}
	if kr == 0 {
		if rd.key == "" {
			return it, r.errf("an item repeats a key before any")
		}
		it.Key = rd.key
	} else {
		if kr-1 > maxKey {
			return it, r.errf("key of %d bytes", kr-1)
		}
		k, err := r.bytes(int(kr - 1))
		if err != nil {
			return it, fmt.Errorf("key: %w", err)
		}
		if string(k) == rd.key && rd.key != "" {
			return it, r.errf("key repeated in full")
		}
		it.Key = string(k)
		rd.key = it.Key
	}
	x, err := r.uvarint()
	if err != nil {
		return it, fmt.Errorf("clock: %w", err)
	}
	z := x >> 1
	wall := rd.wall + (int64(z>>1) ^ -int64(z&1))
	if wall < 0 || wall > crdt.MaxSafeInt {
		return it, r.errf("clock %d out of range", wall)
	}
	it.Clock.Wall = wall
	if x&1 == 1 {
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
	x, err = r.uvarint()
	if err != nil {
		return it, r.errf("replica count")
	}
	n := x >> 1
	if x&1 == 1 {
		if n != uint64(len(rd.reps)) {
			return it, r.errf("%d replicas, the previous item had %d", n, len(rd.reps))
		}
		it.Replicas = rd.reps
	} else {
		if n > uint64(r.left()) {
			return it, r.errf("replica count")
		}
		it.Replicas = make([]crdt.ReplicaID, n)
		for i := range it.Replicas {
			if it.Replicas[i], err = rd.ref(r); err != nil {
				return it, fmt.Errorf("replica %d: %w", i, err)
			}
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

// items reads n items, undoing every change to the reader if one fails.
func (rd *Reader) items(r *reader) ([]Item, error) {
	n, err := r.uvarint()
	if err != nil || n == 0 || n > uint64(r.left()/3) {
		return nil, r.errf("item count")
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

// appendItems writes the item count and the items.
func (w *Writer) appendItems(b []byte, its []*Item) []byte {
	b = binary.AppendUvarint(b, uint64(len(its)))
	for i, it := range its {
		b = w.appendItem(b, it, i == len(its)-1)
	}
	return b
}

// appendCursor writes the entries of cur that differ from the last cursor
// sent, by replica id, each as the difference from the last cursor's
// entry (an entry either lacks counts as 0).
//
//	cursor := uvarint(n) (ref uvarint(zigzag(seq - last seq)))*n
func (w *Writer) appendCursor(b []byte, cur crdt.VersionVector) []byte {
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
	b = binary.AppendUvarint(b, uint64(len(changed)))
	for _, r := range changed {
		d := int64(cur[r] - w.cursor[r])
		b = binary.AppendUvarint(w.appendRef(b, r), uint64(d<<1^d>>63))
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

func (rd *Reader) readCursor(r *reader) error {
	n, err := r.uvarint()
	if err != nil || n > uint64(r.left()/2) {
		return r.errf("cursor entry count")
	}
	cur := rd.cursor.Clone()
	if cur == nil {
		cur = crdt.VersionVector{}
	}
	var last crdt.ReplicaID
	for i := uint64(0); i < n; i++ {
		id, err := rd.ref(r)
		if err != nil {
			return fmt.Errorf("cursor: %w", err)
		}
		if i > 0 && slices.Compare(last[:], id[:]) >= 0 {
			return r.errf("cursor entries not sorted")
		}
		last = id
		z, err := r.uvarint()
		if err != nil {
			return fmt.Errorf("cursor: %w", err)
		}
		if z == 0 {
			return r.errf("cursor entry %s unchanged", id)
		}
		d := int64(z>>1) ^ -int64(z&1)
		if d < 0 && uint64(-d) > cur[id] {
			return r.errf("cursor entry %s below 0", id)
		}
		s := cur[id] + uint64(d)
		if s == 0 {
			delete(cur, id)
		} else {
			cur[id] = s
		}
	}
	rd.cursor = cur
	return nil
}

// save and restore undo a failed read.
type saved struct {
	n      int
	wall   int64
	key    string
	id     uint64
	reps   []crdt.ReplicaID
	cursor crdt.VersionVector
}

func (rd *Reader) save() saved {
	return saved{len(rd.table.ids), rd.wall, rd.key, rd.id, rd.reps, rd.cursor}
}

func (rd *Reader) restore(s saved) {
	rd.table.truncate(s.n)
	rd.wall, rd.key, rd.id, rd.reps, rd.cursor = s.wall, s.key, s.id, s.reps, s.cursor
}
