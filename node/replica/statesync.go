package replica

import (
	"crypto/sha256"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node/store"
)

// State transfer. When a peer needs entries of some node's log that this
// node no longer keeps (its floor is above the peer's vector), the log
// cannot bring the peer up to date, so the objects' states do. To send only
// what is missing:
//
//  1. the sender offers a digest of every object (msgDigests);
//  2. the receiver asks for the objects whose digests differ (msgWants);
//  3. the sender sends those objects' states, each split into key ranges
//     that fit one message (msgRange), joined with crdt.JoinRange in one
//     transaction per object; but a counter too large for one part
//     (crdt.Object.WriterParts: its writers' entries and context entries,
//     a bounded number of writers per part) travels as writer parts
//     (msgPart), each joined as a delta in a transaction of its own;
//  4. a last message (msgFinish) carries the sender's node version vector
//     as of the offer, which the receiver adopts as its log floor once
//     every range and part has arrived and committed.
//
// A counter of 100,000 writers joined into a node that holds none of them
// writes three keys per writer, more than one Badger transaction takes, so
// it cannot travel as a range. Each writer part is a valid delta of the
// counter restricted to its writers, so between parts, and after a crash
// between them, the receiver holds a join of its state with some of the
// sender's writers (the tally, kept with the writers in each transaction,
// is their sum), never a writer counted twice: the parts holding fold
// replicas come last (late), and the receiver joins a late part only once
// every part before it is queued. Such a state is not served as complete:
// the floor is adopted only after every part committed, so until then the
// node still needs state, and the next offer sends what differs again
// (joins are idempotent). A part that names more writers than the
// receiver's transactions take (Store.PartWriters) is split again there.
//
// A lost message leaves the session unfinished. Once the sender has sent
// the ranges and the finish, the peer's next anti-entropy request brings a
// new offer if the peer still needs state (one of those was lost, or the
// peer is still committing them), after the session's wait, twice as long
// each time: a receiver committing a large transfer is not sent it again
// every round. An offer, or the
// receiver's wants, that was lost leaves the sender waiting for an answer:
// it offers again after two anti-entropy intervals, and after twice as long
// each further time, up to SessionTimeout, so that a receiver still working
// out a large answer is not interrupted forever. Either way the objects that
// did arrive now match their digests, so the transfer resumes where it
// stopped rather than starting over. A range that arrives twice (a network
// that duplicates) counts once.

// SessionTimeout is how long a session may stay unfinished before a new
// offer replaces it, and the longest an unanswered offer waits.
const SessionTimeout = 30 * time.Second

type outSession struct {
	id       uint64
	vv       crdt.VersionVector
	started  time.Time
	wait     time.Duration // how long the offer waits for an answer before it is made again
	answered bool          // wants arrived: the transfer is under way
	sent     bool          // everything asked for, and the finish, was sent at started
	wants    []string
}

type inSession struct {
	started  time.Time
	digests  []keyDigest
	ranges   map[string][]*message    // per key, until all its ranges are here
	done     map[string]bool          // keys whose ranges all arrived
	parts    map[string]*partsArrived // per counter sent as writer parts
	got      uint64                   // ranges and parts handed to the committer
	pending  int                      // requests handed and not yet committed
	failed   bool                     // a request could not be queued, or failed: no floor
	partQ    []*message               // parts waiting for the peer's worker to queue them
	draining bool                     // a task is queueing partQ
	finish   *message
}

// partsArrived is what arrived of one counter's writer parts.
type partsArrived struct {
	queued map[uint64]bool // parts handed to the committer, by index
	held   []*message      // late parts waiting for every part before them
}

