package replica

import (
	"crypto/sha256"
	"fmt"
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
//     that fit one message (msgRange), joined with crdt.JoinRange;
//  4. a last message (msgFinish) carries the sender's node version vector
//     as of the offer, which the receiver adopts as its log floor once
//     every range has arrived and committed.
//
// A lost message leaves the session unfinished. The sender forgets a session
// once it has sent the ranges and the finish, so if one of those was lost
// the peer's next anti-entropy request brings a new offer. An offer, or the
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
	wants    []string
}

type inSession struct {
	started time.Time
	digests []keyDigest
	ranges  map[string][]*message // per key, until all its ranges are here
	done    map[string]bool       // keys whose ranges all arrived
	got     uint64                // ranges handed to the committer
	finish  *message
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
		if age < SessionTimeout && (old.answered || age < old.wait) {
			r.mu.Unlock()
			return
		}
		if !old.answered {
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
		in = &inSession{started: r.cfg.Clock.Now(), ranges: map[string][]*message{}, done: map[string]bool{}}
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
	for _, k := range wants {
		if seen[k] { // asked twice: a duplicated offer or wants message
			continue
		}
		seen[k] = true
		o, err := r.st.Get(k)
		if err != nil {
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
		delete(r.outs, peer)
	}
	r.mu.Unlock()
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

// onRange buffers an object's ranges until all are here, then hands them
// to the committer in order: the last range joins the whole context, so it
// must come last.
func (r *Replicator) onRange(peer string, m *message) {
	sk := fmt.Sprintf("%s/%d", peer, m.session)
	r.mu.Lock()
	in := r.ins[sk]
	if in == nil {
		r.mu.Unlock()
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
	in.got += uint64(len(rs))
	r.mu.Unlock()
	sort.Slice(rs, func(i, j int) bool { return rs[i].index < rs[j].index })
	ranges := make([]store.Range, len(rs))
	for i, m := range rs {
		ranges[i] = store.Range{Lo: m.lo, Hi: m.hi, Slice: m.slice}
	}
	r.enqueue(&store.Request{Kind: store.ReqRange, Key: m.key, Ranges: ranges})
	r.checkFinished(peer, sk)
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

// checkFinished adopts the sender's vector as floor once every range of
// the session has been queued; the floor write queues behind them.
func (r *Replicator) checkFinished(peer, sk string) {
	r.mu.Lock()
	in := r.ins[sk]
	if in == nil || in.finish == nil || in.got != in.finish.count {
		r.mu.Unlock()
		return
	}
	delete(r.ins, sk)
	r.mu.Unlock()
	r.log.Info("state transfer complete", "peer", peer, "ranges", in.got)
	r.enqueue(&store.Request{Kind: store.ReqFloor, Floors: in.finish.vv})
}

// expireSessions forgets sessions that never finished.
func (r *Replicator) expireSessions() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Clock.Now()
	for k, in := range r.ins {
		if now.Sub(in.started) > SessionTimeout {
			delete(r.ins, k)
		}
	}
}
