package store

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lattice-sync/lattice/crdt"
)

// Errors the store returns; the HTTP and WebSocket layers map them, and
// crdt's sentinels, to documented codes.
var (
	ErrClosed     = errors.New("node: closed")
	ErrInvalidKey = errors.New("node: invalid key")
	// ErrNotDecider and ErrFoldNotStable are the fold rule's refusals
	// (node/replica/fold.go), before any fold request: another node
	// decides the writer's folds; the peers' reports do not allow the
	// fold yet (retry later).
	ErrNotDecider    = errors.New("fold: this node is not the writer's decider")
	ErrFoldNotStable = errors.New("fold: the peers' reports do not allow a fold yet")
)

// MaxKeyLen bounds object keys.
const MaxKeyLen = 1024

// Config is what the store needs of the node's Config.
type Config struct {
	Dir              string
	SyncWrites       bool
	MemTableSize     int64
	EncryptionKey    []byte
	MaxBatch         int
	MaxClockSkew     time.Duration
	UnseenDotsWait   time.Duration
	MaxWaitingDeltas int
	LogRetention     uint64
	Now              func() int64
	Clock            Clock
	// Rand makes the replica id on first open.
	Rand   io.Reader
	Logger *slog.Logger
	// Busy counts work under way (the node's, shared with replication): a
	// write from its queueing until its batch has landed.
	Busy *atomic.Int64
	// Metrics are registered by the caller; NewMetrics makes them.
	Metrics *Metrics
}

// DefaultConfig is a store in dir with the node's defaults
// (node.DefaultConfig says why each is what it is), its own metrics
// registry and work counter, and slog's default logger.
func DefaultConfig(dir string) Config {
	return Config{
		Dir:              dir,
		SyncWrites:       true,
		MaxBatch:         512,
		MaxClockSkew:     time.Minute,
		UnseenDotsWait:   2 * time.Second,
		MaxWaitingDeltas: 1024,
		LogRetention:     100_000,
		MemTableSize:     64 << 20,
		Now:              func() int64 { return time.Now().UnixMilli() },
		Clock:            WallClock,
		Rand:             crand.Reader,
		Logger:           slog.Default(),
		Busy:             new(atomic.Int64),
		Metrics:          NewMetrics(prometheus.NewRegistry()),
	}
}

// Store is the node's Badger database and its committer, the one
// goroutine that writes it. Its methods are safe for concurrent use.
type Store struct {
	cfg Config
	log *slog.Logger
	db  *badger.DB
	id  crdt.ReplicaID

	writes chan *Request
	quit   chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex
	clock  crdt.Clock
	logs   *logIndex // what this node holds of every node's delta log
	landed func(*Stage)

	busy        *atomic.Int64
	hot         *hotObjects // states REST answers are read from (hot.go)
	remote      remoteJoin  // joins peers' log entries; the committer's only
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

// encryptedIndexCache is the index cache of an encrypted store, in bytes.
const encryptedIndexCache = 64 << 20

// Open opens (or creates) the Badger database in cfg.Dir and starts
// the committer. The replica id is created on first open and kept.
// landed is called on the committer, in commit order, with every batch
// once it is durable: it must not block.
func Open(cfg Config, landed func(*Stage)) (*Store, error) {
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
	s := &Store{
		cfg:      cfg,
		log:      cfg.Logger,
		db:       db,
		writes:   make(chan *Request, 4*cfg.MaxBatch),
		arrivals: make(chan struct{}),
		quit:     make(chan struct{}),
		hot:      newHotObjects(),
		metrics:  cfg.Metrics,
		busy:     cfg.Busy,
		landed:   landed,
	}
	if err := s.loadIdentity(cfg.Rand); err != nil {
		db.Close()
		return nil, err
	}
	if s.logs, err = loadLogIndex(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("recovering log index: %w", err)
	}
	s.clock.Update(cfg.Now(), crdt.Timestamp{})
	s.wg.Add(1)
	go s.commitLoop()
	return s, nil
}

func (s *Store) loadIdentity(rand io.Reader) error {
	return s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(keyIdentity)
		if err == nil {
			return item.Value(func(v []byte) error {
				id, err := uuid.FromBytes(v)
				s.id = id
				return err
			})
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("reading replica id: %w", err)
		}
		id, err := uuid.NewRandomFromReader(rand)
		if err != nil {
			return fmt.Errorf("making replica id: %w", err)
		}
		s.id = id
		return txn.Set(keyIdentity, s.id[:])
	})
}

