package replica

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node/store"
	"github.com/lattice-sync/lattice/transport"
)

// Net is what the node needs of a transport.
type Net interface {
	LocalName() string
	Start(r transport.Receiver) error
	Send(to string, payload []byte) error
	Peers() []transport.Peer
}

// Replicator pushes this node's new log entries to live peers as soon as
// they commit, answers anti-entropy requests with the log ranges a peer
// lacks, and asks its peers on a timer and whenever one joins or becomes
// reachable again.
type Replicator struct {
	cfg     Config
	st      *store.Store
	log     *slog.Logger
	metrics *Metrics
	net     Net
	quit    chan struct{}
	wg      sync.WaitGroup
	work    *peerWork // runs what peers' messages ask for

	mu      sync.Mutex
	stopped bool
	peers   map[string]*peerInfo
	outs    map[string]*outSession // state transfers we are sending, by peer
	ins     map[string]*inSession  // state transfers we are receiving, by peer/session
	// states holds, per peer, the last whole-state message queued for the
	// committer (full-state mode). A peer's newer state is not queued while
	// its last one waits: the next round brings a fresher one anyway, and
	// queueing them all lets a slow committer fall seconds behind.
	states map[string]*store.Request
}

// peerInfo is what this node last heard from a peer, and what it recently
// sent it.
type peerInfo struct {
	id   crdt.ReplicaID
	vv   crdt.VersionVector
	seen time.Time

	// origins is the canonical origin list of the last full vector the
	// peer sent us, and ohash its hash: a short vector (msgSyncVV) from the
	// peer is read against them.
	origins []crdt.ReplicaID
	ohash   uint64

	// sentHash is the origins hash of the last full vector we sent the
	// peer (valid if sentFull); shortLeft counts the short vectors we may
	// still send before the next full one.
	sentHash  uint64
	sentFull  bool
	shortLeft int

	// marks are, per origin, the entries sent to the peer (pushed or in
	// an answer) or received from it, and when, for recentWindow.
	marks map[crdt.ReplicaID][]sentRange
}

// sentRange is a run of one origin's entries [lo, hi] that a peer was sent
// (or sent us) at a time.
type sentRange struct {
	lo, hi uint64
	at     time.Time
}

// fullEvery bounds how many short vectors go to a peer between full ones.
const fullEvery = 16

// recentWindow is how long an entry sent to a peer (or received from it)
// is left out of anti-entropy answers to that peer: it is probably in
// flight or applied. After that it is sent again, so a lost message is
// repaired within a few rounds.
func (r *Replicator) recentWindow() time.Duration {
	return 2 * r.cfg.AntiEntropyInterval
}

// peerLocked returns the record of peer name, creating it. r.mu is held.
func (r *Replicator) peerLocked(name string) *peerInfo {
	p := r.peers[name]
	if p == nil {
		p = &peerInfo{}
		r.peers[name] = p
	}
	return p
}

// mark records that peer holds, or was just sent, the entries es of
// origin o.
func (r *Replicator) mark(peer string, o crdt.ReplicaID, es []store.LogEntry) {
	if len(es) == 0 {
		return
	}
	now := r.cfg.Clock.Now()
	win := r.recentWindow()
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.peerLocked(peer)
	if p.marks == nil {
		p.marks = map[crdt.ReplicaID][]sentRange{}
	}
	rs := p.marks[o]
	// Forget expired runs.
	k := 0
	for _, x := range rs {
		if now.Sub(x.at) < win {
			rs[k] = x
			k++
		}
	}
	rs = rs[:k]
	for _, e := range es {
		// Extend the last run if contiguous and young, without renewing
		// its time: an entry is never left out longer than the window.
		if n := len(rs); n > 0 && rs[n-1].hi+1 == e.Seq && now.Sub(rs[n-1].at) < win/4 {
			rs[n-1].hi = e.Seq
			continue
		}
		rs = append(rs, sentRange{lo: e.Seq, hi: e.Seq, at: now})
	}
	if len(rs) == 0 {
		delete(p.marks, o)
	} else {
		p.marks[o] = rs
	}
}

// recentMarks copies peer's unexpired marks.
func (r *Replicator) recentMarks(peer string) map[crdt.ReplicaID][]sentRange {
	now := r.cfg.Clock.Now()
	win := r.recentWindow()
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.peers[peer]
	if p == nil {
		return nil
	}
	out := map[crdt.ReplicaID][]sentRange{}
	for o, rs := range p.marks {
		for _, x := range rs {
			if now.Sub(x.at) < win {
				out[o] = append(out[o], x)
			}
		}
	}
	return out
}

