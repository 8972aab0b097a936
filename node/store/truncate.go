package store

import (
	"context"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/lattice-sync/lattice/crdt"
)

// NeedsState reports whether a peer at vector vv lacks entries this node's
// logs no longer hold.
func (s *Store) NeedsState(vv crdt.VersionVector) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for o, f := range s.logs.floor {
		if f > 0 && vv[o] < f {
			return true
		}
	}
	return false
}

// offerState starts a state transfer to peer, unless one is under way or
// its offer may still be answered.
// TruncateLogs drops log entries beyond LogRetention per origin and raises
// the floor to match; peers that need them get state instead. Both go
// through the committer, the only writer of Badger: first the floor (a
// floor written elsewhere could be overwritten by a lower one a batch had
// already prepared), then the entries below it, found here with a read and
// deleted in requests of at most truncateChunk. A crash between the two
// leaves entries below the floor, which are never read again.
func (s *Store) TruncateLogs() error {
	s.mu.Lock()
	plan := map[crdt.ReplicaID][2]uint64{}
	floors := crdt.VersionVector{}
	for o, seq := range s.logs.vv {
		if seq > s.logs.floor[o]+s.cfg.LogRetention {
			plan[o] = [2]uint64{s.logs.floor[o], seq - s.cfg.LogRetention}
			floors[o] = seq - s.cfg.LogRetention
		}
	}
	s.mu.Unlock()
	if len(plan) == 0 {
		return nil
	}
	ctx := context.Background()
	if _, err := s.Submit(ctx, &Request{Kind: ReqFloor, Floors: floors}); err != nil {
		return fmt.Errorf("raising log floors: %w", err)
	}
	for o, p := range plan {
		var seqs []uint64
		err := s.db.View(func(txn *badger.Txn) error {
			_, err := readLog(txn, o, p[0]+1, p[1], int(^uint(0)>>1), func(seq uint64, _ []byte) {
				seqs = append(seqs, seq)
			})
			return err
		})
		for err == nil && len(seqs) > 0 {
			k := min(len(seqs), truncateChunk)
			if _, err = s.Submit(ctx, &Request{Kind: ReqTruncate, Origin: o, Drop: seqs[:k]}); err == nil {
				s.metrics.logTruncated.Add(float64(k))
				seqs = seqs[k:]
			}
		}
		if err != nil {
			return fmt.Errorf("truncating log of %s: %w", o, err)
		}
	}
	return nil
}

// truncateChunk bounds the deletes of one truncation request, so that it
// fits in a Badger transaction beside a full batch of writes.
const truncateChunk = 1024