// ID is the node's replica id.
func (s *Store) ID() crdt.ReplicaID { return s.id }

// VVString is the node version vector, short, for logs.
func (s *Store) VVString() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.vvString()
}

// Close stops the committer, once queued writes are finished, then
// closes Badger.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.quit)
		s.wg.Wait()
		err = s.db.Close()
	})
	return err
}

// Written is what the committer wrote to Badger: bytes, and distinct keys
// set or deleted, batch by batch.
func (s *Store) Written() (bytes, keys int64) { return s.written.Load(), s.writtenKeys.Load() }

// CheckKey reports whether key may name an object.
func CheckKey(key string) error {
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
func (s *Store) Apply(ctx context.Context, key string, op crdt.Op) (*crdt.Object, error) {
	r, err := s.apply(ctx, key, op)
	if err != nil {
		return nil, err
	}
	return r.delta, nil
}

func (s *Store) apply(ctx context.Context, key string, op crdt.Op) (*Result, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	if err := op.Validate(); err != nil {
		return nil, err
	}
	return s.Submit(ctx, &Request{Kind: ReqOp, Key: key, Op: op})
}

// ApplyAndRead is Apply answered with the object's type and value after
// the write: for a counter, its tally, and for another object that keeps
// one leaf per type and has few writers, its state, as this operation left
// them within its batch (later writes of the same batch not included);
// otherwise the state kept in memory for objects REST writes (hot.go),
// joined with every commit up to and including this one, or, the first
// time, read back once durable and then kept. A value from a state is
// its JSON (Answer).
func (s *Store) ApplyAndRead(ctx context.Context, key string, op crdt.Op) (*Answer, error) {
	r, err := s.apply(ctx, key, op)
	if err != nil {
		return nil, err
	}
	if r.answer != nil {
		return r.answer, nil
	}
	if r.state != nil {
		return &Answer{Type: r.state.Type(), Value: json.RawMessage(r.state.AppendValueJSON(nil))}, nil
	}
	if t, v, ok := s.hot.viewJSON(key); ok {
		return &Answer{Type: t, Value: v}, nil
	}
	ver := s.hot.version(key)
	o, err := s.Get(key)
	if err != nil {
		return nil, err
	}
	a := &Answer{Type: o.Type(), Value: json.RawMessage(o.AppendValueJSON(nil))}
	s.hot.put(key, o, ver)
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
func (s *Store) JoinClient(ctx context.Context, client crdt.ReplicaID, key string, delta *crdt.Object) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if client.Version() == 5 {
		return fmt.Errorf("%w: %s is a version 5 UUID, the version of the nodes' fold replicas", crdt.ErrForgedDot, client)
	}
	// The log entry is encoded here, on the caller's goroutine, so the
	// committer, which is serial, does not; its clock is taken now.
	raw, err := logEntryOf(s.Now(), key, delta)
	if err != nil {
		return err
	}
	return s.untilSeen(ctx, key, func() error {
		_, err := s.Submit(ctx, &Request{Kind: ReqClientDelta, Key: key, Delta: delta, Client: client, Raw: raw})
		return err
	})
}

// Fold folds counter writer w of the root counter at key into this node's
// fold replica, crdt.FoldReplica(ID()), and logs the fold delta as this
// node's own log entry, which replicates like any delta. It returns the
// delta once durable, and crdt.ErrInvalidOp for a key that is not a root
// counter, a writer with no entry there, or one already folded.
//
// The caller keeps crdt.Fold's condition: every fold of w is made by one
// node, each from a state holding w's earlier folds (node/replica/fold.go).
// gate, if not nil, is its rule, which the committer runs just before the
// fold with the origins this node holds entries of, counting those staged
// in the commits not yet landed: a fold the gate allows lands before any
// vector this node reports with an origin the gate did not see. An error
// from gate is returned and nothing is written.
func (s *Store) Fold(ctx context.Context, key string, w crdt.ReplicaID, gate func(origins map[crdt.ReplicaID]bool) error) (*crdt.Object, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	r, err := s.Submit(ctx, &Request{Kind: ReqFold, Key: key, Client: w, Gate: gate})
	if err != nil {
		return nil, err
	}
	return r.delta, r.err
}

// Get returns the object at key; an object never written is empty.
func (s *Store) Get(key string) (*crdt.Object, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	var o *crdt.Object
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		o, _, err = loadObject(readKV{txn}, key)
		return err
	})
	return o, err
}

