package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node/api"
	"github.com/lattice-sync/lattice/node/replica"
	"github.com/lattice-sync/lattice/node/store"
)

// Errors the node returns; the HTTP and WebSocket layers map them, and
// crdt's sentinels, to documented codes.
var (
	ErrClosed     = store.ErrClosed
	ErrInvalidKey = store.ErrInvalidKey
	// ErrForgedDot is crdt's: a client delta with another replica's write.
	ErrForgedDot = crdt.ErrForgedDot
)

// MaxKeyLen bounds object keys.
const MaxKeyLen = store.MaxKeyLen

// Clock, Ticker and WallClock are the store's (node/store/clock.go): the
// node takes every interval and timer it keeps from Config.Clock.
type (
	Clock  = store.Clock
	Ticker = store.Ticker
)

// WallClock is the machine's clock.
var WallClock = store.WallClock

// KeyInfo is one object of a listing (Node.Keys): its key and its type.
type KeyInfo = store.KeyInfo

// Node is one Lattice server node. Its methods are safe for concurrent use.
type Node struct {
	cfg Config
	log *slog.Logger
	st  *store.Store // Badger and the committer, the only writer

	quit chan struct{}
	wg   sync.WaitGroup

	mu        sync.Mutex
	observers []Observer

	rand      *lockedRand                        // Config.Rand
	busy      atomic.Int64                       // work under way (busy.go)
	repl      atomic.Pointer[replica.Replicator] // nil until Attach
	presence  *api.PresenceTable                 // ephemeral, in memory only
	metrics   *Metrics
	closeOnce sync.Once
}

// Observer hears about every committed change, after it is durable: the
// WebSocket layer uses it to push live deltas to subscribers. It runs on
// the committer goroutine and must not block.
// A change's delta is decoded only when asked (store.Change.Delta): a
// peer's is joined from its log entry's bytes without it.
type Observer func(c store.Change)

// Open opens (or creates) the node's data directory and starts its
// committer. The replica id is created on first open and kept.
func Open(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:     cfg,
		log:     cfg.Logger.With("node", cfg.Name),
		quit:    make(chan struct{}),
		metrics: newMetrics(),
		rand:    newLockedRand(cfg.Rand),
	}
	st, err := store.Open(store.Config{
		Dir: cfg.Dir, SyncWrites: cfg.SyncWrites, MemTableSize: cfg.MemTableSize, EncryptionKey: cfg.EncryptionKey,
		MaxBatch: cfg.MaxBatch, MaxClockSkew: cfg.MaxClockSkew, UnseenDotsWait: cfg.UnseenDotsWait,
		MaxWaitingDeltas: cfg.MaxWaitingDeltas, LogRetention: cfg.LogRetention,
		Now: cfg.Now, Clock: cfg.Clock, Rand: n.rand, Logger: n.log, Busy: &n.busy, Metrics: n.metrics.st,
	}, n.landed)
	if err != nil {
		return nil, err
	}
	n.st = st
	n.presence = api.NewPresenceTable(cfg.Name, n.rand, cfg.Clock, n.log, n.sendPresence)
	n.wg.Add(1)
	tk, ck := n.presence.Tickers()
	go func() {
		defer n.wg.Done()
		n.presence.Run(tk, ck, n.quit)
	}()
	n.log.Info("node open", "replica", st.ID(), "dir", cfg.Dir, "vv", st.VVString())
	return n, nil
}

// landed hears every commit once it is durable, on the committer: it
// tells the observers (live deltas), then pushes to peers.
func (n *Node) landed(st *store.Stage) {
	n.mu.Lock()
	observers := n.observers
	n.mu.Unlock()
	for _, c := range st.Changes {
		for _, o := range observers {
			o(c)
		}
	}
	if r := n.repl.Load(); r != nil {
		r.AfterCommit(st)
	}
}

// ID is the node's replica id.
func (n *Node) ID() crdt.ReplicaID { return n.st.ID() }

// Name is the node's cluster name.
func (n *Node) Name() string { return n.cfg.Name }

// Metrics returns the node's metrics.
func (n *Node) Metrics() *Metrics { return n.metrics }

// Observe registers o for every committed change. Call before traffic.
func (n *Node) Observe(o Observer) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.observers = append(n.observers, o)
}

// Close stops replication and the committer, then closes Badger; queued
// writes are finished first.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		if r := n.repl.Load(); r != nil {
			r.Stop()
		}
		close(n.quit)
		n.wg.Wait()
		err = n.st.Close()
	})
	return err
}

