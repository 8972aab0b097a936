package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Presence is what Yjs calls awareness: each WebSocket connection may
// publish a small state (a name, a colour, a cursor) for a key, which every
// subscriber of that key on every node sees until the connection closes.
// It is ephemeral by design: kept in memory only, never in Badger, the
// digest, the delta log or any CRDT state, and it travels between nodes in
// messages of its own. A node resends its connections' states to its peers
// every presenceRefresh; a peer forgets a state presenceTTL after it last
// heard of it, which is how states of a node that died or was cut off
// disappear.

// Limits on presence, per connection.
const (
	MaxPresenceBytes = 1024 // one state, as JSON
	MaxPresenceKeys  = 16   // keys one connection has a state on at once
)

// Timing of presence between nodes.
var (
	presenceRefresh = 5 * time.Second
	presenceTTL     = 20 * time.Second
)

// Presence is one connection's state on one key, as clients see it. A null
// State says the state is gone.
type Presence struct {
	Key     string          `json:"key"`
	Conn    string          `json:"conn"` // the node's name, "/", the connection's number: unique in the cluster
	Replica string          `json:"replica"`
	State   json.RawMessage `json:"state"`
}

func (p Presence) gone() bool { return len(p.State) == 0 || string(p.State) == "null" }

type presenceItem struct {
	p       Presence
	local   bool
	expires time.Time // for copies from peers
}

// presenceTable holds every presence state this node knows: its own
// connections' and copies of its peers'.
type presenceTable struct {
	n *Node

	mu        sync.Mutex
	items     map[string]map[string]*presenceItem // key -> conn -> item
	listeners []func(Presence)
	conns     uint64 // numbers local connections
}

func newPresenceTable(n *Node) *presenceTable {
	return &presenceTable{n: n, items: map[string]map[string]*presenceItem{}}
}

// listen registers fn for every change of a state; fn must not block.
func (t *presenceTable) listen(fn func(Presence)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.listeners = append(t.listeners, fn)
}

// newConn names a new local connection.
func (t *presenceTable) newConn() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.conns++
	return fmt.Sprintf("%s/%d", t.n.Name(), t.conns)
}

// setLocked stores or deletes p and reports whether anything changed.
func (t *presenceTable) setLocked(p Presence, local bool, now time.Time) bool {
	byConn := t.items[p.Key]
	old := byConn[p.Conn]
	if p.gone() {
		if old == nil {
			return false
		}
		delete(byConn, p.Conn)
		if len(byConn) == 0 {
			delete(t.items, p.Key)
		}
		return true
	}
	if byConn == nil {
		byConn = map[string]*presenceItem{}
		t.items[p.Key] = byConn
	}
	byConn[p.Conn] = &presenceItem{p: p, local: local, expires: now.Add(presenceTTL)}
	return old == nil || !bytes.Equal(old.p.State, p.State)
}

// notify tells the listeners; called without the lock.
func (t *presenceTable) notify(ps []Presence) {
	t.mu.Lock()
	ls := t.listeners
	t.mu.Unlock()
	for _, p := range ps {
		for _, fn := range ls {
			fn(p)
		}
	}
}

// publish sets (or with a null state clears) a local connection's state,
// and tells the listeners and the peers.
func (t *presenceTable) publish(p Presence) {
	t.mu.Lock()
	changed := t.setLocked(p, true, time.Now())
	t.mu.Unlock()
	if changed {
		t.notify([]Presence{p})
		t.sendPeers([]Presence{p})
	}
}

// localCount is how many keys conn has a state on.
func (t *presenceTable) localCount(conn string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, byConn := range t.items {
		if _, ok := byConn[conn]; ok {
			n++
		}
	}
	return n
}

// has reports whether conn has a state on key.
func (t *presenceTable) has(conn, key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.items[key][conn]
	return ok
}

// dropConn clears every state of a closed local connection.
func (t *presenceTable) dropConn(conn string) {
	t.mu.Lock()
	var gone []Presence
	for key, byConn := range t.items {
		if it, ok := byConn[conn]; ok {
			gone = append(gone, Presence{Key: key, Conn: conn, Replica: it.p.Replica, State: json.RawMessage("null")})
		}
	}
	now := time.Now()
	for _, p := range gone {
		t.setLocked(p, true, now)
	}
	t.mu.Unlock()
	if len(gone) > 0 {
		t.notify(gone)
		t.sendPeers(gone)
	}
}

// matching returns the states a new subscription to key (or prefix) must
// be told of.
func (t *presenceTable) matching(key string, isPrefix bool) []Presence {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Presence
	for k, byConn := range t.items {
		if k == key || (isPrefix && strings.HasPrefix(k, key)) {
			for _, it := range byConn {
				out = append(out, it.p)
			}
		}
	}
	return out
}

// receive takes states a peer sent. A peer speaks only for its own
// connections, whose names start with its name.
func (t *presenceTable) receive(from string, ps []Presence) {
	now := time.Now()
	var changed []Presence
	t.mu.Lock()
	for _, p := range ps {
		if !strings.HasPrefix(p.Conn, from+"/") || checkKey(p.Key) != nil || len(p.State) > MaxPresenceBytes {
			continue
		}
		if t.setLocked(p, false, now) {
			changed = append(changed, p)
		}
	}
	t.mu.Unlock()
	t.notify(changed)
}

// tick forgets peers' states that were not refreshed in time, and returns
// this node's own states, for resending.
func (t *presenceTable) tick(now time.Time) (local []Presence) {
	var expired []Presence
	t.mu.Lock()
	for key, byConn := range t.items {
		for conn, it := range byConn {
			switch {
			case it.local:
				local = append(local, it.p)
			case now.After(it.expires):
				expired = append(expired, Presence{Key: key, Conn: conn, Replica: it.p.Replica, State: json.RawMessage("null")})
			}
		}
	}
	for _, p := range expired {
		t.setLocked(p, false, now)
	}
	t.mu.Unlock()
	t.notify(expired)
	return local
}

// run refreshes peers' copies and expires stale ones until the node
// closes.
func (t *presenceTable) run() {
	defer t.n.wg.Done()
	tk := time.NewTicker(presenceRefresh)
	defer tk.Stop()
	for {
		select {
		case <-t.n.quit:
			return
		case now := <-tk.C:
			if local := t.tick(now); len(local) > 0 {
				t.sendPeers(local)
			}
		}
	}
}

// sendPeers sends states to every reachable peer, in messages under the
// transport's size limit.
func (t *presenceTable) sendPeers(ps []Presence) {
	r := t.n.repl.Load()
	if r == nil {
		return
	}
	peers := r.reachable()
	if len(peers) == 0 {
		return
	}
	for len(ps) > 0 {
		var chunk []Presence
		size := 0
		for len(ps) > 0 && (len(chunk) == 0 || size+len(ps[0].State)+len(ps[0].Key)+128 < maxChunk) {
			size += len(ps[0].State) + len(ps[0].Key) + 128
			chunk = append(chunk, ps[0])
			ps = ps[1:]
		}
		body, err := json.Marshal(chunk)
		if err != nil {
			t.n.log.Error("encoding presence", "err", err)
			return
		}
		msg := append(appendHead(msgPresence, t.n.id), body...)
		for _, to := range peers {
			r.send(to, "presence", msg)
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
