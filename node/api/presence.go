package api

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/btree"
	"github.com/lattice-sync/lattice/node/store"
)

// Presence is what Yjs calls awareness: each WebSocket connection may
// publish a small state (a name, a colour, a cursor) for a key, which every
// subscriber of that key on every node sees until the connection closes.
// It is ephemeral by design: kept in memory only, never in Badger, the
// digest, the delta log or any CRDT state, and it travels between nodes in
// messages of its own. A node resends its connections' states to its peers
// every presenceRefresh; a peer forgets a state PresenceTTL after it last
// heard of it, which is how states of a node that died or was cut off
// disappear.
//
// Subscribers hear of changes in the order the table made them: the table
// tells its listeners under its lock, and they only queue (ws_hub.go). A
// connection whose queue had no room for one is marked, and its writer
// resends it the whole set under its subscriptions (ws_conn.go); so does
// every connection, every presenceConfirm, so that a client can forget
// what nobody confirmed in time.

// Limits on presence, per connection.
const (
	MaxPresenceBytes = 1024 // one state, as JSON
	MaxPresenceKeys  = 16   // keys one connection has a state on at once
)

// Timing of presence. Between nodes: a node resends its connections'
// states every presenceRefresh, and forgets a peer's state PresenceTTL
// after it last heard of it. Towards clients: every presenceConfirm a node
// resends each connection the states under its subscriptions (presence_set),
// and each presence message says, as "ttl", how long a client may keep a
// state nobody confirmed: long enough for two confirmations to go missing.
var (
	presenceRefresh   = 5 * time.Second
	PresenceTTL       = 20 * time.Second
	presenceConfirm   = 15 * time.Second
	PresenceClientTTL = 45 * time.Second
)

// Presence is one connection's state on one key, as clients see it. A null
// State says the state is gone.
type Presence struct {
	Key     string          `json:"key"`
	Conn    string          `json:"conn"` // the node's name, "/", its boot nonce, ".", the connection's number: unique in the cluster
	Replica string          `json:"replica"`
	State   json.RawMessage `json:"state"`
}

func (p Presence) gone() bool { return len(p.State) == 0 || string(p.State) == "null" }

func (p Presence) goneCopy() Presence {
	return Presence{Key: p.Key, Conn: p.Conn, Replica: p.Replica, State: json.RawMessage("null")}
}

type presenceItem struct {
	p       Presence
	local   bool
	expires time.Time // for copies from peers
}

// presenceListener is told of presence changes.
type presenceListener interface {
	// presenceChanged gets every change, in the order the table made them:
	// it runs under the table's lock, so it must not block or call the
	// table.
	presenceChanged(Presence)
	// presenceConfirm asks it to resend its clients the states they hold;
	// called every presenceConfirm, without the lock.
	presenceConfirm()
}

// PresenceTable holds every presence state this node knows: its own
// connections' and copies of its peers'. Its indexes make each operation
// cost what the connection or the prefix it is about holds, not what the
// whole table holds; only the periodic tick walks everything.
type PresenceTable struct {
	name  string // the node's, in connection names
	clock store.Clock
	log   *slog.Logger
	// send sends a JSON list of states to every reachable peer, and
	// reports false if there was none (the node's replication).
	send func(list []byte) bool
	boot string // a nonce for this run of the node: connection numbers restart with it

	mu        sync.Mutex
	items     map[string]map[string]*presenceItem // key -> conn -> item
	byConn    map[string]map[string]struct{}      // conn -> the keys it has a state on
	keys      *btree.BTreeG[string]               // the keys of items, in order, for prefix walks
	listeners []presenceListener
	conns     uint64 // numbers local connections

	// AfterUnlock, in tests, runs after an operation released the lock.
	AfterUnlock atomic.Pointer[func(op string)]
}

func NewPresenceTable(name string, rand io.Reader, clock store.Clock, log *slog.Logger, send func(list []byte) bool) *PresenceTable {
	var nonce [4]byte
	_, _ = rand.Read(nonce[:]) // never fails
	return &PresenceTable{
		name:   name,
		clock:  clock,
		log:    log,
		send:   send,
		boot:   hex.EncodeToString(nonce[:]),
		items:  map[string]map[string]*presenceItem{},
		byConn: map[string]map[string]struct{}{},
		keys:   btree.NewOrderedG[string](16),
	}
}

