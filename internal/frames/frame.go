package frames

import (
	"encoding/binary"
	"fmt"

	"github.com/lattice-sync/lattice/crdt"
)

// The two frames of the compact form, each one WebSocket binary message.
const (
	// Deltas is the client's frame: 'B' count(zigzag(first id - (the
	// direction's last id + 1))) item*n. The items' ids are first,
	// first+1, …; the last id starts at 0.
	Deltas byte = 'B'
	// Live is the node's frame of live and catch-up deltas: 'L' cursor
	// item*n, the item count n in the cursor's count; the cursor is where
	// the client stands once it holds every item.
	Live byte = 'L'
	// count(x) is uvarint(x<<1) for a frame of one item, uvarint(x<<1|1)
	// uvarint(n) for one of n >= 2.
)

// AppendDeltas writes a client frame of items with ids from first on.
func (w *Writer) AppendDeltas(b []byte, first uint64, its []*Item) []byte {
	d := int64(first - (w.id + 1))
	b = appendCount(append(b, Deltas), uint64(d<<1^d>>63), len(its))
	w.id = first + uint64(len(its)) - 1
	return w.appendItems(b, its)
}

// ReadDeltas reads a client frame. On an error the reader is unchanged
// and the error wraps ErrFrame; first is the frame's first id when it got
// that far (ok).
func (rd *Reader) ReadDeltas(data []byte) (first uint64, ok bool, its []Item, err error) {
	r := &reader{b: data}
	if t, err := r.byte(); err != nil || t != Deltas {
		return 0, false, nil, r.errf("not a deltas frame")
	}
	z, n, err := r.count()
	if err != nil {
		return 0, false, nil, fmt.Errorf("first id: %w", err)
	}
	first = rd.id + 1 + uint64(int64(z>>1)^-int64(z&1))
	s := rd.save()
	its, err = rd.items(r, n)
	if err == nil && r.left() != 0 {
		err = r.errf("%d trailing bytes", r.left())
	}
	if err == nil && first+uint64(len(its)) < first {
		err = r.errf("ids overflow")
	}
	if err != nil {
		rd.restore(s)
		return first, true, nil, err
	}
	rd.id = first + uint64(len(its)) - 1
	return first, true, its, nil
}

// AppendLive writes a node frame of items with the cursor the client
// reaches by applying them.
func (w *Writer) AppendLive(b []byte, cursor crdt.VersionVector, its []*Item) []byte {
	b = w.appendCursor(append(b, Live), cursor, len(its))
	return w.appendItems(b, its)
}

// ReadLive reads a node frame; Cursor is then the frame's cursor. On an
// error the reader is unchanged.
func (rd *Reader) ReadLive(data []byte) ([]Item, error) {
	r := &reader{b: data}
	if t, err := r.byte(); err != nil || t != Live {
		return nil, r.errf("not a live frame")
	}
	s := rd.save()
	n, err := rd.readCursor(r)
	var its []Item
	if err == nil {
		its, err = rd.items(r, n)
	}
	if err == nil && r.left() != 0 {
		err = r.errf("%d trailing bytes", r.left())
	}
	if err != nil {
		rd.restore(s)
		return nil, err
	}
	return its, nil
}

// LiveCount is how many items a live frame holds, without decoding it
// (for counting subscribers, which keep no session state).
func LiveCount(data []byte) (int, bool) {
	r := &reader{b: data}
	if t, err := r.byte(); err != nil || t != Live {
		return 0, false
	}
	x, items, err := r.count()
	if err != nil {
		return 0, false
	}
	for range x >> 1 {
		x, err := r.uvarint()
		if err != nil {
			return 0, false
		}
		if x == 0 {
			if _, err := r.bytes(16); err != nil {
				return 0, false
			}
		}
		if _, err := r.uvarint(); err != nil {
			return 0, false
		}
	}
	return int(items), true
}

// reader reads a frame's bytes.
type reader struct {
	b   []byte
	off int
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) errf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrFrame, r.off, fmt.Sprintf(format, args...))
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, r.errf("unexpected end")
	}
	r.off++
	return r.b[r.off-1], nil
}

func (r *reader) uvarint() (uint64, error) {
	x, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		return 0, r.errf("bad varint")
	}
	if n > 1 && r.b[r.off+n-1] == 0 {
		return 0, r.errf("varint not minimal")
	}
	r.off += n
	return x, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > r.left() {
		return nil, r.errf("unexpected end")
	}
	r.off += n
	return r.b[r.off-n : r.off], nil
}
