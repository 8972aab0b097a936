package node

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/lattice-sync/lattice/crdt"
)

type reqKind int

const (
	reqOp          reqKind = iota // an operation made here (HTTP)
	reqClientDelta                // a delta a client made
	reqRemote                     // log entries from a peer
	reqState                      // whole object states from a peer
	reqRange                      // one object's state, in ranges, from a state transfer
	reqFloor                      // the end of a state transfer, or truncation: raise log floors
	reqTruncate                   // delete log entries at or below their origin's floor
)

type writeReq struct {
	kind   reqKind
	key    string
	op     crdt.Op
	delta  *crdt.Object
	client crdt.ReplicaID
	origin crdt.ReplicaID
	raw    []byte // reqClientDelta: the log entry, encoded before the queue
	remote []logEntry
	states []crdt.BatchItem
	ranges []*message
	floors crdt.VersionVector
	drop   []uint64 // reqTruncate: sequence numbers of origin's entries
	done   chan *writeResult
}

type writeResult struct {
	delta *crdt.Object
	// state is the object after an operation made here (reqOp), read from
	// the commit's own writes when that is a point read (one-leaf types
	// with few writers); nil otherwise.
	state *crdt.Object
	// answer is the type and value after an operation on a counter, read
	// from its tally whatever its number of writers; nil otherwise.
	answer *answer
	err    error
}

// answer is what an operation's caller is told: the object's type and value.
type answer struct {
	Type  crdt.Type
	Value any
}

// logEntry is one entry of a node's delta log as it travels: the origin's
// sequence number and the encoded one-item batch.
type logEntry struct {
	seq uint64
	raw []byte
}

// change is one committed change, for observers and for pushing.
type change struct {
	key   string
	delta *crdt.Object
}

// stage is what a commit will change in memory once it is durable.
type stage struct {
	own     uint64 // last own sequence assigned
	entries map[crdt.ReplicaID][]uint64
	pushes  []logEntry
	changes []change
	clocks  []crdt.Timestamp
	floors  crdt.VersionVector
	metas   metaCache // every object's meta, read once and stored once per commit
	prev    *stage    // the stage of the batch syncing beneath this one, until it lands
	// arrivals: the commit brought new dots (from peers, or a client's
	// own writes), which client deltas may be waiting for.
	arrivals bool
}

// holds reports whether the entry (o, seq) is applied here or staged in
// this commit or the one syncing before it. The log index is read under
// n.mu: the committer is its only writer, but replication and catch-up
// read it from their own goroutines.
func (n *Node) holds(s *stage, o crdt.ReplicaID, seq uint64) bool {
	n.mu.Lock()
	applied := n.logs.has(o, seq)
	n.mu.Unlock()
	return applied || containsSeq(s.entries[o], seq) || s.prev != nil && containsSeq(s.prev.entries[o], seq)
}

func containsSeq(ss []uint64, s uint64) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// flight is a batch of requests on its way to disk: executed into its
// overlay (prepare), then written to Badger and syncing (launch), then
// answered (land).
type flight struct {
	batch   []*writeReq
	kv      *batchKV
	st      *stage
	results []*writeResult
	done    chan struct{} // closed when Badger has written and synced it
	err     error         // the commit's error, once done is closed
}

