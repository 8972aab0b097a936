package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/lattice-sync/lattice/crdt"
)

// logIndex is what this node holds of every node's delta log: per origin,
// the contiguous prefix it has applied (the node version vector), the
// entries it holds beyond a gap, and the floor below which its copy of the
// log may be incomplete. Guarded by Store.mu.
type logIndex struct {
	vv    crdt.VersionVector
	above map[crdt.ReplicaID]map[uint64]struct{}
	floor map[crdt.ReplicaID]uint64
}

func newLogIndex() *logIndex {
	return &logIndex{vv: crdt.VersionVector{}, above: map[crdt.ReplicaID]map[uint64]struct{}{}, floor: map[crdt.ReplicaID]uint64{}}
}

// loadLogIndex rebuilds the index from the log's keys: a restarted node
// knows exactly what it has without a separate, possibly stale, record.
func loadLogIndex(db *badger.DB) (*logIndex, error) {
	l := newLogIndex()
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxFloor}})
		for it.Rewind(); it.Valid(); it.Next() {
			var o crdt.ReplicaID
			copy(o[:], it.Item().Key()[1:])
			v, err := it.Item().ValueCopy(nil)
			if err != nil || len(v) != 8 {
				it.Close()
				return fmt.Errorf("floor of %s: bad value", o)
			}
			l.raiseFloor(o, binary.BigEndian.Uint64(v))
		}
		it.Close()
		it = txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxLog}, PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != 1+16+8 {
				return fmt.Errorf("log key of %d bytes", len(k))
			}
			var o crdt.ReplicaID
			copy(o[:], k[1:17])
			l.add(o, binary.BigEndian.Uint64(k[17:]))
		}
		return nil
	})
	return l, err
}

// has reports whether the entry (origin, seq) has been applied here.
func (l *logIndex) has(o crdt.ReplicaID, seq uint64) bool {
	if seq <= l.vv[o] {
		return true
	}
	_, ok := l.above[o][seq]
	return ok
}

// add records the entry (origin, seq) as applied and advances the
// contiguous prefix through any gap it closes.
func (l *logIndex) add(o crdt.ReplicaID, seq uint64) {
	if l.has(o, seq) {
		return
	}
	if seq != l.vv[o]+1 {
		if l.above[o] == nil {
			l.above[o] = map[uint64]struct{}{}
		}
		l.above[o][seq] = struct{}{}
		return
	}
	l.vv[o] = seq
	l.advance(o)
}

func (l *logIndex) advance(o crdt.ReplicaID) {
	a := l.above[o]
	for {
		next := l.vv[o] + 1
		if _, ok := a[next]; !ok {
			break
		}
		delete(a, next)
		l.vv[o] = next
	}
	for s := range a {
		if s <= l.vv[o] {
			delete(a, s)
		}
	}
	if len(a) == 0 {
		delete(l.above, o)
	}
}

// raiseFloor records that everything of o up to f is reflected in this
// node's state (a state transfer delivered it) even where the log lacks it.
func (l *logIndex) raiseFloor(o crdt.ReplicaID, f uint64) {
	if f <= l.floor[o] {
		return
	}
	l.floor[o] = f
	if l.vv[o] < f {
		l.vv[o] = f
	}
	l.advance(o)
}

// maxHeld is the highest entry of o held here.
func (l *logIndex) maxHeld(o crdt.ReplicaID) uint64 {
	m := l.vv[o]
	for s := range l.above[o] {
		m = max(m, s)
	}
	return m
}

// origins lists every origin this node holds entries of, in canonical order.
func (l *logIndex) origins() []crdt.ReplicaID {
	os := l.vv.Replicas()
	for o := range l.above {
		if !slices.Contains(os, o) {
			os = append(os, o)
		}
	}
	// Sorted: a map's order would leak into messages and answers, and a
	// simulation would not replay.
	slices.SortFunc(os, func(a, b crdt.ReplicaID) int { return bytes.Compare(a[:], b[:]) })
	return os
}

func (l *logIndex) vvString() string {
	var sb strings.Builder
	for i, o := range l.vv.Replicas() {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%s:%d", o.String()[:8], l.vv[o])
	}
	return sb.String()
}

// readLog reads entries of origin o with seq in [from, to], in order,
// stopping once maxBytes have been read. Missing entries are skipped.
func readLog(txn *badger.Txn, o crdt.ReplicaID, from, to uint64, maxBytes int, fn func(seq uint64, raw []byte)) (int, error) {
	p := append([]byte{pfxLog}, o[:]...)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
	defer it.Close()
	total := 0
	for it.Seek(logKey(o, from)); it.ValidForPrefix(p) && total < maxBytes; it.Next() {
		seq := binary.BigEndian.Uint64(it.Item().Key()[17:])
		if seq > to {
			break
		}
		raw, err := it.Item().ValueCopy(nil)
		if err != nil {
			return total, err
		}
		total += len(raw)
		fn(seq, raw)
	}
	return total, nil
}

// Floor returns the log floor of origin o.
func (s *Store) Floor(o crdt.ReplicaID) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.floor[o]
}

// LogsHeld is what the log index says of every origin's log, at one
// moment: the origins, the contiguous vector, the highest entry held and
// the floor (entries at or below it are truncated).
type LogsHeld struct {
	Origins []crdt.ReplicaID
	VV      crdt.VersionVector
	MaxHeld map[crdt.ReplicaID]uint64
	Floor   crdt.VersionVector
}

// Held reads the log index.
func (s *Store) Held() LogsHeld {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := LogsHeld{Origins: s.logs.origins(), VV: s.logs.vv.Clone(), MaxHeld: map[crdt.ReplicaID]uint64{}, Floor: crdt.VersionVector{}}
	for _, o := range h.Origins {
		h.MaxHeld[o] = s.logs.maxHeld(o)
	}
	for o, f := range s.logs.floor {
		h.Floor[o] = f
	}
	return h
}

// LogReader reads delta logs from one snapshot.
type LogReader struct{ txn *badger.Txn }

// Read calls fn with o's entries from..to, in order, until maxBytes of
// them are read, and returns the bytes read.
func (r LogReader) Read(o crdt.ReplicaID, from, to uint64, maxBytes int, fn func(seq uint64, raw []byte)) (int, error) {
	return readLog(r.txn, o, from, to, maxBytes, fn)
}

// ViewLogs calls fn with a reader of one snapshot.
func (s *Store) ViewLogs(fn func(LogReader) error) error {
	return s.db.View(func(txn *badger.Txn) error { return fn(LogReader{txn}) })
}

// VVJSON is a version vector as the API and /v1/cluster show it: replica
// id, as a string, to sequence number.
func VVJSON(v crdt.VersionVector) map[string]uint64 {
	out := map[string]uint64{}
	for r, s := range v {
		out[r.String()] = s
	}
	return out
}
