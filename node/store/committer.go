package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/lattice-sync/lattice/crdt"
)

type ReqKind int

const (
	ReqOp          ReqKind = iota // an operation made here (HTTP)
	ReqClientDelta                // a delta a client made
	ReqRemote                     // log entries from a peer
	ReqState                      // whole object states from a peer
	ReqRange                      // one object's state, in ranges, from a state transfer
	ReqFloor                      // the end of a state transfer, or truncation: raise log floors
	ReqTruncate                   // delete log entries at or below their origin's floor
	ReqFold                       // fold writer Client of the root counter Key (crdt.Fold)
)

type Request struct {
	Kind   ReqKind
	Key    string
	Op     crdt.Op
	Delta  *crdt.Object
	Client crdt.ReplicaID
	Origin crdt.ReplicaID
	Raw    []byte // reqClientDelta: the log entry, encoded before the queue
	Remote []LogEntry
	States []crdt.BatchItem
	Ranges []Range
	Floors crdt.VersionVector
	Drop   []uint64 // reqTruncate: sequence numbers of origin's entries
	// Gate, for ReqFold, is the caller's rule, run by the committer just
	// before the fold with the origins this node holds entries of, landed
	// or staged in this commit or the one syncing (Store.Fold).
	Gate func(origins map[crdt.ReplicaID]bool) error
	done chan *Result
}

// Queued reports whether r is queued and not yet answered.
func (r *Request) Queued() bool { return r.done != nil && len(r.done) == 0 }

type Result struct {
	delta *crdt.Object
	// state is the object after an operation made here (reqOp), read from
	// the commit's own writes when that is a point read (one-leaf types
	// with few writers); nil otherwise.
	state *crdt.Object
	// answer is the type and value after an operation on a counter, read
	// from its tally whatever its number of writers; nil otherwise.
	answer *Answer
	err    error
}

// Answer is what an operation's caller is told: the object's type and
// value. The value is a plain value (a counter's int64) or, for objects
// rendered from a state, its JSON already written (json.RawMessage, from
// crdt.Object.AppendValueJSON), which encoding/json sends as it is.
type Answer struct {
	Type  crdt.Type
	Value any
}

// Range is one key range of an object's state, from a state
// transfer: the leaves from lo to hi (crdt.JoinRange).
type Range struct {
	Lo, Hi string
	Slice  *crdt.Object
}

// LogEntry is one entry of a node's delta log as it travels: the origin's
// sequence number and the encoded one-item batch.
type LogEntry struct {
	Seq uint64
	Raw []byte
}

// Change is one committed change, for observers and for pushing. A change
// joined from a peer's log entry holds the entry's bytes, not its delta:
// the committer joined the entry straight from them (crdt.Merger), and
// the delta is decoded only if a consumer asks for it (Delta).
type Change struct {
	Key   string
	delta *crdt.Object
	entry *remoteEntry // the peer's log entry the change came from, if delta is nil
	item  int          // the change's item in entry
}

// Delta returns the change's delta. A change joined from a peer's log
// entry decodes the entry the first time one of its changes is asked
// (once, whatever the goroutine); it decoded when it was joined, so an
// error here is a bug.
func (c Change) Delta() (*crdt.Object, error) {
	if c.entry == nil {
		return c.delta, nil
	}
	return c.entry.delta(c.item)
}

// remoteEntry is a peer's log entry, a binary crdt.Batch, decoded once if
// one of its changes' deltas is asked for.
type remoteEntry struct {
	raw  []byte
	once sync.Once
	b    crdt.Batch
	err  error
}

func (e *remoteEntry) delta(item int) (*crdt.Object, error) {
	e.once.Do(func() {
		e.b, e.err = crdt.UnmarshalBatch(e.raw)
	})
	if e.err != nil {
		return nil, fmt.Errorf("decoding a joined log entry: %w", e.err)
	}
	if item >= len(e.b.Items) {
		return nil, fmt.Errorf("decoding a joined log entry: %d items, no item %d", len(e.b.Items), item)
	}
	return e.b.Items[item].Delta, nil
}