func objectDigest(o *crdt.Object) ([32]byte, error) {
	b, err := o.MarshalBinary()
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

func (r *Replicator) offerState(peer string) {
	r.mu.Lock()
	wait := 2 * r.cfg.AntiEntropyInterval
	if old := r.outs[peer]; old != nil {
		age := r.cfg.Clock.Now().Sub(old.started)
		switch {
		case old.sent:
			// The peer may still be committing what was sent, and adopts
			// the floor only after: offer again after the offer's wait,
			// twice as long each time, rather than each round.
			if age < old.wait {
				r.mu.Unlock()
				return
			}
			if age < SessionTimeout {
				wait = old.wait * 2
			}
		case age < SessionTimeout && (old.answered || age < old.wait):
			r.mu.Unlock()
			return
		case !old.answered:
			wait = old.wait * 2
		}
	}
	s := &outSession{id: r.cfg.Rand.Uint64(), vv: r.st.VersionVector(), started: r.cfg.Clock.Now(), wait: min(wait, SessionTimeout)}
	r.outs[peer] = s
	r.mu.Unlock()

	var ds []keyDigest
	err := r.st.Scan("", func(k string, o *crdt.Object) error {
		h, err := objectDigest(o)
		ds = append(ds, keyDigest{key: k, hash: h})
		return err
	})
	if err != nil {
		r.log.Warn("state offer", "peer", peer, "err", err)
		return
	}
	r.log.Info("offering state", "peer", peer, "session", s.id, "objects", len(ds))
	for start := 0; ; {
		end, size := start, 0
		for end < len(ds) && size < MaxChunk {
			size += len(ds[end].key) + 40
			end++
		}
		final := end == len(ds)
		r.send(peer, "state-digests", encodeDigests(r.st.ID(), s.id, final, ds[start:end]))
		if final {
			return
		}
		start = end
	}
}

// onDigests collects an offer and, once complete, asks for what differs.
func (r *Replicator) onDigests(peer string, m *message) {
	sk := fmt.Sprintf("%s/%d", peer, m.session)
	r.mu.Lock()
	in := r.ins[sk]
	if in == nil {
		in = &inSession{started: r.cfg.Clock.Now(), ranges: map[string][]*message{}, done: map[string]bool{}, parts: map[string]*partsArrived{}}
		r.ins[sk] = in
	}
	in.digests = append(in.digests, m.digests...)
	ds := in.digests
	r.mu.Unlock()
	if !m.final {
		return
	}
	var wants []string
	for _, d := range ds {
		o, err := r.st.Get(d.key)
		if err != nil {
			continue
		}
		if h, err := objectDigest(o); err != nil || h != d.hash {
			wants = append(wants, d.key)
		}
	}
	r.log.Info("state offer received", "peer", peer, "session", m.session, "objects", len(ds), "want", len(wants))
	for start := 0; ; {
		end, size := start, 0
		for end < len(wants) && size < MaxChunk {
			size += len(wants[end]) + 4
			end++
		}
		final := end == len(wants)
		r.send(peer, "state-wants", encodeWants(r.st.ID(), m.session, final, wants[start:end]))
		if final {
			return
		}
		start = end
	}
}

// onWants collects what the peer asked for and, once complete, sends it.
func (r *Replicator) onWants(peer string, m *message) {
	r.mu.Lock()
	s := r.outs[peer]
	if s == nil || s.id != m.session {
		r.mu.Unlock()
		return
	}
	s.answered = true
	s.wants = append(s.wants, m.keys...)
	wants := s.wants
	r.mu.Unlock()
	if !m.final {
		return
	}
	var sent uint64
	seen := map[string]bool{}
	late := r.foldReplicas()
	for _, k := range wants {
		if seen[k] { // asked twice: a duplicated offer or wants message
			continue
		}
		seen[k] = true
		o, err := r.st.Get(k)
		if err != nil {
			continue
		}
		if parts := o.WriterParts(min(sendPartWriters, r.st.PartWriters(k)), MaxChunk/2, late); len(parts) > 1 {
			sent += r.sendParts(peer, s.id, k, parts, late)
			continue
		}
		bounds := splitObject(o, MaxChunk/2)
		for i, b := range bounds {
			raw, err := o.Slice(b[0], b[1]).MarshalBinary()
			if err != nil {
				continue
			}
			r.send(peer, "state-range", encodeRange(r.st.ID(), s.id, k, uint64(i), uint64(len(bounds)), b[0], b[1], raw))
			sent++
		}
	}
	r.send(peer, "state-finish", encodeFinish(r.st.ID(), s.id, sent, s.vv))
	r.mu.Lock()
	if r.outs[peer] == s {
		s.sent, s.started = true, r.cfg.Clock.Now()
	}
	r.mu.Unlock()
}

// sendPartWriters bounds the writers of a counter part sent: about 80 KB
// of a counter of one entry per writer, so that a part commits in a short
// transaction on any node (a receiver splits a part its own limits refuse).
const sendPartWriters = 2048

// foldReplicas reports whether a replica is the fold replica of a node
// this node knows (an origin of its log index, or itself): the writers a
// counter's writer parts put last.
func (r *Replicator) foldReplicas() func(crdt.ReplicaID) bool {
	folds := map[crdt.ReplicaID]bool{crdt.FoldReplica(r.st.ID()): true}
	for o := range r.st.VersionVector() {
		folds[crdt.FoldReplica(o)] = true
	}
	return func(w crdt.ReplicaID) bool { return folds[w] }
}

// sendParts sends a counter's writer parts, in order, and returns how many
// it sent.
func (r *Replicator) sendParts(peer string, session uint64, key string, parts []*crdt.Object, late func(crdt.ReplicaID) bool) uint64 {
	var sent uint64
	for i, p := range parts {
		raw, err := p.MarshalBinary()
		if err != nil {
			r.log.Warn("state part", "key", key, "err", err)
			continue
		}
		r.send(peer, "state-part", encodePart(r.st.ID(), session, key, uint64(i), uint64(len(parts)), holdsLate(p, late), raw))
		sent++
	}
	return sent
}

// holdsLate reports whether part p names a writer late reports.
func holdsLate(p *crdt.Object, late func(crdt.ReplicaID) bool) bool {
	for _, w := range p.Replicas() {
		if late(w) {
			return true
		}
	}
	return false
}

// splitObject cuts an object's leaf keys into ranges of about max bytes.
func splitObject(o *crdt.Object, max int) [][2]string {
	var bounds [][2]string
	lo, size := "", 0
	_ = o.Range("", "", func(k string, es []crdt.Entry) error {
		sz := len(k) + len(crdt.EncodeLeaf(k, es))
		if size > 0 && size+sz > max {
			bounds = append(bounds, [2]string{lo, k})
			lo, size = k, 0
		}
		size += sz
		return nil
	})
	return append(bounds, [2]string{lo, ""})
}

// lockSession locks r.mu and returns the key and the state of the session
// peer's message names; with no such session it returns nil, unlocked.
func (r *Replicator) lockSession(peer string, session uint64) (string, *inSession) {
	sk := fmt.Sprintf("%s/%d", peer, session)
	r.mu.Lock()
	in := r.ins[sk]
	if in == nil {
		r.mu.Unlock()
	}
	return sk, in
}

// onRange buffers an object's ranges until all are here, then hands them
// to the committer in order: the last range joins the whole context, so it
// must come last.
func (r *Replicator) onRange(peer string, m *message) {
	sk, in := r.lockSession(peer, m.session)
	if in == nil {
		return
	}
	if in.done[m.key] {
		r.mu.Unlock()
		return // a duplicate
	}
	for _, have := range in.ranges[m.key] {
		if have.index == m.index {
			r.mu.Unlock()
			return // a duplicate
		}
	}
	rs := append(in.ranges[m.key], m)
	in.ranges[m.key] = rs
	if uint64(len(rs)) < m.total {
		r.mu.Unlock()
		return
	}
	delete(in.ranges, m.key)
	in.done[m.key] = true
	r.mu.Unlock()
	sort.Slice(rs, func(i, j int) bool { return rs[i].index < rs[j].index })
	ranges := make([]store.Range, len(rs))
	for i, m := range rs {
		ranges[i] = store.Range{Lo: m.lo, Hi: m.hi, Slice: m.slice}
	}
	r.queue(peer, sk, in, &store.Request{Kind: store.ReqRange, Key: m.key, Ranges: ranges}, false)
	r.mu.Lock()
	in.got += uint64(len(rs)) // once queued: the floor goes after it
	r.mu.Unlock()
	r.checkFinished(peer, sk)
}

// queue hands a request of session sk to the committer, which tells the
// session once it committed or failed. With wait it waits for room in the
// queue (a peer worker's task); without, a full queue fails the session.
func (r *Replicator) queue(peer, sk string, in *inSession, req *store.Request, wait bool) {
	req.Done = func(err error) {
		r.mu.Lock()
		in.pending--
		if err != nil {
			in.failed = true
			r.log.Warn("state transfer request failed", "peer", peer, "key", req.Key, "err", err)
		}
		r.mu.Unlock()
		r.checkFinished(peer, sk)
	}
	r.mu.Lock()
	in.pending++
	r.mu.Unlock()
	var ok bool
	if wait {
		ok = r.st.Enqueue(req, r.quit)
	} else {
		ok = r.enqueue(req)
	}
	if !ok {
		r.mu.Lock()
		in.pending--
		in.failed = true
		r.mu.Unlock()
	}
}

// onPart queues a counter's writer part as it arrives: each is a delta of
// its own. A late part waits until every part before it is queued. A part
// naming more writers than this node's transactions take is split again.
func (r *Replicator) onPart(peer string, m *message) {
	sk, in := r.lockSession(peer, m.session)
	if in == nil {
		return
	}
	pa := in.parts[m.key]
	if pa == nil {
		pa = &partsArrived{queued: map[uint64]bool{}}
		in.parts[m.key] = pa
	}
	for _, h := range pa.held {
		if h.index == m.index {
			r.mu.Unlock()
			return // a duplicate
		}
	}
	if pa.queued[m.index] {
		r.mu.Unlock()
		return // a duplicate
	}
	var ready []*message
	if m.late {
		pa.held = append(pa.held, m)
	} else {
		pa.queued[m.index] = true
		ready = append(ready, m)
	}
	// Late parts go in index order, each once all parts before it are queued.
	sort.Slice(pa.held, func(i, j int) bool { return pa.held[i].index < pa.held[j].index })
	for len(pa.held) > 0 && uint64(len(pa.queued)) == pa.held[0].index && !pa.queued[pa.held[0].index] {
		pa.queued[pa.held[0].index] = true
		ready = append(ready, pa.held[0])
		pa.held = pa.held[1:]
	}
	in.partQ = append(in.partQ, ready...)
	if len(in.partQ) == 0 || in.draining {
		r.mu.Unlock()
		return
	}
	in.draining = true
	r.mu.Unlock()
	// Queued by one task of the peer's worker, which waits for room in the
	// committer's queue: a part is never dropped for a full queue, and the
	// parts go in the order they came.
	if !r.spawn(peer, taskPart, func() { r.drainParts(peer, sk, in) }) {
		r.mu.Lock()
		in.failed = true // the session cannot finish well: no floor
		in.got += uint64(len(in.partQ))
		in.partQ, in.draining = nil, false
		r.mu.Unlock()
		r.checkFinished(peer, sk)
	}
}

// drainParts queues the session's waiting parts until none is left.
func (r *Replicator) drainParts(peer, sk string, in *inSession) {
	late := r.foldReplicas()
	for {
		r.mu.Lock()
		ready := in.partQ
		in.partQ = nil
		if len(ready) == 0 {
			in.draining = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		for _, p := range ready {
			pieces := []*crdt.Object{p.slice}
			if n := r.st.PartWriters(p.key); len(p.slice.Replicas()) > n {
				if ps := p.slice.WriterParts(n, math.MaxInt, late); ps != nil {
					pieces = ps
				}
			}
			for _, piece := range pieces {
				r.queue(peer, sk, in, &store.Request{Kind: store.ReqPart, Key: p.key, Delta: piece}, true)
			}
		}
		r.mu.Lock()
		in.got += uint64(len(ready)) // once queued: the floor goes after them
		r.mu.Unlock()
		r.checkFinished(peer, sk)
	}
}

func (r *Replicator) onFinish(peer string, m *message) {
	sk := fmt.Sprintf("%s/%d", peer, m.session)
	r.mu.Lock()
	if in := r.ins[sk]; in != nil {
		in.finish = m
	}
	r.mu.Unlock()
	r.checkFinished(peer, sk)
}

// checkFinished adopts the sender's vector as floor once every range and
// part of the session has been queued and has committed. A session one of
// whose requests could not be queued or failed adopts none: the node still
// needs state, and the next offer sends what still differs. It runs on the
// committer too (a request's Done), so it must not block.
func (r *Replicator) checkFinished(peer, sk string) {
	r.mu.Lock()
	in := r.ins[sk]
	if in == nil || in.finish == nil || in.got != in.finish.count || in.pending > 0 {
		r.mu.Unlock()
		return
	}
	delete(r.ins, sk)
	failed := in.failed
	r.mu.Unlock()
	if failed {
		r.log.Warn("state transfer incomplete: the floor is not adopted", "peer", peer, "messages", in.got)
		return
	}
	r.log.Info("state transfer complete", "peer", peer, "messages", in.got)
	r.enqueue(&store.Request{Kind: store.ReqFloor, Floors: in.finish.vv})
}

// expireSessions forgets sessions that never finished.
func (r *Replicator) expireSessions() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Clock.Now()
	for k, in := range r.ins {
		if now.Sub(in.started) > SessionTimeout && in.pending == 0 { // what is queued will commit
			delete(r.ins, k)
		}
	}
}