func (t *PresenceTable) unlock(op string) {
	t.mu.Unlock()
	if fn := t.AfterUnlock.Load(); fn != nil {
		(*fn)(op)
	}
}

// listen registers l for every change of a state.
func (t *PresenceTable) listen(l presenceListener) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.listeners = append(t.listeners, l)
}

// newConn names a new local connection. The boot nonce keeps a name from
// meaning two connections when a restarted node counts from 1 again while
// its peers still hold copies of its earlier connections' states.
func (t *PresenceTable) newConn() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.conns++
	return fmt.Sprintf("%s/%s.%d", t.name, t.boot, t.conns)
}

// setLocked stores or deletes p, tells the listeners if anything changed,
// and reports whether it did.
func (t *PresenceTable) setLocked(p Presence, local bool, now time.Time) bool {
	byConn := t.items[p.Key]
	old := byConn[p.Conn]
	if p.gone() {
		if old == nil {
			return false
		}
		delete(byConn, p.Conn)
		if len(byConn) == 0 {
			delete(t.items, p.Key)
			t.keys.Delete(p.Key)
		}
		ks := t.byConn[p.Conn]
		delete(ks, p.Key)
		if len(ks) == 0 {
			delete(t.byConn, p.Conn)
		}
		t.tellLocked(p)
		return true
	}
	if byConn == nil {
		byConn = map[string]*presenceItem{}
		t.items[p.Key] = byConn
		t.keys.ReplaceOrInsert(p.Key)
	}
	byConn[p.Conn] = &presenceItem{p: p, local: local, expires: now.Add(PresenceTTL)}
	if old != nil && bytes.Equal(old.p.State, p.State) {
		return false
	}
	if old == nil {
		ks := t.byConn[p.Conn]
		if ks == nil {
			ks = map[string]struct{}{}
			t.byConn[p.Conn] = ks
		}
		ks[p.Key] = struct{}{}
	}
	t.tellLocked(p)
	return true
}

func (t *PresenceTable) tellLocked(p Presence) {
	for _, l := range t.listeners {
		l.presenceChanged(p)
	}
}

// Publish sets (or with a null state clears) a local connection's state,
// and tells the listeners and the peers.
func (t *PresenceTable) Publish(p Presence) {
	t.mu.Lock()
	changed := t.setLocked(p, true, t.clock.Now())
	t.unlock("publish")
	if changed {
		t.sendPeers([]Presence{p})
	}
}

// LocalCount is how many keys conn has a state on.
func (t *PresenceTable) LocalCount(conn string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byConn[conn])
}

// has reports whether conn has a state on key.
func (t *PresenceTable) has(conn, key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.items[key][conn]
	return ok
}

// dropConn clears every state of a closed local connection.
func (t *PresenceTable) dropConn(conn string) {
	t.mu.Lock()
	var gone []Presence
	for key := range t.byConn[conn] {
		gone = append(gone, t.items[key][conn].p.goneCopy())
	}
	now := t.clock.Now()
	for _, p := range gone {
		t.setLocked(p, true, now)
	}
	t.unlock("dropConn")
	if len(gone) > 0 {
		t.sendPeers(gone)
	}
}

// Matching returns the states a subscription to key (or prefix) covers.
func (t *PresenceTable) Matching(key string, isPrefix bool) []Presence {
	t.mu.Lock()
	out := t.matchingLocked(key, isPrefix, "")
	t.unlock("matching")
	return out
}

// locked runs fn under the table's lock: what fn reads with matchingLocked
// is then in order with every change the listeners are told of.
func (t *PresenceTable) locked(op string, fn func()) {
	t.mu.Lock()
	fn()
	t.unlock(op)
}

// matchingLocked returns the states under key (or prefix) of every
// connection but except, by key, then connection.
func (t *PresenceTable) matchingLocked(key string, isPrefix bool, except string) []Presence {
	var out []Presence
	add := func(k string) bool {
		byConn := t.items[k]
		for _, conn := range slices.Sorted(maps.Keys(byConn)) {
			if conn != except {
				out = append(out, byConn[conn].p)
			}
		}
		return true
	}
	if !isPrefix {
		add(key)
		return out
	}
	t.keys.AscendGreaterOrEqual(key, func(k string) bool {
		return strings.HasPrefix(k, key) && add(k)
	})
	return out
}