// Stage is what a commit will change in memory once it is durable.
type Stage struct {
	own     uint64 // last own sequence assigned
	entries map[crdt.ReplicaID][]uint64
	Pushes  []LogEntry
	Changes []Change
	clocks  []crdt.Timestamp
	floors  crdt.VersionVector
	metas   metaCache // every object's meta, read once and stored once per commit
	prev    *Stage    // the stage of the batch syncing beneath this one, until it lands
	// arrivals: the commit brought new dots (from peers, or a client's
	// own writes), which client deltas may be waiting for.
	arrivals bool
}

// holds reports whether the entry (o, seq) is applied here or staged in
// this commit or the one syncing before it. The log index is read under
// s.mu: the committer is its only writer, but replication and catch-up
// read it from their own goroutines.
func (s *Store) holds(sg *Stage, o crdt.ReplicaID, seq uint64) bool {
	s.mu.Lock()
	applied := s.logs.has(o, seq)
	s.mu.Unlock()
	return applied || containsSeq(sg.entries[o], seq) || sg.prev != nil && containsSeq(sg.prev.entries[o], seq)
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
	batch   []*Request
	kv      *batchKV
	st      *Stage
	results []*Result
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
func (s *Store) commitLoop() {
	defer s.wg.Done()
	var fl *flight // the batch syncing, if any
	for {
		var landed chan struct{}
		if fl != nil {
			landed = fl.done
		}
		var batch []*Request
		select {
		case r := <-s.writes:
			batch = append(batch, r)
		case <-landed:
			s.land(fl)
			fl.kv.release()
			fl = nil
			continue
		case <-s.quit:
			if fl != nil {
				<-fl.done
				s.land(fl)
				fl.kv.release()
			}
			for {
				select {
				case r := <-s.writes:
					s.commitNow([]*Request{r})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case r := <-s.writes:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		fl = s.pipeline(batch, fl)
	}
}

// commitNow commits batch and waits until it is answered.
func (s *Store) commitNow(batch []*Request) {
	if fl := s.pipeline(batch, nil); fl != nil {
		<-fl.done
		s.land(fl)
		fl.kv.release()
	}
}

// pipeline prepares batch on top of prev (the batch syncing, or nil),
// waits for prev to be durable and answers it, then launches batch and
// returns it, syncing; nil if nothing is left to wait for.
func (s *Store) pipeline(batch []*Request, prev *flight) *flight {
	p := s.prepare(batch, prev)
	if prev != nil {
		s.gather(p, prev.done)
		<-prev.done
		s.land(prev)
		if prev.err != nil {
			// p was prepared on writes that never reached the disk:
			// prepare it again on what did.
			prev.kv.release()
			prev = nil
			p = s.prepare(p.batch, nil)
		}
	}
	if err := p.st.metas.flush(p.kv); err != nil && p.err == nil {
		p.err = fmt.Errorf("storing metas: %w", err)
	}
	return s.launch(p, prev)
}

// gather executes into p the requests that arrive while the batch before
// it syncs (until synced is closed), up to MaxBatch in all: p cannot be
// written before that batch is durable, so they share p's sync instead of
// waiting for a sync of their own after it. A writer that sends its next
// request as soon as it is answered (a REST client) then finds its commit
// already gathering, not a commit behind. It adds at most one request's
// execution to p's start.
func (s *Store) gather(p *flight, synced <-chan struct{}) {
	for len(p.batch) < s.cfg.MaxBatch {
		select {
		case <-synced:
			return
		default:
		}
		select {
		case r := <-s.writes:
			p.batch = append(p.batch, r)
			p.results = append(p.results, s.exec(p.kv, p.st, r))
		case <-synced:
			return
		}
	}
}

// prepare executes batch into a new overlay on top of prev's, or on a
// snapshot when nothing syncs; pipeline stores the batch's metas once it
// is complete.
func (s *Store) prepare(batch []*Request, prev *flight) *flight {
	p := &flight{batch: batch, results: make([]*Result, len(batch)), done: make(chan struct{})}
	p.st = &Stage{entries: map[crdt.ReplicaID][]uint64{}, metas: metaCache{}}
	if prev != nil {
		s.metrics.overlapped.Inc()
		p.kv = newBatchOn(prev.kv)
		p.st.own = prev.st.own
		p.st.prev = prev.st
	} else {
		p.kv = newBatch(s.db)
		s.mu.Lock()
		p.st.own = s.logs.vv[s.id]
		s.mu.Unlock()
	}
	for i, r := range batch {
		p.results[i] = s.exec(p.kv, p.st, r)
	}
	return p
}

// launch writes p to Badger and starts its commit, once prev (if any) is
// durable and answered. A batch too big for one Badger transaction is
// split in halves and committed one after the other, so a transaction
// never commits part of a request.
func (s *Store) launch(p *flight, prev *flight) *flight {
	p.kv.rebase(s.db) // before the commit: a snapshot taken after it would wait for its sync
	if prev != nil {
		prev.kv.release()
	}
	p.st.prev = nil
	if p.err != nil {
		s.fail(p, p.err)
		return nil
	}
	txn, err := p.kv.apply(s.db)
	if errors.Is(err, badger.ErrTxnTooBig) {
		p.kv.release()
		if len(p.batch) == 1 {
			p.batch[0].done <- &Result{err: fmt.Errorf("write too large for one transaction: %w", err)}
			s.settled(1)
			return nil
		}
		s.commitNow(p.batch[:len(p.batch)/2])
		s.commitNow(p.batch[len(p.batch)/2:])
		return nil
	}
	if err != nil {
		s.fail(p, fmt.Errorf("commit: %w", err))
		return nil
	}
	txn.CommitWith(func(err error) {
		p.err = err
		close(p.done)
	})
	return p
}

// fail answers every request of a batch that was not committed with err.
func (s *Store) fail(p *flight, err error) {
	defer s.settled(len(p.batch))
	p.kv.release()
	s.log.Error("commit failed", "err", err, "batch", len(p.batch))
	for _, r := range p.batch {
		r.done <- &Result{err: err}
	}
}

// land answers a batch whose commit has ended and, if it is durable,
// makes its changes visible: the log index, the clock, the waiting client
// deltas, the acks, the observers (live deltas) and the push to peers.
func (s *Store) land(p *flight) {
	defer s.settled(len(p.batch)) // after the push: the batch's work is done
	if p.err != nil {
		err := fmt.Errorf("commit: %w", p.err)
		s.log.Error("commit failed", "err", err, "batch", len(p.batch))
		for _, r := range p.batch {
			r.done <- &Result{err: err}
		}
		return
	}
	st := p.st
	s.mu.Lock()
	for o, f := range st.floors {
		s.logs.raiseFloor(o, f)
	}
	for o, seqs := range st.entries {
		for _, seq := range seqs {
			s.logs.add(o, seq)
		}
	}
	s.mu.Unlock()
	for _, t := range st.clocks {
		s.ObserveClock(t)
	}
	if st.arrivals {
		s.noteArrivals()
	}
	s.metrics.commits.Inc()
	s.metrics.bytesWritten.Add(float64(p.kv.bytes))
	s.written.Add(int64(p.kv.bytes))
	s.writtenKeys.Add(int64(p.kv.overlay.Len()))
	s.metrics.batchSize.Observe(float64(len(p.batch)))
	s.hot.landed(st.Changes) // before the acks: an answer read from it holds its write
	for i, r := range p.batch {
		r.done <- p.results[i]
	}
	if s.landed != nil {
		s.landed(st) // the observers (live deltas), then the push to peers
	}
}

// exec performs one request inside txn. Every check that can refuse a
// request runs before its first write, so a refused request leaves the
// transaction as it found it.
func (s *Store) exec(txn *batchKV, st *Stage, r *Request) *Result {
	if r.Kind == ReqOp {
		return s.execOp(txn, st, r)
	}
	if r.Kind == ReqFold {
		delta, err := s.execFold(txn, st, r)
		return &Result{delta: delta, err: err}
	}
	delta, err := s.execJoin(txn, st, r)
	return &Result{delta: delta, err: err}
}

// execOp performs an operation made here. The answer carries the object's
// new state when it costs only point reads of what the commit just wrote.
func (s *Store) execOp(txn *batchKV, st *Stage, r *Request) *Result {
	ts := s.Now()
	m, err := st.metas.get(txn, r.Key)
	if err != nil {
		return &Result{err: err}
	}
	os := newObjectStore(txn, r.Key)
	delta, err := crdt.Apply(os, &m, s.id, ts, r.Op)
	if err != nil {
		return &Result{err: err}
	}
	st.metas.put(r.Key, m)
	s.metrics.ops.WithLabelValues(r.Op.Type.String(), r.Op.Kind.String()).Inc()
	raw, err := logEntryOf(ts, r.Key, delta)
	if err == nil {
		err = s.logOwn(txn, st, raw, r.Key, delta)
	}
	if err != nil {
		return &Result{err: err}
	}
	if t := m.Types.First(); m.Types == crdt.TypeSetOf(t) && (t == crdt.TypeGCounter || t == crdt.TypePNCounter) {
		// A counter's value is its tally: no read of its writers.
		tally, err := os.CounterTally(crdt.Path{Root: t}.Key())
		return &Result{delta: delta, answer: &Answer{Type: t, Value: tally.Value()}, err: err}
	}
	full, ok, err := st.metas.small(txn, r.Key)
	if err != nil || !ok {
		return &Result{delta: delta, err: err}
	}
	state, err := objectOf(txn, r.Key, full, false)
	return &Result{delta: delta, state: state, err: err}
}

// execFold folds writer r.Client of the root counter r.Key into this
// node's fold replica (crdt.FoldReplica), and logs the fold delta as this
// node's own log entry, so it replicates like any other delta.
func (s *Store) execFold(txn *batchKV, st *Stage, r *Request) (*crdt.Object, error) {
	if r.Gate != nil {
		if err := r.Gate(s.stagedOrigins(st)); err != nil {
			return nil, err
		}
	}
	m, err := st.metas.get(txn, r.Key)
	if err != nil {
		return nil, err
	}
	t := m.Types.First()
	if m.Types != crdt.TypeSetOf(t) || (t != crdt.TypeGCounter && t != crdt.TypePNCounter) {
		return nil, fmt.Errorf("%w: fold: %s is not a counter", crdt.ErrInvalidOp, r.Key)
	}
	os := newObjectStore(txn, r.Key)
	delta, err := crdt.Fold(os, &m, crdt.Path{Root: t}.Key(), r.Client, crdt.FoldReplica(s.id))
	if err != nil {
		return nil, err
	}
	st.metas.put(r.Key, m)
	s.metrics.folds.Inc()
	raw, err := logEntryOf(s.Now(), r.Key, delta)
	if err != nil {
		return nil, err
	}
	return delta, s.logOwn(txn, st, raw, r.Key, delta)
}

// stagedOrigins is every origin whose entries are in the log index's
// vector, or staged in sg or the commit syncing before it.
func (s *Store) stagedOrigins(sg *Stage) map[crdt.ReplicaID]bool {
	os := map[crdt.ReplicaID]bool{}
	s.mu.Lock()
	for o, n := range s.logs.vv {
		if n > 0 {
			os[o] = true
		}
	}
	s.mu.Unlock()
	for _, g := range []*Stage{sg, sg.prev} {
		if g == nil {
			continue
		}
		for o, seqs := range g.entries {
			if len(seqs) > 0 {
				os[o] = true
			}
		}
	}
	return os
}

// execJoin performs a request that joins deltas or states made elsewhere.
func (s *Store) execJoin(txn *batchKV, st *Stage, r *Request) (*crdt.Object, error) {
	switch r.Kind {
	case ReqClientDelta:
		m, err := st.metas.get(txn, r.Key)
		if err != nil {
			return nil, err
		}
		os := &countingStore{Store: newObjectStore(txn, r.Key)}
		rule := crdt.ClientRule{Client: r.Client, MaxWall: s.cfg.Now() + s.cfg.MaxClockSkew.Milliseconds()}
		if err := rule.Check(os, &m, r.Delta); err != nil {
			return nil, err
		}
		edits := m.Ctx.Edits()
		types := m.Types
		if err := crdt.JoinInto(os, &m, r.Delta); err != nil {
			return nil, err
		}
		if os.writes == 0 && m.Types == types && m.Ctx.Edits() == edits {
			return r.Delta, nil // a resend: already here, nothing to log
		}
		// New dots: client deltas waiting for them (a client that read
		// another's write on a node that then failed) may go on.
		st.arrivals = true
		st.metas.put(r.Key, m)
		return r.Delta, s.logOwn(txn, st, r.Raw, r.Key, r.Delta)
	case ReqRemote:
		for _, e := range r.Remote {
			if s.holds(st, r.Origin, e.Seq) {
				s.metrics.duplicates.Inc()
				continue
			}
			clock, joined, err := s.remote.join(s, txn, st, r.Origin, e)
			if err != nil {
				return nil, err
			}
			if !joined {
				continue
			}
			if err := txn.set(logKey(r.Origin, e.Seq), e.Raw); err != nil {
				return nil, err
			}
			st.entries[r.Origin] = append(st.entries[r.Origin], e.Seq)
			st.clocks = append(st.clocks, clock)
		}
		return nil, nil
	case ReqRange:
		m, err := st.metas.get(txn, r.Key)
		if err != nil {
			return nil, err
		}
		os := newObjectStore(txn, r.Key)
		for i, rg := range r.Ranges {
			if err := crdt.JoinRange(os, &m, rg.Slice, rg.Lo, rg.Hi, i == len(r.Ranges)-1); err != nil {
				return nil, err
			}
		}
		st.metas.put(r.Key, m)
		if err := st.metas.flushKey(txn, r.Key); err != nil { // loadObject reads it from txn
			return nil, err
		}
		o, _, err := loadObject(txn, r.Key)
		if err != nil {
			return nil, err
		}
		st.Changes = append(st.Changes, Change{Key: r.Key, delta: o})
		st.arrivals = true
		return nil, nil
	case ReqFloor:
		if st.floors == nil {
			st.floors = crdt.VersionVector{}
		}
		for o, f := range r.Floors {
			s.mu.Lock()
			cur := s.logs.floor[o]
			s.mu.Unlock()
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
	case ReqTruncate:
		// Only below the floor: an entry above it may still be asked for.
		s.mu.Lock()
		floor := s.logs.floor[r.Origin]
		s.mu.Unlock()
		for _, seq := range r.Drop {
			if seq > floor { // checked before any delete: a refusal writes nothing
				return nil, fmt.Errorf("truncating %s: entry %d is above the floor %d", r.Origin, seq, floor)
			}
		}
		for _, seq := range r.Drop {
			if err := txn.del(logKey(r.Origin, seq)); err != nil {
				return nil, err
			}
		}
		return nil, nil
	case ReqState:
		for _, it := range r.States {
			if err := s.joinState(txn, st, it.Key, it.Delta); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unknown request kind %d", r.Kind)
}

// joinState joins a delta or state that came from a peer.
func (s *Store) joinState(txn *batchKV, st *Stage, key string, d *crdt.Object) error {
	if !s.validKey(key) {
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
	st.Changes = append(st.Changes, Change{Key: key, delta: d})
	st.arrivals = true
	return nil
}

// validKey reports whether a peer's delta for key may be joined, and warns
// of one that may not.
func (s *Store) validKey(key string) bool {
	if CheckKey(key) != nil {
		s.log.Warn("dropping delta for an invalid key", "key", key)
		return false
	}
	return true
}

// remoteJoin joins peers' log entries straight from their bytes with a
// crdt.Merger, as joinState joins each item of the decoded entry, without
// building the items' Objects: their changes decode them only if asked
// (Change.Delta). It belongs to the committer, the one goroutine that
// executes batches (prepare), so one Merger serves every entry.
type remoteJoin struct {
	merger crdt.Merger
	target func(key string) (crdt.Store, *crdt.Meta, error) // r.next, bound once

	// The entry being joined.
	s     *Store
	txn   *batchKV
	st    *Stage
	entry *remoteEntry
	item  int       // the item target was last called for
	key   string    // the key of the item being joined, if valid
	meta  crdt.Meta // its meta, which the join updates
	open  bool      // an item is being joined: key and meta hold it
}

// join joins origin's log entry e into txn and st. It reports whether the
// entry decoded: one that does not is warned of and dropped, with nothing
// joined. It returns the entry's clock.
func (r *remoteJoin) join(s *Store, txn *batchKV, st *Stage, origin crdt.ReplicaID, e LogEntry) (crdt.Timestamp, bool, error) {
	if r.target == nil {
		r.target = r.next
	}
	r.s, r.txn, r.st = s, txn, st
	r.entry, r.item, r.open = &remoteEntry{raw: e.Raw}, -1, false
	defer func() { r.s, r.txn, r.st, r.entry = nil, nil, nil, nil }()
	clock, err := r.merger.JoinBatch(e.Raw, r.target)
	if err != nil {
		if r.item < 0 { // the merger calls target only once the whole entry decoded
			s.log.Warn("dropping undecodable log entry", "origin", origin, "seq", e.Seq, "err", err)
			return crdt.Timestamp{}, false, nil
		}
		return clock, false, err
	}
	r.done()
	return clock, true, nil
}

// next is the merger's target: it ends the item joined before, then gives
// the store and meta of the next item's key, or none if the key is not valid.
func (r *remoteJoin) next(key string) (crdt.Store, *crdt.Meta, error) {
	r.done()
	r.item++
	if !r.s.validKey(key) {
		return nil, nil, nil
	}
	m, err := r.st.metas.get(r.txn, key)
	if err != nil {
		return nil, nil, err
	}
	r.key, r.meta, r.open = key, m, true
	return newObjectStore(r.txn, key), &r.meta, nil
}

// done ends the item joined last, if any: its meta is stored and its
// change staged.
func (r *remoteJoin) done() {
	if !r.open {
		return
	}
	r.open = false
	r.st.metas.put(r.key, r.meta)
	r.st.Changes = append(r.st.Changes, Change{Key: r.key, entry: r.entry, item: r.item})
	r.st.arrivals = true
}

// logEntryOf encodes the log entry of one delta: a one-item batch.
func logEntryOf(ts crdt.Timestamp, key string, delta *crdt.Object) ([]byte, error) {
	return crdt.Batch{Clock: ts, Items: []crdt.BatchItem{{Key: key, Delta: delta}}}.MarshalBinary()
}

// logOwn appends a delta made or accepted here, encoded as its log entry
// raw, to this node's own log.
func (s *Store) logOwn(txn *batchKV, st *Stage, raw []byte, key string, delta *crdt.Object) error {
	st.own++
	if err := txn.set(logKey(s.id, st.own), raw); err != nil {
		return err
	}
	st.entries[s.id] = append(st.entries[s.id], st.own)
	st.Pushes = append(st.Pushes, LogEntry{Seq: st.own, Raw: raw})
	st.Changes = append(st.Changes, Change{Key: key, delta: delta})
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
