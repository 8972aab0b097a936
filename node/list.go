package node

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/lattice-sync/lattice/crdt"
)

// KeyInfo is one object of a listing: its key and its type.
type KeyInfo struct {
	Key  string    `json:"key"`
	Type crdt.Type `json:"type"`
}

// Keys lists, in key order, at most limit objects whose key starts with
// prefix and sorts after after ("" from the start), from one snapshot; more
// reports whether others follow. Only objects' metadata is read, so a page
// costs one read per key whatever the objects' sizes.
func (n *Node) Keys(prefix, after string, limit int) (keys []KeyInfo, more bool, err error) {
	if limit <= 0 {
		return nil, false, fmt.Errorf("node: listing keys: limit %d is not positive", limit)
	}
	err = n.db.View(func(txn *badger.Txn) error {
		p := metaKey(prefix)
		start := p
		if after > prefix {
			start = append(metaKey(after), 0) // the first key after it
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Seek(start); it.ValidForPrefix(p); it.Next() {
			var m crdt.Meta
			err := it.Item().Value(func(v []byte) error { return m.UnmarshalBinary(v) })
			if err != nil {
				return fmt.Errorf("object %q meta: %w", it.Item().Key()[1:], err)
			}
			if m.Types.First() == 0 {
				continue
			}
			if len(keys) == limit {
				more = true
				return nil
			}
			keys = append(keys, KeyInfo{Key: string(it.Item().Key()[1:]), Type: m.Types.First()})
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("node: listing keys: %w", err)
	}
	return keys, more, nil
}