func inRuns(rs []sentRange, seq uint64) bool {
	for _, x := range rs {
		if x.lo <= seq && seq <= x.hi {
			return true
		}
	}
	return false
}

// New makes replication for st over t; start starts it.
func New(cfg Config, st *store.Store, t Net) *Replicator {
	return &Replicator{cfg: cfg, st: st, log: cfg.Logger, metrics: cfg.Metrics, net: t, quit: make(chan struct{}),
		peers: map[string]*peerInfo{}, outs: map[string]*outSession{}, ins: map[string]*inSession{}, states: map[string]*store.Request{}}
}

// Start starts the peer workers, the transport and anti-entropy.
func (r *Replicator) Start() error {
	r.work = newPeerWork(r.log, r.cfg.Busy, r.metrics.peerTasksDropped)
	if err := r.net.Start(r); err != nil {
		r.work.stop()
		return fmt.Errorf("starting transport: %w", err)
	}
	r.wg.Add(1)
	// The ticker is made here, not in the goroutine, so that a simulated
	// clock sees it made at a fixed point.
	go r.antiEntropyLoop(r.cfg.Clock.NewTicker(r.cfg.AntiEntropyInterval))
	if r.cfg.FoldAfter > 0 {
		r.wg.Add(1)
		go r.foldLoop(r.cfg.Clock.NewTicker(foldRound(r.cfg)))
	}
	return nil
}

// Stop ends replication: no message is handled after it returns, and the
// work messages started (answers, state transfers) has finished, so the
// node may close Badger under it.
func (r *Replicator) Stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	close(r.quit)
	r.work.stop()
	r.wg.Wait()
}

// spawn queues fn as peer's task of that kind (peerWork), unless
// replication has stopped.
func (r *Replicator) spawn(peer string, kind peerTaskKind, fn func()) {
	r.mu.Lock()
	stopped := r.stopped
	r.mu.Unlock()
	if !stopped {
		r.work.add(peer, kind, fn)
	}
}

// answerKind keeps an answer that must end with our full vector apart from
// the answers that replace each other.
func answerKind(m *message) peerTaskKind {
	if m.flags&flagFull != 0 {
		return taskAnswerFull
	}
	return taskAnswer
}

// Receive implements transport.Receiver. It must not block: log entries go
// to the committer's queue without waiting for the commit, and a full queue
// drops them, which anti-entropy repairs.
func (r *Replicator) Receive(from string, payload []byte) {
	r.mu.Lock()
	stopped := r.stopped
	r.mu.Unlock()
	if stopped {
		return
	}
	m, err := decodeMessage(payload)
	if err != nil {
		r.log.Warn("bad peer message", "from", from, "err", err)
		return
	}
	r.metrics.bytesReceived.WithLabelValues(string(m.kind)).Add(float64(len(payload)))
	r.notePeer(from, m.sender)
	switch m.kind {
	case msgEntries:
		if m.origin == r.st.ID() {
			return // our own entries, back from a peer: never needed
		}
		r.metrics.deltasReceived.Add(float64(len(m.entries)))
		r.mark(from, m.origin, m.entries) // the peer holds them: do not send them back
		r.enqueue(&store.Request{Kind: store.ReqRemote, Origin: m.origin, Remote: m.entries})
	case msgStates:
		r.enqueueState(from, &store.Request{Kind: store.ReqState, States: m.states})
	case msgPresence:
		if r.cfg.OnPresence != nil {
			r.cfg.OnPresence(from, m.presence)
		}
	case msgSyncReq:
		os := m.vv.Replicas()
		h := originsHash(os)
		r.mu.Lock()
		p := r.peerLocked(from)
		p.vv, p.origins, p.ohash = m.vv, os, h
		r.mu.Unlock()
		r.spawn(from, answerKind(m), func() { r.answer(from, m) })
	case msgSyncVV:
		var vv crdt.VersionVector
		r.mu.Lock()
		if p := r.peers[from]; p != nil && p.origins != nil && p.ohash == m.ohash && len(p.origins) == len(m.seqs) {
			vv = make(crdt.VersionVector, len(m.seqs))
			for i, o := range p.origins {
				if m.seqs[i] > 0 {
					vv[o] = m.seqs[i]
				}
			}
			p.vv = vv
		}
		r.mu.Unlock()
		if vv == nil && !r.cfg.FullState { // full-state answers do not read the vector
			// We do not know the origins the peer means: ask for its
			// full vector, sending ours (it answers what we lack too).
			r.spawn(from, taskAskFull, func() { r.requestSync(from, flagFull, true) })
			return
		}
		m.vv = vv
		r.spawn(from, answerKind(m), func() { r.answer(from, m) })
	case msgDigests:
		r.spawn(from, taskDigests, func() { r.onDigests(from, m) })
	case msgWants:
		r.spawn(from, taskWants, func() { r.onWants(from, m) })
	case msgRange:
		r.onRange(from, m)
	case msgFinish:
		r.onFinish(from, m)
	}
}

