package lattice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/lattice-sync/lattice/crdt"
)

// Errors of the client; errors.Is works on what its methods return.
var (
	ErrClosed      = errors.New("lattice: client closed")
	ErrOffline     = errors.New("lattice: client is offline")
	ErrTimeout     = errors.New("lattice: not synced in time")
	ErrUnreachable = errors.New("lattice: no node reachable")
	// ErrUnauthorized is a node refusing the token (missing, invalid,
	// expired, or for another replica): SetToken, then Reconnect.
	ErrUnauthorized = errors.New("lattice: unauthorized")
	// ErrWrongCluster is a node of another cluster than the one this
	// replica synced with: its state would mix two clusters' histories,
	// so the client does not sync with it. Use another directory for the
	// other cluster (or delete this one).
	ErrWrongCluster = errors.New("lattice: the nodes belong to another cluster than this replica")
)

// Statuses of a Client.
const (
	StatusOnline     = "online"
	StatusConnecting = "connecting"
	StatusOffline    = "offline"
)

// Client is a local replica that syncs with a Lattice cluster. Its methods
// are safe for concurrent use.
type Client struct {
	set    *settings
	log    *slog.Logger
	store  *diskStore
	events *dispatcher

	mu      sync.Mutex
	replica crdt.ReplicaID
	objects map[string]*crdt.Object
	clock   crdt.Clock
	nextID  uint64
	pending []*pendingDelta
	cursor  map[string]uint64          // the resume cursor; nil if none yet
	cluster string                     // the cluster id of the nodes this replica synced with; "" before the first
	synced  map[string]bool            // subscription targets the cursor speaks for
	resume  map[string]json.RawMessage // where each target's cut-off snapshot continues
	subs    map[string]*subEntry
	conn    *conn // the current connection, welcomed or not
	status  string
	offline bool
	closed  bool
	token   string
	urlIdx  int
	attempt int   // failed attempts since the last welcome
	failed  int   // failed attempts ever, for Sync
	lastErr error // the last connection failure
	changed chan struct{}
	wake    chan struct{}
	stopRun chan struct{}
	runDone chan struct{}
	stats   stats

	presence map[string]string                   // key -> this client's presence state (JSON)
	others   map[string]map[string]otherPresence // key -> conn -> another connection's presence
}

// stats counts what the client received, for tests and debugging.
type stats struct {
	welcomes, snapshots, catchups, resyncs, acks int
	resumed                                      int // subs sent with a resume position
}

// Open opens (or creates) the replica in opts.Dir and, unless
// opts.Offline, starts connecting to opts.URLs. Edits work from the moment
// it returns, online or not.
func Open(opts *Options) (*Client, error) {
	set, err := opts.settings()
	if err != nil {
		return nil, err
	}
	st, err := openStore(set.dir)
	if err != nil {
		return nil, err
	}
	l, err := st.load()
	if err != nil {
		st.close()
		return nil, err
	}
	c := &Client{
		set:      set,
		log:      set.log,
		store:    st,
		events:   newDispatcher(),
		replica:  l.replica,
		objects:  l.objects,
		nextID:   max(l.state.NextID, 1),
		pending:  l.pending,
		cursor:   l.state.Cursor,
		cluster:  l.state.Cluster,
		synced:   map[string]bool{},
		subs:     map[string]*subEntry{},
		resume:   map[string]json.RawMessage{},
		status:   StatusOffline,
		presence: map[string]string{},
		others:   map[string]map[string]otherPresence{},
		offline:  set.offline,
		token:    set.token,
		changed:  make(chan struct{}),
		wake:     make(chan struct{}, 1),
		stopRun:  make(chan struct{}),
		runDone:  make(chan struct{}),
	}
	for _, t := range l.state.Synced {
		c.synced[t] = true
	}
	for _, p := range c.pending {
		c.nextID = max(c.nextID, p.id+1)
	}
	c.clock.Update(0, crdt.Timestamp{Wall: l.state.Wall, Logical: l.state.Logic})
	c.log.Debug("replica open", "replica", c.replica, "dir", set.dir, "objects", len(c.objects), "pending", len(c.pending), "new", l.fresh)
	go c.run()
	return c, nil
}