// Receive takes states a peer sent. A peer speaks only for its own
// connections, whose names start with its name.
func (t *PresenceTable) Receive(from string, ps []Presence) {
	now := t.clock.Now()
	t.mu.Lock()
	for _, p := range ps {
		if !strings.HasPrefix(p.Conn, from+"/") || store.CheckKey(p.Key) != nil || len(p.State) > MaxPresenceBytes {
			continue
		}
		t.setLocked(p, false, now)
	}
	t.unlock("receive")
}

// Tick forgets peers' states that were not refreshed in time, and returns
// this node's own states, for resending. It is the one walk over the whole
// table, once per presenceRefresh.
func (t *PresenceTable) Tick(now time.Time) (local []Presence) {
	var expired []Presence
	t.mu.Lock()
	for _, byConn := range t.items {
		for _, it := range byConn {
			switch {
			case it.local:
				local = append(local, it.p)
			case now.After(it.expires):
				expired = append(expired, it.p.goneCopy())
			}
		}
	}
	// In key and connection order, not the maps': what goes to peers and
	// subscribers then depends on the table alone, as a simulation needs.
	byKeyConn := func(a, b Presence) int { return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Conn, b.Conn)) }
	slices.SortFunc(local, byKeyConn)
	slices.SortFunc(expired, byKeyConn)
	for _, p := range expired {
		t.setLocked(p, false, now)
	}
	t.unlock("tick")
	return local
}

// Confirm asks the listeners to resend their clients what they hold.
func (t *PresenceTable) Confirm() {
	t.mu.Lock()
	ls := slices.Clone(t.listeners)
	t.mu.Unlock()
	for _, l := range ls {
		l.presenceConfirm()
	}
}

// Tickers makes the tickers Run takes, on the caller's goroutine, so that a
// simulated clock sees them made at a fixed point: the refresh of peers'
// copies, then the confirmation of clients'.
func (t *PresenceTable) Tickers() (refresh, confirm store.Ticker) {
	return t.clock.NewTicker(presenceRefresh), t.clock.NewTicker(presenceConfirm)
}

// Run refreshes peers' copies, expires stale ones and has clients'
// copies confirmed until the node closes.
// Its tickers are made by Open, on the caller's goroutine, so that a
// simulated clock sees them made in a fixed order.
func (t *PresenceTable) Run(tk, ck store.Ticker, quit <-chan struct{}) {
	defer tk.Stop()
	defer ck.Stop()
	for {
		select {
		case <-quit:
			return
		case now := <-tk.C():
			if local := t.Tick(now); len(local) > 0 {
				t.sendPeers(local)
			}
			tk.Done()
		case <-ck.C():
			t.Confirm()
			ck.Done()
		}
	}
}

// presenceChunk bounds the states of one peer message: the body of a peer
// message stays under replica.MaxChunk, the same 900 KiB.
const presenceChunk = 900 << 10

// sendPeers sends states to every reachable peer, in messages under the
// transport's size limit.
func (t *PresenceTable) sendPeers(ps []Presence) {
	for len(ps) > 0 {
		var chunk []Presence
		size := 0
		for len(ps) > 0 && (len(chunk) == 0 || size+len(ps[0].State)+len(ps[0].Key)+128 < presenceChunk) {
			size += len(ps[0].State) + len(ps[0].Key) + 128
			chunk = append(chunk, ps[0])
			ps = ps[1:]
		}
		body, err := json.Marshal(chunk)
		if err != nil {
			t.log.Error("encoding presence", "err", err)
			return
		}
		if !t.send(body) {
			return // no peer reachable
		}
	}
}

// presenceOf reads a client's presence message body: {"key", "state"}.
func presenceOf(data []byte) (key string, state json.RawMessage, err error) {
	var m struct {
		T     string          `json:"t"`
		ID    json.RawMessage `json:"id"`
		Key   *string         `json:"key"`
		State json.RawMessage `json:"state"`
	}
	if err := decodeExact(data, &m); err != nil {
		return "", nil, fmt.Errorf("presence: %w", err)
	}
	if m.Key == nil || m.State == nil {
		return "", nil, fmt.Errorf(`presence needs a "key" and a "state" (an object, or null to clear it)`)
	}
	if s := bytes.TrimSpace(m.State); len(s) == 0 || (s[0] != '{' && string(s) != "null") {
		return "", nil, fmt.Errorf(`presence "state" must be a JSON object or null`)
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, m.State) // valid: Unmarshal checked it
	return *m.Key, compact.Bytes(), nil
}
