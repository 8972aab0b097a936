package store

import (
	"github.com/dgraph-io/badger/v4"

	"github.com/lattice-sync/lattice/crdt"
)

// The store reads a connection's catch-up and snapshots need: log ranges, log
// pages, snapshot pages, and one counter writer's entries.

// LogRange is the part of one origin's log a resuming client lacks:
// entries from..to, of which those up to contiguous must all be held.
type LogRange struct {
	Origin             crdt.ReplicaID
	From, To, ContigTo uint64
}

// LogRangesAfter returns, per origin, the log entries this node holds past
// cursor, or false if its logs no longer reach back to the cursor.
func (s *Store) LogRangesAfter(cursor crdt.VersionVector) ([]LogRange, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rs []LogRange
	for _, o := range s.logs.origins() {
		if cursor[o] < s.logs.floor[o] {
			return nil, false
		}
		if hi := s.logs.maxHeld(o); hi > cursor[o] {
			rs = append(rs, LogRange{Origin: o, From: cursor[o] + 1, To: hi, ContigTo: s.logs.vv[o]})
		}
	}
	return rs, true
}

// ReadLogPage reads about maxBytes of o's log from seq from to seq to.
func (s *Store) ReadLogPage(o crdt.ReplicaID, from, to uint64, maxBytes int) ([]LogEntry, error) {
	var page []LogEntry
	err := s.db.View(func(txn *badger.Txn) error {
		_, err := readLog(txn, o, from, to, maxBytes, func(seq uint64, raw []byte) {
			page = append(page, LogEntry{Seq: seq, Raw: raw})
		})
		return err
	})
	return page, err
}

// Encoded is one object of a snapshot page, encoded for the client.
type Encoded struct {
	Key string
	Obj *crdt.Object
	Enc []byte
}

// ScanPage returns, encoded, the objects under prefix after the key after,
// in key order, up to maxBytes of encoding (at least one object), and
// whether more follow.
func (s *Store) ScanPage(prefix, after string, maxBytes int, encode func(*crdt.Object) ([]byte, error)) (objs []Encoded, more bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		p := metaKey(prefix)
		seek := p
		if after != "" {
			seek = append(metaKey(after), 0)
		}
		total := 0
		for {
			keys, rest := metaKeys(txn, p, seek, 64)
			for _, k := range keys {
				o, _, err := loadObject(readKV{txn}, k)
				if err != nil {
					return err
				}
				b, err := encode(o)
				if err != nil {
					return err
				}
				if len(objs) > 0 && total+len(b) > maxBytes {
					more = true
					return nil
				}
				objs = append(objs, Encoded{Key: k, Obj: o, Enc: b})
				total += len(b)
			}
			if !rest {
				return nil
			}
			seek = append(metaKey(keys[len(keys)-1]), 0)
		}
	})
	return objs, more, err
}

// metaKeys lists up to limit object keys under prefix p from seek, and
// whether more follow.
func metaKeys(txn *badger.Txn, p, seek []byte, limit int) ([]string, bool) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: false})
	defer it.Close()
	var keys []string
	for it.Seek(seek); it.ValidForPrefix(p); it.Next() {
		if len(keys) == limit {
			return keys, true
		}
		keys = append(keys, string(it.Item().Key()[1:]))
	}
	return keys, false
}

// ReplicaLeaf returns writer w's entries of the counter leaf at leaf of the
// object at key, as crdt.Store.ReplicaLeaf does: a folded writer's base
// first. The node sends a client a returning folded writer's delta with
// its base (node/api, ws_folded.go).
func (s *Store) ReplicaLeaf(key, leaf string, w crdt.ReplicaID) ([]crdt.Entry, error) {
	var es []crdt.Entry
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		es, err = newObjectStore(readKV{txn}, key).ReplicaLeaf(leaf, w)
		return err
	})
	return es, err
}