func (r *Replicator) enqueue(w *store.Request) bool {
	if !r.st.TryEnqueue(w) {
		r.log.Warn("write queue full; leaving peer data to anti-entropy")
		return false
	}
	return true
}

// enqueueState queues a peer's whole states unless its previous ones are
// still waiting for the committer (their done channel is still empty).
func (r *Replicator) enqueueState(from string, w *store.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev := r.states[from]; prev != nil && prev.Queued() {
		return
	}
	if r.enqueue(w) {
		r.states[from] = w
	}
}

func (r *Replicator) notePeer(name string, id crdt.ReplicaID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.peerLocked(name)
	p.id, p.seen = id, r.cfg.Clock.Now()
}

// PeerEvent implements transport.Receiver: a peer that joins or comes back
// gets an anti-entropy request at once, with the full vector, and what we
// recently sent it no longer counts (it may have been lost on the way).
func (r *Replicator) PeerEvent(ev transport.Event) {
	if ev.Kind == transport.EventJoin || ev.Kind == transport.EventReachable {
		r.mu.Lock()
		if p := r.peers[ev.Peer]; p != nil {
			p.marks, p.sentFull = nil, false
		}
		r.mu.Unlock()
		r.spawn(ev.Peer, taskAsk, func() { r.requestSync(ev.Peer, 0, true) })
	}
}

func (r *Replicator) send(to string, kind string, b []byte) bool {
	if err := r.net.Send(to, b); err != nil {
		r.log.Debug("send failed", "to", to, "err", err)
		return false
	}
	r.metrics.bytesSent.WithLabelValues(kind).Add(float64(len(b)))
	return true
}

// SendPresence sends presence states (a JSON list, under MaxChunk) to
// every reachable peer, and reports false if there was none.
func (r *Replicator) SendPresence(list []byte) bool {
	peers := r.reachable()
	if len(peers) == 0 {
		return false
	}
	msg := append(appendHead(msgPresence, r.st.ID()), list...)
	for _, to := range peers {
		r.send(to, "presence", msg)
	}
	return true
}

func (r *Replicator) reachable() []string {
	var names []string
	for _, p := range r.net.Peers() {
		if p.Reachable {
			names = append(names, p.Name)
		}
	}
	r.metrics.members.Set(float64(len(r.net.Peers())))
	return names
}

// AfterCommit pushes what a commit made here to every reachable peer.
// Entries that came from peers are not pushed on: their origin pushed them,
// and anti-entropy carries them to whoever missed that push.
func (r *Replicator) AfterCommit(st *store.Stage) {
	if len(st.Pushes) == 0 {
		return // nothing made here: in full-state mode too, pushing on what peers sent would echo forever
	}
	if r.cfg.FullState {
		r.pushStates(st.Changes)
		return
	}
	peers := r.reachable()
	for _, chunk := range chunkEntries(st.Pushes) {
		msg := encodeEntries(r.st.ID(), r.st.ID(), chunk)
		for _, p := range peers {
			if r.send(p, "push", msg) {
				r.mark(p, r.st.ID(), chunk)
			}
			r.metrics.deltasSent.Add(float64(len(chunk)))
		}
	}
}

func chunkEntries(es []store.LogEntry) [][]store.LogEntry {
	var out [][]store.LogEntry
	size := 0
	start := 0
	for i, e := range es {
		if size+len(e.Raw)+20 > MaxChunk && i > start {
			out = append(out, es[start:i])
			start, size = i, 0
		}
		size += len(e.Raw) + 20
	}
	if start < len(es) {
		out = append(out, es[start:])
	}
	return out
}

