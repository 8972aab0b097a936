package node

import (
	"github.com/dgraph-io/badger/v4"

	"github.com/lattice-sync/lattice/crdt"
)

// The store reads a connection's catch-up and snapshots need: log ranges, log
// pages and snapshot pages.

// wsLogRange is the part of one origin's log a resuming client lacks:
// entries from..to, of which those up to contiguous must all be held.
type wsLogRange struct {
	origin             crdt.ReplicaID
	from, to, contigTo uint64
}

// logRangesAfter returns, per origin, the log entries this node holds past
// cursor, or false if its logs no longer reach back to the cursor.
func (n *Node) logRangesAfter(cursor crdt.VersionVector) ([]wsLogRange, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var rs []wsLogRange
	for _, o := range n.logs.origins() {
		if cursor[o] < n.logs.floor[o] {
			return nil, false
		}
		if hi := n.logs.maxHeld(o); hi > cursor[o] {
			rs = append(rs, wsLogRange{origin: o, from: cursor[o] + 1, to: hi, contigTo: n.logs.vv[o]})
		}
	}
	return rs, true
}

// readLogPage reads about snapshotChunk bytes of o's log from seq from.
func (n *Node) readLogPage(o crdt.ReplicaID, from, to uint64) ([]logEntry, error) {
	var page []logEntry
	err := n.db.View(func(txn *badger.Txn) error {
		_, err := readLog(txn, o, from, to, snapshotChunk, func(seq uint64, raw []byte) {
			page = append(page, logEntry{seq: seq, raw: raw})
		})
		return err
	})
	return page, err
}

// scanPage returns, encoded, the objects under prefix after the key after,
// in key order, up to maxBytes of encoding (at least one object), and
// whether more follow.
func (n *Node) scanPage(prefix, after string, maxBytes int, encode func(*crdt.Object) ([]byte, error)) (objs []snapObject, more bool, err error) {
	err = n.db.View(func(txn *badger.Txn) error {
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
				objs = append(objs, snapObject{k, o, b})
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