// commitLoop is the committer: the one goroutine that writes. It takes
// whatever has queued up, up to MaxBatch, and commits it as one
// transaction, so concurrent writers share one sync. It is a pipeline of
// two: while one batch syncs, the next is prepared on top of it (executed
// against its writes), so the work of a batch overlaps the sync of the one
// before, and a slow sync holds up the queue once, not twice. At most one
// batch syncs at a time, and a batch is answered, and its changes pushed,
// only once it is on disk, in commit order.
func (n *Node) commitLoop() {
	defer n.wg.Done()
	var fl *flight // the batch syncing, if any
	for {
		var landed chan struct{}
		if fl != nil {
			landed = fl.done
		}
		var batch []*writeReq
		select {
		case r := <-n.writes:
			batch = append(batch, r)
		case <-landed:
			n.land(fl)
			fl.kv.release()
			fl = nil
			continue
		case <-n.quit:
			if fl != nil {
				<-fl.done
				n.land(fl)
				fl.kv.release()
			}
			for {
				select {
				case r := <-n.writes:
					n.commitNow([]*writeReq{r})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < n.cfg.MaxBatch {
			select {
			case r := <-n.writes:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		fl = n.pipeline(batch, fl)
	}
}

// commitNow commits batch and waits until it is answered.
func (n *Node) commitNow(batch []*writeReq) {
	if fl := n.pipeline(batch, nil); fl != nil {
		<-fl.done
		n.land(fl)
		fl.kv.release()
	}
}

// pipeline prepares batch on top of prev (the batch syncing, or nil),
// waits for prev to be durable and answers it, then launches batch and
// returns it, syncing; nil if nothing is left to wait for.
func (n *Node) pipeline(batch []*writeReq, prev *flight) *flight {
	p := n.prepare(batch, prev)
	if prev != nil {
		<-prev.done
		n.land(prev)
		if prev.err != nil {
			// p was prepared on writes that never reached the disk:
			// prepare it again on what did.
			prev.kv.release()
			prev = nil
			p = n.prepare(batch, nil)
		}
	}
	return n.launch(p, prev)
}

// prepare executes batch into a new overlay on top of prev's, or on a
// snapshot when nothing syncs.
func (n *Node) prepare(batch []*writeReq, prev *flight) *flight {
	p := &flight{batch: batch, results: make([]*writeResult, len(batch)), done: make(chan struct{})}
	p.st = &stage{entries: map[crdt.ReplicaID][]uint64{}, metas: metaCache{}}
	if prev != nil {
		n.metrics.overlapped.Inc()
		p.kv = newBatchOn(prev.kv)
		p.st.own = prev.st.own
		p.st.prev = prev.st
	} else {
		p.kv = newBatch(n.db)
		n.mu.Lock()
		p.st.own = n.logs.vv[n.id]
		n.mu.Unlock()
	}
	for i, r := range batch {
		p.results[i] = n.exec(p.kv, p.st, r)
	}
	if err := p.st.metas.flush(p.kv); err != nil {
		p.err = fmt.Errorf("storing metas: %w", err)
	}
	return p
}

// launch writes p to Badger and starts its commit, once prev (if any) is
// durable and answered. A batch too big for one Badger transaction is
// split in halves and committed one after the other, so a transaction
// never commits part of a request.
func (n *Node) launch(p *flight, prev *flight) *flight {
	p.kv.rebase(n.db) // before the commit: a snapshot taken after it would wait for its sync
	if prev != nil {
		prev.kv.release()
	}
	p.st.prev = nil
	if p.err != nil {
		n.fail(p, p.err)
		return nil
	}
	txn, err := p.kv.apply(n.db)
	if errors.Is(err, badger.ErrTxnTooBig) {
		p.kv.release()
		if len(p.batch) == 1 {
			p.batch[0].done <- &writeResult{err: fmt.Errorf("write too large for one transaction: %w", err)}
			n.settled(1)
			return nil
		}
		n.commitNow(p.batch[:len(p.batch)/2])
		n.commitNow(p.batch[len(p.batch)/2:])
		return nil
	}
	if err != nil {
		n.fail(p, fmt.Errorf("commit: %w", err))
		return nil
	}
	txn.CommitWith(func(err error) {
		p.err = err
		close(p.done)
	})
	return p
}

// fail answers every request of a batch that was not committed with err.
func (n *Node) fail(p *flight, err error) {
	defer n.settled(len(p.batch))
	p.kv.release()
	n.log.Error("commit failed", "err", err, "batch", len(p.batch))
	for _, r := range p.batch {
		r.done <- &writeResult{err: err}
	}
}

// land answers a batch whose commit has ended and, if it is durable,
// makes its changes visible: the log index, the clock, the waiting client
// deltas, the acks, the observers (live deltas) and the push to peers.
func (n *Node) land(p *flight) {
	defer n.settled(len(p.batch)) // after the push: the batch's work is done
	if p.err != nil {
		err := fmt.Errorf("commit: %w", p.err)
		n.log.Error("commit failed", "err", err, "batch", len(p.batch))
		for _, r := range p.batch {
			r.done <- &writeResult{err: err}
		}
		return
	}
	st := p.st
	n.mu.Lock()
	for o, f := range st.floors {
		n.logs.raiseFloor(o, f)
	}
	for o, seqs := range st.entries {
		for _, s := range seqs {
			n.logs.add(o, s)
		}
	}
	observers := n.observers
	n.mu.Unlock()
	for _, t := range st.clocks {
		n.observeClock(t)
	}
	if st.arrivals {
		n.noteArrivals()
	}
	n.metrics.commits.Inc()
	n.metrics.bytesWritten.Add(float64(p.kv.bytes))
	n.written.Add(int64(p.kv.bytes))
	n.writtenKeys.Add(int64(p.kv.overlay.Len()))
	n.metrics.batchSize.Observe(float64(len(p.batch)))
	n.hot.landed(st.changes) // before the acks: an answer read from it holds its write
	for i, r := range p.batch {
		r.done <- p.results[i]
	}
	for _, c := range st.changes {
		for _, o := range observers {
			o(c.key, c.delta)
		}
	}
	if r := n.repl.Load(); r != nil {
		r.afterCommit(st)
	}
}

// exec performs one request inside txn. Every check that can refuse a
// request runs before its first write, so a refused request leaves the
// transaction as it found it.
func (n *Node) exec(txn *batchKV, st *stage, r *writeReq) *writeResult {
	if r.kind == reqOp {
		return n.execOp(txn, st, r)
	}
	delta, err := n.execJoin(txn, st, r)
	return &writeResult{delta: delta, err: err}
}

// execOp performs an operation made here. The answer carries the object's
// new state when it costs only point reads of what the commit just wrote.
func (n *Node) execOp(txn *batchKV, st *stage, r *writeReq) *writeResult {
	ts := n.now()
	m, err := st.metas.get(txn, r.key)
	if err != nil {
		return &writeResult{err: err}
	}
	os := newObjectStore(txn, r.key)
	delta, err := crdt.Apply(os, &m, n.id, ts, r.op)
	if err != nil {
		return &writeResult{err: err}
	}
	st.metas.put(r.key, m)
	n.metrics.ops.WithLabelValues(r.op.Type.String(), r.op.Kind.String()).Inc()
	raw, err := logEntryOf(ts, r.key, delta)
	if err == nil {
		err = n.logOwn(txn, st, raw, r.key, delta)
	}
	if err != nil {
		return &writeResult{err: err}
	}
	if t := m.Types.First(); m.Types == crdt.TypeSetOf(t) && (t == crdt.TypeGCounter || t == crdt.TypePNCounter) {
		// A counter's value is its tally: no read of its writers.
		tally, err := os.CounterTally(crdt.Path{Root: t}.Key())
		return &writeResult{delta: delta, answer: &answer{Type: t, Value: tally.Value()}, err: err}
	}
	full, ok, err := st.metas.small(txn, r.key)
	if err != nil || !ok {
		return &writeResult{delta: delta, err: err}
	}
	state, err := objectOf(txn, r.key, full, false)
	return &writeResult{delta: delta, state: state, err: err}
}

// execJoin performs a request that joins deltas or states made elsewhere.
func (n *Node) execJoin(txn *batchKV, st *stage, r *writeReq) (*crdt.Object, error) {
	switch r.kind {
	case reqClientDelta:
		m, err := st.metas.get(txn, r.key)
		if err != nil {
			return nil, err
		}
		os := &countingStore{Store: newObjectStore(txn, r.key)}
		rule := crdt.ClientRule{Client: r.client, MaxWall: n.cfg.Now() + n.cfg.MaxClockSkew.Milliseconds()}
		if err := rule.Check(os, &m, r.delta); err != nil {
			return nil, err
		}
		edits := m.Ctx.Edits()
		types := m.Types
		if err := crdt.JoinInto(os, &m, r.delta); err != nil {
			return nil, err
		}
		if os.writes == 0 && m.Types == types && m.Ctx.Edits() == edits {
			return r.delta, nil // a resend: already here, nothing to log
		}
		// New dots: client deltas waiting for them (a client that read
		// another's write on a node that then failed) may go on.
		st.arrivals = true
		st.metas.put(r.key, m)
		return r.delta, n.logOwn(txn, st, r.raw, r.key, r.delta)
	case reqRemote:
		for _, e := range r.remote {
			if n.holds(st, r.origin, e.seq) {
				n.metrics.duplicates.Inc()
				continue
			}
			b, err := crdt.UnmarshalBatch(e.raw)
			if err != nil {
				n.log.Warn("dropping undecodable log entry", "origin", r.origin, "seq", e.seq, "err", err)
				continue
			}
			for _, it := range b.Items {
				if err := n.joinState(txn, st, it.Key, it.Delta); err != nil {
					return nil, err
				}
			}
			if err := txn.set(logKey(r.origin, e.seq), e.raw); err != nil {
				return nil, err
			}
			st.entries[r.origin] = append(st.entries[r.origin], e.seq)
			st.clocks = append(st.clocks, b.Clock)
		}
		return nil, nil
	case reqRange:
		m, err := st.metas.get(txn, r.key)
		if err != nil {
			return nil, err
		}
		os := newObjectStore(txn, r.key)
		for i, rg := range r.ranges {
			if err := crdt.JoinRange(os, &m, rg.slice, rg.lo, rg.hi, i == len(r.ranges)-1); err != nil {
				return nil, err
			}
		}
		st.metas.put(r.key, m)
		if err := st.metas.flushKey(txn, r.key); err != nil { // loadObject reads it from txn
			return nil, err
		}
		o, _, err := loadObject(txn, r.key)
		if err != nil {
			return nil, err
		}
		st.changes = append(st.changes, change{key: r.key, delta: o})
		st.arrivals = true
		return nil, nil
	case reqFloor:
		if st.floors == nil {
			st.floors = crdt.VersionVector{}
		}
		for o, f := range r.floors {
			n.mu.Lock()
			cur := n.logs.floor[o]
			n.mu.Unlock()
			if st.prev != nil {
				cur = max(cur, st.prev.floors[o])
			}
			if f > cur && f > st.floors[o] {
				if err := txn.set(floorKey(o), binary.BigEndian.AppendUint64(nil, f)); err != nil {
					return nil, err
				}
				st.floors[o] = f
			}
		}
		return nil, nil
	case reqTruncate:
		// Only below the floor: an entry above it may still be asked for.
		n.mu.Lock()
		floor := n.logs.floor[r.origin]
		n.mu.Unlock()
		for _, seq := range r.drop {
			if seq > floor { // checked before any delete: a refusal writes nothing
				return nil, fmt.Errorf("truncating %s: entry %d is above the floor %d", r.origin, seq, floor)
			}
		}
		for _, seq := range r.drop {
			if err := txn.del(logKey(r.origin, seq)); err != nil {
				return nil, err
			}
		}
		return nil, nil
	case reqState:
		for _, it := range r.states {
			if err := n.joinState(txn, st, it.Key, it.Delta); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unknown request kind %d", r.kind)
}

// joinState joins a delta or state that came from a peer.
func (n *Node) joinState(txn *batchKV, st *stage, key string, d *crdt.Object) error {
	if checkKey(key) != nil {
		n.log.Warn("dropping delta for an invalid key", "key", key)
		return nil
	}
	m, err := st.metas.get(txn, key)
	if err != nil {
		return err
	}
	if err := crdt.JoinInto(newObjectStore(txn, key), &m, d); err != nil {
		return err
	}
	st.metas.put(key, m)
	st.changes = append(st.changes, change{key: key, delta: d})
	st.arrivals = true
	return nil
}

// logEntryOf encodes the log entry of one delta: a one-item batch.
func logEntryOf(ts crdt.Timestamp, key string, delta *crdt.Object) ([]byte, error) {
	return crdt.Batch{Clock: ts, Items: []crdt.BatchItem{{Key: key, Delta: delta}}}.MarshalBinary()
}

// logOwn appends a delta made or accepted here, encoded as its log entry
// raw, to this node's own log.
func (n *Node) logOwn(txn *batchKV, st *stage, raw []byte, key string, delta *crdt.Object) error {
	st.own++
	if err := txn.set(logKey(n.id, st.own), raw); err != nil {
		return err
	}
	st.entries[n.id] = append(st.entries[n.id], st.own)
	st.pushes = append(st.pushes, logEntry{seq: st.own, raw: raw})
	st.changes = append(st.changes, change{key: key, delta: delta})
	return nil
}

// countingStore counts leaf writes, to tell a resent delta from a new one.
type countingStore struct {
	crdt.Store
	writes int
}

func (c *countingStore) SetLeaf(key string, es []crdt.Entry) error {
	c.writes++
	return c.Store.SetLeaf(key, es)
}

func (c *countingStore) SetReplicaLeaf(key string, r crdt.ReplicaID, es []crdt.Entry) error {
	c.writes++
	return c.Store.SetReplicaLeaf(key, r, es)
}
