package api

import (
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/frames"
	"github.com/lattice-sync/lattice/node/store"
)

// wsSub is one subscription of one connection: a key, or a prefix.
type wsSub struct {
	c        *wsConn
	id       uint64
	key      string // the key, or the prefix when isPrefix
	isPrefix bool
	fresh    bool      // the client's cursor does not vouch for it: never catch up
	empty    bool      // the client holds nothing under it (implies fresh)
	forgot   bool      // a snapshot without folded writers' context went out; writer only
	from     *snapFrom // where a resumed snapshot continues; nil: the start
	answered bool      // its first snapshot or catch-up went out; writer only
}

func (s *wsSub) matches(key string) bool {
	if s.isPrefix {
		return strings.HasPrefix(key, s.key)
	}
	return key == s.key
}

// wsHub routes committed changes to the connections subscribed to them.
// Its observer runs on the committer: it does map lookups under a lock that
// is only ever held for map operations, and non-blocking channel sends.
type wsHub struct {
	n *Backend

	mu       sync.RWMutex
	keys     map[string]map[*wsSub]struct{}
	prefixes map[string]map[*wsSub]struct{}
	lens     map[int]int // prefix length -> prefixes of that length subscribed

	// gen stamps one observer call, so a connection with several matching
	// subscriptions gets the change once. Committer goroutine only.
	gen uint64
	// cur is the node vector at the last observer call; safe the one
	// before it that differs. Every change of every commit that safe
	// covers has been handed to the connections (the committer calls
	// observers in commit order, a whole commit's changes in a row), which
	// is what lets a cursor claim it. cur itself may not be: a commit's
	// later changes are still to come when its first is observed.
	cur  crdt.VersionVector // committer goroutine only
	safe atomic.Pointer[wsCursor]
}

// wsCursor is a resume cursor with its JSON, encoded once for everyone.
type wsCursor struct {
	vv   crdt.VersionVector
	once sync.Once
	json []byte
}

func newWSCursor(vv crdt.VersionVector) *wsCursor { return &wsCursor{vv: vv} }

func (c *wsCursor) JSON() []byte {
	c.once.Do(func() { c.json, _ = json.Marshal(store.VVJSON(c.vv)) }) // a map of strings to numbers always encodes
	return c.json
}

func newWSHub(n *Backend) *wsHub {
	h := &wsHub{
		n:        n,
		keys:     map[string]map[*wsSub]struct{}{},
		prefixes: map[string]map[*wsSub]struct{}{},
		lens:     map[int]int{},
		cur:      n.Store.VersionVector(),
	}
	h.safe.Store(newWSCursor(h.cur))
	return h
}

// index is the map s belongs in; callers hold mu.
func (h *wsHub) index(s *wsSub) map[string]map[*wsSub]struct{} {
	if s.isPrefix {
		return h.prefixes
	}
	return h.keys
}

func (h *wsHub) add(s *wsSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.index(s)
	set := m[s.key]
	if set == nil {
		set = map[*wsSub]struct{}{}
		m[s.key] = set
		if s.isPrefix {
			h.lens[len(s.key)]++
		}
	}
	set[s] = struct{}{}
}

func (h *wsHub) remove(s *wsSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.index(s)
	set := m[s.key]
	if set == nil {
		return
	}
	delete(set, s)
	if len(set) == 0 {
		delete(m, s.key)
		if s.isPrefix {
			if h.lens[len(s.key)]--; h.lens[len(s.key)] == 0 {
				delete(h.lens, len(s.key))
			}
		}
	}
}

// liveChange is one committed change on its way to every subscriber. Its
// frames are encoded once, by whichever writer needs them first.
type liveChange struct {
	key    string
	delta  *crdt.Object
	cursor *wsCursor

	// client is delta as clients get it (forClients).
	clientOnce sync.Once
	client     *crdt.Object
	clientErr  error
	textOnce   sync.Once
	text       []byte
	textErr    error
	binOnce    sync.Once
	bin        []byte
	binErr     error
	itemOnce   sync.Once
	item       frames.Item
	itemErr    error
}

// presenceChanged hands a presence change to every connection subscribed
// to its key, except the one it is of. It runs under the presence table's
// lock and never waits: a connection whose queue is full misses it and is
// marked, and its writer resends the whole set instead.
func (h *wsHub) presenceChanged(p Presence) {
	var frame []byte
	seen := map[*wsConn]bool{}
	offer := func(set map[*wsSub]struct{}) {
		for s := range set {
			if seen[s.c] || s.c.connID == p.Conn {
				continue
			}
			seen[s.c] = true
			if frame == nil {
				frame = presenceFrame(p)
			}
			s.c.offerPresence(frame)
		}
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	offer(h.keys[p.Key])
	for l := range h.lens {
		if l <= len(p.Key) {
			offer(h.prefixes[p.Key[:l]])
		}
	}
}

// presenceConfirm marks every subscribed connection for a resend of the
// presence under its subscriptions, which confirms to its client each state
// it still holds. Its writer skips it when there is nothing to say.
func (h *wsHub) presenceConfirm() {
	seen := map[*wsConn]bool{}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, m := range []map[string]map[*wsSub]struct{}{h.keys, h.prefixes} {
		for _, set := range m {
			for s := range set {
				if !seen[s.c] {
					seen[s.c] = true
					s.c.markPresence()
				}
			}
		}
	}
}

// observe is the node Observer: it runs on the committer, after the change
// is durable, and must not block.
// The change's delta is decoded (a peer's) only if a connection gets it.
func (h *wsHub) observe(c store.Change) {
	key := c.Key
	vv := h.n.Store.VersionVector()
	if vv.Compare(h.cur) != crdt.Equal {
		h.safe.Store(newWSCursor(h.cur))
		h.cur = vv
	}
	h.gen++
	var lc *liveChange
	offer := func(set map[*wsSub]struct{}) {
		for s := range set {
			if s.c.gen == h.gen {
				continue
			}
			s.c.gen = h.gen
			if lc == nil {
				delta, err := c.Delta()
				if err != nil { // a bug: the committer joined it
					h.n.Logger.Error("live delta not sent", "key", key, "err", err)
					return
				}
				lc = &liveChange{key: key, delta: delta, cursor: h.safe.Load()}
			}
			s.c.offer(lc)
		}
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	offer(h.keys[key])
	for l := range h.lens {
		if l <= len(key) {
			offer(h.prefixes[key[:l]])
		}
	}
}
