package crdt

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// Batch is a message's worth of keyed deltas sharing one header, the unit
// the node sends to peers and the binary client protocol carries:
//
//	batch := version clock replicas uvarint(nitems) (key body)*
//	clock := uvarint(wall) uvarint(logical)
//
// The clock is the sender's hybrid clock reading, which the receiver folds
// into its own clock (that is how hybrid clocks spread), and it is also the
// base every timestamp in the batch is written against, so a fresh write
// costs one byte of time. The replica table is written once for all items.
type Batch struct {
	Clock Timestamp
	// Replicas are named in the header even if no delta refers to them, so
	// a stream can name its replicas once. Decoding returns the full table.
	Replicas []ReplicaID
	Items    []BatchItem
}

// BatchItem is one object's delta.
type BatchItem struct {
	Key   string
	Delta *Object
}

// MarshalBinary encodes the batch canonically.
func (b Batch) MarshalBinary() ([]byte, error) { return b.encode(binaryVersion) }

// encode encodes the batch in the given version: the current one, or the
// one a batch being checked was read in.
func (b Batch) encode(version byte) ([]byte, error) {
	if b.Clock.Wall < 0 || b.Clock.Wall > MaxSafeInt {
		return nil, fmt.Errorf("%w: batch clock %s out of range", ErrInvalid, b.Clock)
	}
	rs := map[ReplicaID]struct{}{}
	for _, r := range b.Replicas {
		rs[r] = struct{}{}
	}
	for _, it := range b.Items {
		it.Delta.collect(rs)
	}
	h := newHeader(b.Clock.Wall, rs)
	h.version = version
	out := []byte{version}
	out = appendUvarint(out, uint64(b.Clock.Wall))
	out = appendUvarint(out, uint64(b.Clock.Logical))
	out = h.appendReplicas(out)
	out = appendUvarint(out, uint64(len(b.Items)))
	for _, it := range b.Items {
		out = appendString(out, it.Key)
		out = h.appendBody(out, it.Delta)
	}
	if len(out) > MaxEncodedSize {
		return nil, fmt.Errorf("%w: batch of %d bytes exceeds %d", ErrLimit, len(out), MaxEncodedSize)
	}
	return out, nil
}

// UnmarshalBatch decodes a batch from untrusted bytes.
func UnmarshalBatch(data []byte) (Batch, error) {
	if len(data) > MaxEncodedSize {
		return Batch{}, fmt.Errorf("%w: %d bytes exceeds %d", ErrLimit, len(data), MaxEncodedSize)
	}
	r := &reader{b: data}
	h, err := readHeaderStart(r)
	if err != nil {
		return Batch{}, err
	}
	var b Batch
	if b.Clock.Wall, err = r.wall(); err != nil {
		return Batch{}, fmt.Errorf("clock: %w", err)
	}
	l, err := r.uvarint()
	if err != nil {
		return Batch{}, fmt.Errorf("clock: %w", err)
	}
	if l > uint64(^uint32(0)) {
		return Batch{}, r.errf("logical clock %d out of range", l)
	}
	b.Clock.Logical = uint32(l)
	h.base = b.Clock.Wall
	if err := r.replicas(h); err != nil {
		return Batch{}, err
	}
	b.Replicas = h.replicas
	n, err := r.count(3)
	if err != nil {
		return Batch{}, fmt.Errorf("item count: %w", err)
	}
	b.Items = make([]BatchItem, 0, n)
	for i := 0; i < n; i++ {
		kn, err := r.count(1)
		if err != nil {
			return Batch{}, fmt.Errorf("item %d key: %w", i, err)
		}
		if kn > MaxKeyLen {
			return Batch{}, fmt.Errorf("%w: key of %d bytes exceeds %d", ErrLimit, kn, MaxKeyLen)
		}
		key, _ := r.bytes(kn)
		if !utf8.Valid(key) {
			return Batch{}, r.errf("item %d key is not valid UTF-8", i)
		}
		d, err := r.body(h)
		if err != nil {
			return Batch{}, fmt.Errorf("item %q: %w", key, err)
		}
		b.Items = append(b.Items, BatchItem{Key: string(key), Delta: d})
	}
	if r.remaining() != 0 {
		return Batch{}, r.errf("%d trailing bytes", r.remaining())
	}
	again, err := b.encode(h.version)
	if err != nil || !bytes.Equal(again, data) {
		return Batch{}, fmt.Errorf("%w: not the canonical encoding of its batch", ErrInvalid)
	}
	return b, nil
}
