package crdt

import (
	"fmt"
	"slices"
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
	if version < 3 {
		for _, it := range b.Items {
			if it.Delta.hasBase() {
				return nil, fmt.Errorf("%w: a counter base (a fold) needs binary version 3, not %d", ErrVersion, version)
			}
		}
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
	var d batchReader
	if err := d.read(data); err != nil {
		return Batch{}, err
	}
	b := Batch{Clock: d.clock, Replicas: d.h.replicas, Items: make([]BatchItem, 0, d.n)}
	for i, key := range d.keys {
		b.Items = append(b.Items, BatchItem{Key: key, Delta: d.views[i].object()})
	}
	return b, nil
}

// hasBase reports whether any counter of o holds a base (fold.go), which
// binary versions before 3 cannot carry.
func (o *Object) hasBase() bool {
	found := false
	o.eachLeaf(func(_ string, es []Entry) {
		found = found || slices.ContainsFunc(es, func(e Entry) bool { return e.Base })
	})
	return found
}