// Close disconnects and closes the replica. Everything edited is already
// on disk; pending deltas go out the next time the directory is opened.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.dropLocked()
	c.broadcastLocked()
	c.mu.Unlock()
	close(c.stopRun)
	<-c.runDone
	c.events.stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.store.close(); err != nil {
		return fmt.Errorf("closing the replica: %w", err)
	}
	return nil
}

// Replica is this client's replica id: the UUID every edit is minted under.
func (c *Client) Replica() string { return c.replica.String() }

// Cluster is the id of the cluster this replica syncs with, as its nodes
// reported it; "" before it first met a node that reports one.
func (c *Client) Cluster() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cluster
}

// Status is "online", "connecting" or "offline".
func (c *Client) Status() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Node is the name of the node the client is connected to, or "".
func (c *Client) Node() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil && c.conn.welcomed {
		return c.conn.node
	}
	return ""
}

// Cursor is the resume cursor as JSON (a node version vector), or "null".
func (c *Client) Cursor() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, _ := json.Marshal(c.cursor)
	return string(b)
}

// SetToken changes the token the next connection presents; call
// Reconnect to use it at once.
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	c.token = token
	c.mu.Unlock()
}

// SetOffline(true) disconnects and stays disconnected, as if the network
// were gone: edits keep working and queue as pending. SetOffline(false)
// connects again at once, resends what is pending and catches up.
func (c *Client) SetOffline(offline bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offline = offline
	if offline {
		c.dropLocked()
		c.setStatusLocked(StatusOffline)
	} else {
		c.attempt = 0
		c.wakeLocked()
	}
	c.broadcastLocked()
}

// Reconnect drops the current connection, if any, and connects again at
// once, to the next URL (after a token change, say).
func (c *Client) Reconnect() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil && len(c.set.urls) > 0 {
		c.urlIdx = (c.urlIdx + 1) % len(c.set.urls)
	}
	c.dropLocked()
	c.attempt = 0
	c.wakeLocked()
}

// Get returns key's plain value as JSON: a number for counters, an array
// for sets and multi-value registers, an object for maps, a scalar for an
// LWW register, a boolean for a flag, and "null" for a key this replica
// holds nothing of.
func (c *Client) Get(key string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return "", ErrClosed
	}
	return valueJSON(c.objects[key]), nil
}

// Keys lists the keys this replica holds that start with prefix, sorted,
// as a JSON array.
func (c *Client) Keys(prefix string) string {
	c.mu.Lock()
	var keys []string
	for k, o := range c.objects {
		if strings.HasPrefix(k, prefix) && o.Type() != 0 {
			keys = append(keys, k)
		}
	}
	c.mu.Unlock()
	slices.Sort(keys)
	if keys == nil {
		keys = []string{}
	}
	b, _ := json.Marshal(keys)
	return string(b)
}

// Canonical returns key's state in the canonical JSON encoding of
// docs/crdt-encoding.md: equal on every replica that holds the same state.
func (c *Client) Canonical(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.objects[key]
	if o == nil {
		o = crdt.NewObject()
	}
	b, _ := o.MarshalJSON()
	return string(b)
}

func valueJSON(o *crdt.Object) string {
	if o == nil {
		return "null"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(o.Value()); err != nil {
		return "null" // unreachable: values are JSON scalars and containers of them
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// broadcastLocked wakes everything waiting for a change of state.
func (c *Client) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Client) wakeLocked() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Client) nextIDLocked() uint64 {
	id := c.nextID
	c.nextID++
	return id
}

func (c *Client) setStatusLocked(s string) {
	if c.status == s {
		return
	}
	c.status = s
	c.log.Debug("status", "status", s)
	if h := c.set.onStatus; h != nil {
		c.events.post(func() { h.OnStatus(s) })
	}
}

func (c *Client) reportLocked(code, msg, key string) {
	c.log.Debug("error", "code", code, "message", msg, "key", key)
	if h := c.set.onError; h != nil {
		c.events.post(func() { h.OnError(code, msg, key) })
	}
}

// stateLocked is the small state record as it stands.
func (c *Client) stateLocked() *stateRecord {
	ts := c.clock.Last()
	r := &stateRecord{V: storeVersion, Cursor: c.cursor, NextID: c.nextID, Wall: ts.Wall, Logic: ts.Logical, Cluster: c.cluster}
	for t := range c.synced {
		r.Synced = append(r.Synced, t)
	}
	slices.Sort(r.Synced)
	return r
}