func (r *Replicator) antiEntropyLoop(t store.Ticker) {
	defer r.wg.Done()
	defer t.Stop()
	for {
		select {
		case <-r.quit:
			return
		case <-t.C():
			for _, p := range r.syncTargets() {
				r.requestSync(p, 0, false)
			}
			r.updateLag()
			r.expireSessions()
			if err := r.st.TruncateLogs(); err != nil {
				r.log.Warn("log truncation", "err", err)
			}
			t.Done()
		}
	}
}

// syncTargets picks the peers asked this round: SyncFanout reachable peers
// at random, or all of them when SyncFanout is 0.
func (r *Replicator) syncTargets() []string {
	peers := r.reachable()
	r.cfg.Rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	if k := r.cfg.SyncFanout; k > 0 && k < len(peers) {
		peers = peers[:k]
	}
	return peers
}

// requestSync sends our version vector; the peer answers with what we lack.
// The vector goes short (msgSyncVV: one seq per origin, the origins named
// by a hash of their list) when the last full vector we sent the peer had
// the same origins, except every fullEvery rounds and when full is set.
func (r *Replicator) requestSync(peer string, flags byte, full bool) {
	r.metrics.aeRounds.Inc()
	vv := r.st.VersionVector()
	os := vv.Replicas()
	h := originsHash(os)
	r.mu.Lock()
	p := r.peerLocked(peer)
	short := !full && flags&flagFull == 0 && p.sentFull && p.sentHash == h && p.shortLeft > 0
	if short {
		p.shortLeft--
	} else {
		p.sentFull, p.sentHash, p.shortLeft = true, h, fullEvery
	}
	r.mu.Unlock()
	if !short {
		r.send(peer, "sync", encodeSyncReq(r.st.ID(), flags, vv))
		return
	}
	seqs := make([]uint64, len(os))
	for i, o := range os {
		seqs[i] = vv[o]
	}
	r.send(peer, "sync", encodeSyncVV(r.st.ID(), flags, h, seqs))
}

// answer sends a peer the log entries its vector says it lacks, up to
// MaxSyncBytes; the next round resumes from the peer's new vector. If the
// peer has entries we lack, we ask for them in turn (once: a reply is not
// answered back).
func (r *Replicator) answer(from string, m *message) {
	if m.flags&flagFull != 0 {
		// The peer could not read our short vector: send the full one.
		defer r.requestSync(from, flagReply, true)
	}
	if r.cfg.FullState {
		r.answerStates(from)
		return
	}
	if r.st.NeedsState(m.vv) {
		r.spawn(from, taskOffer, func() { r.offerState(from) })
	}
	held := r.st.Held()
	ours := held.VV
	recent := r.recentMarks(from)
	budget := r.cfg.MaxSyncBytes
	err := r.st.ViewLogs(func(logs store.LogReader) error {
		for _, o := range held.Origins {
			if budget <= 0 {
				break
			}
			from0 := max(m.vv[o], r.st.Floor(o)) + 1
			if from0 > held.MaxHeld[o] {
				continue
			}
			var es []store.LogEntry
			rs := recent[o]
			used, err := logs.Read(o, from0, held.MaxHeld[o], budget, func(seq uint64, raw []byte) {
				if !inRuns(rs, seq) { // sent to (or by) the peer lately: in flight or held
					es = append(es, store.LogEntry{Seq: seq, Raw: raw})
				}
			})
			if err != nil {
				return err
			}
			budget -= used
			for _, chunk := range chunkEntries(es) {
				if r.send(from, "sync-entries", encodeEntries(r.st.ID(), o, chunk)) {
					r.mark(from, o, chunk)
				}
				r.metrics.deltasSent.Add(float64(len(chunk)))
			}
		}
		return nil
	})
	if err != nil {
		r.log.Warn("answering anti-entropy", "peer", from, "err", err)
	}
	if m.flags&(flagReply|flagFull) == 0 {
		for o, s := range m.vv {
			if s > ours[o] {
				r.requestSync(from, flagReply, false)
				break
			}
		}
	}
}

// updateLag refreshes per-peer lag: entries we hold that the peer lacked
// at its last report.
func (r *Replicator) updateLag() {
	ours := r.st.VersionVector()
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, p := range r.peers {
		r.metrics.peerLag.WithLabelValues(name).Set(float64(lag(ours, p.vv)))
	}
}

func lag(ours, theirs crdt.VersionVector) uint64 {
	var l uint64
	for o, s := range ours {
		if t := theirs[o]; s > t {
			l += s - t
		}
	}
	return l
}
