package store

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
// prefix and sorts after after ("" from the start), from one snapshot.
// next is where the following page starts ("" at the end): the last key
// listed, or the last one read when objects without a type (metadata
// only) used up the page's budget of reads. Only objects' metadata is read,
// and at most 4*limit+64 of them, so a page costs a bounded number of reads
// whatever the keyspace holds.
func (s *Store) Keys(prefix, after string, limit int) (keys []KeyInfo, next string, err error) {
	if limit <= 0 {
		return nil, "", fmt.Errorf("node: listing keys: limit %d is not positive", limit)
	}
	budget := 4*limit + 64
	err = s.db.View(func(txn *badger.Txn) error {
		p := metaKey(prefix)
		start := p
		if after > prefix {
			start = append(metaKey(after), 0) // the first key after it
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		last := ""
		for it.Seek(start); it.ValidForPrefix(p); it.Next() {
			if len(keys) == limit || budget == 0 {
				next = last
				return nil
			}
			budget--
			key := string(it.Item().Key()[1:])
			last = key
			var h metaHead
			err := it.Item().Value(func(v []byte) (err error) { h, err = decodeHead(v); return err })
			if err != nil {
				return fmt.Errorf("object %q meta: %w", key, err)
			}
			if h.types.First() == 0 {
				continue
			}
			keys = append(keys, KeyInfo{Key: key, Type: h.types.First()})
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("node: listing keys: %w", err)
	}
	return keys, next, nil
}
