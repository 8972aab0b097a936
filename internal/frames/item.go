package frames

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lattice-sync/lattice/crdt"
)

// Item is one keyed delta as a frame carries it: the parts of its one-item
// crdt.Batch. What every session's frame of a delta shares is here, so a
// delta sent to many sessions is encoded once.
type Item struct {
	Key   string
	Clock crdt.Timestamp
	// Replicas is the batch's replica table, sorted as crdt sorts it; the
	// body's dots refer to it by position.
	Replicas []crdt.ReplicaID
	// Body is the crdt encoding of the delta against that table, with its
	// timestamps written against Clock.
	Body []byte
}

// batchVersion is the crdt binary encoding version this package splits
// and rebuilds (crdt/codec_binary.go): the one crdt writes.
const batchVersion = crdt.BinaryVersion

// NewItem encodes d as the one-item batch of key at clock and splits it.
func NewItem(key string, d *crdt.Object, clock crdt.Timestamp) (Item, error) {
	raw, err := crdt.Batch{Clock: clock, Items: []crdt.BatchItem{{Key: key, Delta: d}}}.MarshalBinary()
	if err != nil {
		return Item{}, fmt.Errorf("encode delta of %q: %w", key, err)
	}
	return splitBatch(raw)
}

var errSplit = errors.New("not a one-item batch")

// splitBatch takes apart a one-item batch encoded by crdt (trusted bytes:
// this process encoded them).
func splitBatch(raw []byte) (Item, error) {
	r := reader{b: raw}
	v, err := r.byte()
	if err != nil || v != batchVersion {
		return Item{}, errSplit
	}
	var it Item
	wall, err1 := r.uvarint()
	logical, err2 := r.uvarint()
	n, err3 := r.uvarint()
	if err := errors.Join(err1, err2, err3); err != nil || n > uint64(r.left()/16) {
		return Item{}, errSplit
	}
	it.Clock = crdt.Timestamp{Wall: int64(wall), Logical: uint32(logical)}
	it.Replicas = make([]crdt.ReplicaID, n)
	for i := range it.Replicas {
		b, _ := r.bytes(16)
		copy(it.Replicas[i][:], b)
	}
	if items, err := r.uvarint(); err != nil || items != 1 {
		return Item{}, errSplit
	}
	kn, err := r.uvarint()
	if err != nil || kn > uint64(r.left()) {
		return Item{}, errSplit
	}
	key, _ := r.bytes(int(kn))
	it.Key = string(key)
	it.Body = raw[r.off:]
	return it, nil
}

// Batch rebuilds the canonical one-item crdt.Batch the item was split
// from, for crdt.UnmarshalBatch.
func (it *Item) Batch() []byte {
	b := make([]byte, 0, 24+16*len(it.Replicas)+len(it.Key)+len(it.Body))
	b = append(b, batchVersion)
	b = binary.AppendUvarint(b, uint64(it.Clock.Wall))
	b = binary.AppendUvarint(b, uint64(it.Clock.Logical))
	b = binary.AppendUvarint(b, uint64(len(it.Replicas)))
	for _, r := range it.Replicas {
		b = append(b, r[:]...)
	}
	b = binary.AppendUvarint(b, 1)
	b = binary.AppendUvarint(b, uint64(len(it.Key)))
	b = append(b, it.Key...)
	return append(b, it.Body...)
}

// Decode decodes the item's delta, refusing what crdt refuses.
func (it *Item) Decode() (*crdt.Object, error) {
	b, err := crdt.UnmarshalBatch(it.Batch())
	if err != nil {
		return nil, err
	}
	if len(b.Items) != 1 {
		return nil, fmt.Errorf("%w: %d items", crdt.ErrInvalid, len(b.Items))
	}
	return b.Items[0].Delta, nil
}
