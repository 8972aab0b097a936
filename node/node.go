package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
)

// Errors the node returns; the HTTP and WebSocket layers map them, and
// crdt's sentinels, to documented codes.
var (
	ErrClosed     = errors.New("node: closed")
	ErrInvalidKey = errors.New("node: invalid key")
	// ErrForgedDot is crdt's: a client delta with another replica's write.
	ErrForgedDot = crdt.ErrForgedDot
)

// MaxKeyLen bounds object keys.
const MaxKeyLen = 1024

// Node is one Lattice server node. Its methods are safe for concurrent use.
type Node struct {
	cfg Config
	log *slog.Logger
	db  *badger.DB
	id  crdt.ReplicaID

	writes chan *writeReq
	quit   chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	clock crdt.Clock
	logs  *logIndex // what this node holds of every node's delta log

	rand        *lockedRand                // Config.Rand
	busy        atomic.Int64               // work under way (busy.go)
	repl        atomic.Pointer[replicator] // nil until Attach
	observers   []Observer
	presence    *presenceTable // ephemeral, in memory only
	hot         *hotObjects    // states REST answers are read from (hot.go)
	metrics     *Metrics
	written     atomic.Int64 // bytes the committer wrote, as lattice_bytes_written_total
	writtenKeys atomic.Int64 // distinct keys the committer set or deleted, batch by batch
	closeOnce   sync.Once

	// arrivals is closed, and replaced, after every commit that joined
	// state from peers: client deltas waiting for dots they cover wake on
	// it (unseen.go). waiting counts them against MaxWaitingDeltas.
	arrivalsMu sync.Mutex
	arrivals   chan struct{}
	waiting    atomic.Int64
}

// Observer hears about every committed change, after it is durable: the
// WebSocket layer uses it to push live deltas to subscribers. It runs on
// the committer goroutine and must not block.
type Observer func(key string, delta *crdt.Object)

// encryptedIndexCache is the index cache of an encrypted store, in bytes.
const encryptedIndexCache = 64 << 20

// Open opens (or creates) the node's data directory and starts its
// committer. The replica id is created on first open and kept.
func Open(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	opts := badger.DefaultOptions(cfg.Dir).
		WithSyncWrites(cfg.SyncWrites).
		WithLogger(nil).
		WithNumVersionsToKeep(1).
		WithMemTableSize(cfg.MemTableSize)
	if len(cfg.EncryptionKey) > 0 {
		// Badger needs an index cache with encryption: decrypted table
		// indexes live there instead of being re-read and re-decrypted.
		opts = opts.WithEncryptionKey(cfg.EncryptionKey).WithIndexCacheSize(encryptedIndexCache)
	}
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("opening badger at %s: %w", cfg.Dir, err)
	}
	n := &Node{
		cfg:      cfg,
		log:      cfg.Logger.With("node", cfg.Name),
		db:       db,
		writes:   make(chan *writeReq, 4*cfg.MaxBatch),
		arrivals: make(chan struct{}),
		quit:     make(chan struct{}),
		hot:      newHotObjects(),
		metrics:  newMetrics(),
		rand:     newLockedRand(cfg.Rand),
	}
	if err := n.loadIdentity(); err != nil {
		db.Close()
		return nil, err
	}
	if n.logs, err = loadLogIndex(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("recovering log index: %w", err)
	}
	n.clock.Update(cfg.Now(), crdt.Timestamp{})
	n.wg.Add(1)
	go n.commitLoop()
	n.presence = newPresenceTable(n)
	n.wg.Add(1)
	go n.presence.run(cfg.Clock.NewTicker(presenceRefresh), cfg.Clock.NewTicker(presenceConfirm))
	n.log.Info("node open", "replica", n.id, "dir", cfg.Dir, "vv", n.logs.vvString())
	return n, nil
}

func (n *Node) loadIdentity() error {
	return n.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(keyIdentity)
		if err == nil {
			return item.Value(func(v []byte) error {
				id, err := uuid.FromBytes(v)
				n.id = id
				return err
			})
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("reading replica id: %w", err)
		}
		id, err := uuid.NewRandomFromReader(n.rand)
		if err != nil {
			return fmt.Errorf("making replica id: %w", err)
		}
		n.id = id
		return txn.Set(keyIdentity, n.id[:])
	})
}

// ID is the node's replica id.
func (n *Node) ID() crdt.ReplicaID { return n.id }

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
			r.stop()
		}
		close(n.quit)
		n.wg.Wait()
		err = n.db.Close()
	})
	return err
}

func checkKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key must be 1 to %d bytes", ErrInvalidKey, MaxKeyLen)
	}
	if v, err := crdt.StringValue(key); err != nil || v.Kind() != crdt.KindString {
		return fmt.Errorf("%w: key is not valid UTF-8", ErrInvalidKey)
	}
	return nil
}

// Apply performs op on key as this node's replica and returns the delta
// once it is durable.
func (n *Node) Apply(ctx context.Context, key string, op crdt.Op) (*crdt.Object, error) {
	r, err := n.apply(ctx, key, op)
	if err != nil {
		return nil, err
	}
	return r.delta, nil
}

func (n *Node) apply(ctx context.Context, key string, op crdt.Op) (*writeResult, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := op.Validate(); err != nil {
		return nil, err
	}
	return n.submit(ctx, &writeReq{kind: reqOp, key: key, op: op})
}