// Apply performs op on key as this node's replica and returns the delta
// once it is durable.
func (n *Node) Apply(ctx context.Context, key string, op crdt.Op) (*crdt.Object, error) {
	return n.st.Apply(ctx, key, op)
}

// JoinClient joins a delta a client made, once it keeps crdt.ClientRule
// (Store.JoinClient says how).
func (n *Node) JoinClient(ctx context.Context, client crdt.ReplicaID, key string, delta *crdt.Object) error {
	return n.st.JoinClient(ctx, client, key, delta)
}

// Get returns the object at key; an object never written is empty.
func (n *Node) Get(key string) (*crdt.Object, error) { return n.st.Get(key) }

// Scan calls fn with every object whose key starts with prefix, in key
// order, from one consistent snapshot.
func (n *Node) Scan(prefix string, fn func(key string, o *crdt.Object) error) error {
	return n.st.Scan(prefix, fn)
}

// Digest hashes the canonical encoding of every object, so two nodes have
// equal digests exactly when they hold the same data.
func (n *Node) Digest() (string, int, error) { return n.st.Digest() }

// VersionVector returns how much of each node's log this node has applied,
// contiguously: the resume cursor clients and peers hand back.
func (n *Node) VersionVector() crdt.VersionVector { return n.st.VersionVector() }

// Keys lists, in key order, at most limit objects whose key starts with
// prefix and sorts after after (Store.Keys says how).
func (n *Node) Keys(prefix, after string, limit int) ([]KeyInfo, string, error) {
	return n.st.Keys(prefix, after, limit)
}

// Attach connects the node to its peers through t and starts replication.
func (n *Node) Attach(t replica.Net) error {
	r := replica.New(replica.Config{
		AntiEntropyInterval: n.cfg.AntiEntropyInterval, SyncFanout: n.cfg.SyncFanout, MaxSyncBytes: n.cfg.MaxSyncBytes,
		FullState: n.cfg.FullState, FoldAfter: n.cfg.FoldAfter, Clock: n.cfg.Clock, Rand: n.rand, Logger: n.log, Busy: &n.busy, Metrics: n.metrics.repl,
		OnPresence: n.peerPresence,
	}, n.st, t)
	if !n.repl.CompareAndSwap(nil, r) {
		return errors.New("node: already attached")
	}
	if err := r.Start(); err != nil {
		n.repl.Store(nil)
		return err
	}
	return nil
}

// ErrNotDecider and ErrFoldNotStable are Fold's refusals by the fold rule
// (node/replica/fold.go).
var (
	ErrNotDecider    = store.ErrNotDecider
	ErrFoldNotStable = store.ErrFoldNotStable
)

// Fold folds counter writer w of the root counter at key into this node's
// fold replica, if this node decides w and the peers' reports allow it
// (Replicator.Fold; docs/crdt-cost.md, "What is reclaimed, and what is
// not"). A node not attached folds nothing (ErrFoldNotStable).
func (n *Node) Fold(ctx context.Context, key string, w crdt.ReplicaID) (*crdt.Object, error) {
	r := n.repl.Load()
	if r == nil {
		return nil, fmt.Errorf("%w: the node is not attached to a cluster", ErrFoldNotStable)
	}
	return r.Fold(ctx, key, w)
}

// FoldDecider is the node of view that decides w's folds (node/replica/fold.go).
func FoldDecider(w crdt.ReplicaID, view []crdt.ReplicaID) crdt.ReplicaID {
	return replica.FoldDecider(w, view)
}

// sendPresence sends presence states to the peers, if attached.
func (n *Node) sendPresence(list []byte) bool {
	r := n.repl.Load()
	return r != nil && r.SendPresence(list)
}

// peerPresence hands a peer's presence states to the table.
func (n *Node) peerPresence(from string, list []byte) {
	var ps []Presence
	if err := json.Unmarshal(list, &ps); err != nil {
		n.log.Warn("bad peer presence", "from", from, "err", err)
		return
	}
	n.presence.Receive(from, ps)
}

// Ready reports whether the node serves requests: it has not been closed.
func (n *Node) Ready() bool {
	select {
	case <-n.quit:
		return false
	default:
		return true
	}
}

// backend is the node as the client API sees it.
func (n *Node) backend() *api.Backend {
	return &api.Backend{
		Name: n.cfg.Name, ClusterID: n.cfg.ClusterID, Store: n.st, Presence: n.presence,
		Registry: n.metrics.reg, Logger: n.log, Clock: n.cfg.Clock, Done: n.quit,
		Cluster: n.Cluster, Observe: func(fn func(store.Change)) { n.Observe(fn) }, Fold: n.Fold,
	}
}