// Scan calls fn with every object whose key starts with prefix, in key
// order, from one consistent snapshot.
func (s *Store) Scan(prefix string, fn func(key string, o *crdt.Object) error) error {
	return s.db.View(func(txn *badger.Txn) error {
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
	})
}

// VersionVector returns how much of each node's log this node has applied,
// contiguously: the resume cursor clients and peers hand back.
func (s *Store) VersionVector() crdt.VersionVector {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.vv.Clone()
}

// Now issues a hybrid timestamp for a local event.
func (s *Store) Now() crdt.Timestamp {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clock.Now(s.cfg.Now())
}

// ObserveClock folds a peer's clock into ours, unless it runs further
// ahead of our physical time than MaxClockSkew allows: one bad clock must
// not drag the cluster's timestamps into the future.
func (s *Store) ObserveClock(remote crdt.Timestamp) {
	pt := s.cfg.Now()
	if remote.Wall > pt+s.cfg.MaxClockSkew.Milliseconds() {
		s.metrics.clockSkewRejected.Inc()
		return
	}
	s.mu.Lock()
	s.clock.Update(pt, remote)
	s.mu.Unlock()
}

// waitDone waits for r's result. A request that reached the queue after
// Close made the committer drain it is never answered, so once the
// committer has exited the result is either there or will never come.
func (s *Store) waitDone(ctx context.Context, r *Request) (*Result, error) {
	select {
	case res := <-r.done:
		return res, res.err
	case <-s.quit:
		s.wg.Wait() // the committer has drained the queue and exited
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

// Submit queues r for the committer and waits until it is durable.
func (s *Store) Submit(ctx context.Context, r *Request) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // the caller is gone: do not queue what nobody waits for
	}
	r.done = make(chan *Result, 1)
	s.busy.Add(1) // until its batch has landed
	select {
	case s.writes <- r:
	case <-s.quit:
		s.busy.Add(-1)
		return nil, ErrClosed
	case <-ctx.Done():
		s.busy.Add(-1)
		return nil, ctx.Err()
	}
	return s.waitDone(ctx, r)
}

// TryEnqueue queues r for the committer without waiting, and reports
// false, leaving r unqueued, if the queue is full.
func (s *Store) TryEnqueue(r *Request) bool {
	r.done = make(chan *Result, 1)
	s.busy.Add(1) // until its batch has landed
	select {
	case s.writes <- r:
		return true
	default:
		s.busy.Add(-1)
		return false
	}
}

// settled ends k counted pieces of work.
func (s *Store) settled(k int) { s.busy.Add(-int64(k)) }

// Waiting is the number of client deltas waiting for dots they cover
// (unseen.go).
func (s *Store) Waiting() int64 { return s.waiting.Load() }

// HotView is the state kept in memory for key's REST answers (hot.go), if
// any: for tests that compare it with what Badger holds.
func (s *Store) HotView(key string) (crdt.Type, any, bool) { return s.hot.view(key) }

// ViewRaw calls fn with a read-only Badger transaction: for tests that look
// at the bytes on disk (what must never be stored, say).
func (s *Store) ViewRaw(fn func(txn *badger.Txn) error) error { return s.db.View(fn) }

// PresetIdentity gives the data directory dir the replica id id before a
// store first opens it (Open makes an id only for a directory without one):
// for tests in which two clusters must mint the same dots.
func PresetIdentity(dir string, id crdt.ReplicaID) error {
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		return err
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set(keyIdentity, id[:]) }); err != nil {
		db.Close()
		return err
	}
	return db.Close()
}

// Digest hashes the canonical encoding of every object, so two nodes have
// equal digests exactly when they hold the same data.
func (s *Store) Digest() (string, int, error) {
	h := sha256.New()
	count := 0
	err := s.Scan("", func(key string, o *crdt.Object) error {
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