// applyAndRead is Apply answered with the object's type and value after
// the write: for a counter, its tally, and for another object that keeps
// one leaf per type and has few writers, its state, as this operation left
// them within its batch (later writes of the same batch not included);
// otherwise the state kept in memory for objects REST writes (hot.go),
// joined with every commit up to and including this one, or, the first
// time, read back once durable and then kept.
func (n *Node) applyAndRead(ctx context.Context, key string, op crdt.Op) (*answer, error) {
	r, err := n.apply(ctx, key, op)
	if err != nil {
		return nil, err
	}
	if r.answer != nil {
		return r.answer, nil
	}
	if r.state != nil {
		return &answer{Type: r.state.Type(), Value: r.state.Value()}, nil
	}
	if t, v, ok := n.hot.view(key); ok {
		return &answer{Type: t, Value: v}, nil
	}
	ver := n.hot.version(key)
	o, err := n.Get(key)
	if err != nil {
		return nil, err
	}
	a := &answer{Type: o.Type(), Value: o.Value()}
	n.hot.put(key, o, ver)
	return a, nil
}

// JoinClient joins a delta a client made, once it keeps crdt.ClientRule:
// only the client's own writes, re-sent ones unchanged, type invariants
// kept, and a context that covers only dots that exist here. A delta whose
// context covers dots of other replicas not received yet waits, bounded by
// UnseenDotsWait and MaxWaitingDeltas, for replication to bring them, and
// is then refused with crdt.ErrUnseenDots if they are still missing.
// Resending a delta is harmless, which is what gives a client exactly-once
// effect across retries and failovers.
func (n *Node) JoinClient(ctx context.Context, client crdt.ReplicaID, key string, delta *crdt.Object) error {
	if err := checkKey(key); err != nil {
		return err
	}
	// The log entry is encoded here, on the caller's goroutine, so the
	// committer, which is serial, does not; its clock is taken now.
	raw, err := logEntryOf(n.now(), key, delta)
	if err != nil {
		return err
	}
	return n.untilSeen(ctx, key, func() error {
		_, err := n.submit(ctx, &writeReq{kind: reqClientDelta, key: key, delta: delta, client: client, raw: raw})
		return err
	})
}

// Get returns the object at key; an object never written is empty.
func (n *Node) Get(key string) (*crdt.Object, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	var o *crdt.Object
	err := n.db.View(func(txn *badger.Txn) error {
		var err error
		o, _, err = loadObject(readKV{txn}, key)
		return err
	})
	return o, err
}

// Scan calls fn with every object whose key starts with prefix, in key
// order, from one consistent snapshot, and returns the node version vector
// of that snapshot.
func (n *Node) Scan(prefix string, fn func(key string, o *crdt.Object) error) error {
	return n.db.View(func(txn *badger.Txn) error {
		return scanObjects(txn, prefix, fn)
	})
}

func scanObjects(txn *badger.Txn, prefix string, fn func(string, *crdt.Object) error) error {
	p := metaKey(prefix)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: false})
	var keys []string
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		keys = append(keys, string(it.Item().Key()[1:]))
	}
	it.Close()
	for _, k := range keys {
		o, _, err := loadObject(readKV{txn}, k)
		if err != nil {
			return err
		}
		if err := fn(k, o); err != nil {
			return err
		}
	}
	return nil
}

// Digest hashes the canonical encoding of every object, so two nodes have
// equal digests exactly when they hold the same data.
func (n *Node) Digest() (string, int, error) {
	h := sha256.New()
	count := 0
	err := n.Scan("", func(key string, o *crdt.Object) error {
		b, err := o.MarshalBinary()
		if err != nil {
			return err
		}
		h.Write(binary.AppendUvarint(nil, uint64(len(key))))
		h.Write([]byte(key))
		h.Write(binary.AppendUvarint(nil, uint64(len(b))))
		h.Write(b)
		count++
		return nil
	})
	if err != nil {
		return "", 0, fmt.Errorf("digest: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), count, nil
}

// VersionVector returns how much of each node's log this node has applied,
// contiguously: the resume cursor clients and peers hand back.
func (n *Node) VersionVector() crdt.VersionVector {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.logs.vv.Clone()
}

// now issues a hybrid timestamp for a local event.
func (n *Node) now() crdt.Timestamp {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.clock.Now(n.cfg.Now())
}

// observeClock folds a peer's clock into ours, unless it runs further ahead
// of our physical time than MaxClockSkew allows: one bad clock must not
// drag the cluster's timestamps into the future.
func (n *Node) observeClock(remote crdt.Timestamp) {
	pt := n.cfg.Now()
	if remote.Wall > pt+n.cfg.MaxClockSkew.Milliseconds() {
		n.metrics.clockSkewRejected.Inc()
		return
	}
	n.mu.Lock()
	n.clock.Update(pt, remote)
	n.mu.Unlock()
}

// waitDone waits for r's result. A request that reached the queue after
// Close made the committer drain it is never answered, so once the
// committer has exited the result is either there or will never come.
func (n *Node) waitDone(ctx context.Context, r *writeReq) (*writeResult, error) {
	select {
	case res := <-r.done:
		return res, res.err
	case <-n.quit:
		n.wg.Wait() // the committer has drained the queue and exited
		select {
		case res := <-r.done:
			return res, res.err
		default:
			return nil, ErrClosed
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (n *Node) submit(ctx context.Context, r *writeReq) (*writeResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // the caller is gone: do not queue what nobody waits for
	}
	r.done = make(chan *writeResult, 1)
	n.busy.Add(1) // until its batch has landed
	select {
	case n.writes <- r:
	case <-n.quit:
		n.busy.Add(-1)
		return nil, ErrClosed
	case <-ctx.Done():
		n.busy.Add(-1)
		return nil, ctx.Err()
	}
	return n.waitDone(ctx, r)
}

var _ = time.Second
