package lattice

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
)

// The replica on disk, one Badger directory:
//
//	"r"            the replica id, 16 bytes, written once
//	"s"            stateRecord as JSON: cursor, synced subscriptions, next message id, clock
//	"o" + key      an object's state, crdt binary encoding
//	"p" + id (8)   a pending delta: uvarint(len(key)) key, then the delta in crdt binary
//
// Objects are stored whole: a client holds what its app shows, and this
// keeps a load one read per key.
const storeVersion = 1

var (
	keyReplica = []byte("r")
	keyState   = []byte("s")
	pfxObject  = []byte("o")
	pfxPending = []byte("p")
)

// stateRecord is the small state kept beside the objects.
type stateRecord struct {
	V      int               `json:"v"`
	Cursor map[string]uint64 `json:"cursor,omitzero"`
	Synced []string          `json:"synced,omitempty"`
	NextID uint64            `json:"next_id"`
	Wall   int64             `json:"wall"`
	Logic  uint32            `json:"logical"`
	// Cluster is the cluster id the nodes reported at the first welcome
	// that carried one; nodes of another cluster are refused.
	Cluster string `json:"cluster,omitempty"`
}

// diskStore is the replica's Badger database.
type diskStore struct {
	db *badger.DB
}

// ErrInUse is returned by Open when another process has the replica
// directory open.
var ErrInUse = errors.New("lattice: the replica directory is in use by another process")

func openStore(dir string) (*diskStore, error) {
	opts := badger.DefaultOptions(dir).
		WithLogger(nil).
		WithSyncWrites(false). // local edits call Sync; remote state may lag a crash, with its cursor
		WithNumVersionsToKeep(1).
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithValueLogFileSize(16 << 20).
		WithBlockCacheSize(8 << 20).
		WithNumCompactors(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8)
	if dir == "" {
		opts = opts.WithInMemory(true)
	}
	db, err := badger.Open(opts)
	if err != nil {
		if strings.Contains(err.Error(), "directory lock") {
			return nil, fmt.Errorf("%w: %s", ErrInUse, dir)
		}
		return nil, fmt.Errorf("opening the replica at %q: %w", dir, err)
	}
	return &diskStore{db: db}, nil
}

func (s *diskStore) close() error { return s.db.Close() }

// loaded is what a replica directory holds.
type loaded struct {
	replica crdt.ReplicaID
	fresh   bool // no replica id was stored: a new one was made
	state   stateRecord
	objects map[string]*crdt.Object
	pending []*pendingDelta
}

// load reads everything, making a replica id if there is none yet.
func (s *diskStore) load() (*loaded, error) {
	l := &loaded{objects: map[string]*crdt.Object{}}
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyReplica)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			l.fresh = true
		case err != nil:
			return fmt.Errorf("reading the replica id: %w", err)
		default:
			if err := item.Value(func(v []byte) error {
				id, err := uuid.FromBytes(v)
				l.replica = id
				return err
			}); err != nil {
				return fmt.Errorf("reading the replica id: %w", err)
			}
		}
		if item, err := txn.Get(keyState); err == nil {
			if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &l.state) }); err != nil {
				return fmt.Errorf("reading the replica state: %w", err)
			}
			if l.state.V != storeVersion {
				return fmt.Errorf("the replica state is version %d; this client reads version %d", l.state.V, storeVersion)
			}
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("reading the replica state: %w", err)
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfxObject, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			key := string(it.Item().Key()[len(pfxObject):])
			err := it.Item().Value(func(v []byte) error {
				o, err := crdt.UnmarshalObject(v)
				l.objects[key] = o
				return err
			})
			if err != nil {
				return fmt.Errorf("reading object %q: %w", key, err)
			}
		}
		pit := txn.NewIterator(badger.IteratorOptions{Prefix: pfxPending, PrefetchValues: true})
		defer pit.Close()
		for pit.Rewind(); pit.Valid(); pit.Next() {
			k := pit.Item().Key()
			if len(k) != len(pfxPending)+8 {
				return fmt.Errorf("pending key of %d bytes", len(k))
			}
			p := &pendingDelta{id: binary.BigEndian.Uint64(k[len(pfxPending):])}
			if err := pit.Item().Value(func(v []byte) error { return p.decode(v) }); err != nil {
				return fmt.Errorf("reading pending delta %d: %w", p.id, err)
			}
			l.pending = append(l.pending, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if l.fresh {
		l.replica = uuid.New()
		l.state = stateRecord{V: storeVersion, NextID: 1}
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(keyReplica, l.replica[:]) }); err != nil {
			return nil, fmt.Errorf("saving the new replica id: %w", err)
		}
		if err := s.db.Sync(); err != nil {
			return nil, fmt.Errorf("syncing the new replica id: %w", err)
		}
	}
	return l, nil
}

// batch is one atomic write to the replica.
type batch struct {
	state   *stateRecord
	objects map[string]*crdt.Object
	put     []*pendingDelta
	del     []uint64
}

func (b *batch) object(key string, o *crdt.Object) {
	if b.objects == nil {
		b.objects = map[string]*crdt.Object{}
	}
	b.objects[key] = o
}

func (b *batch) empty() bool {
	return b.state == nil && len(b.objects) == 0 && len(b.put) == 0 && len(b.del) == 0
}

// write commits b in one transaction; with sync, it is on disk when write
// returns.
func (s *diskStore) write(b *batch, sync bool) error {
	if b.empty() {
		return nil
	}
	err := s.db.Update(func(txn *badger.Txn) error {
		if b.state != nil {
			v, err := json.Marshal(b.state)
			if err != nil {
				return fmt.Errorf("encoding the replica state: %w", err)
			}
			if err := txn.Set(keyState, v); err != nil {
				return err
			}
		}
		for key, o := range b.objects {
			v, err := o.MarshalBinary()
			if err != nil {
				return fmt.Errorf("encoding object %q: %w", key, err)
			}
			if err := txn.Set(append(append([]byte{}, pfxObject...), key...), v); err != nil {
				return err
			}
		}
		for _, id := range b.del {
			if err := txn.Delete(pendingKey(id)); err != nil {
				return err
			}
		}
		for _, p := range b.put {
			v, err := p.encode()
			if err != nil {
				return fmt.Errorf("encoding pending delta %d: %w", p.id, err)
			}
			if err := txn.Set(pendingKey(p.id), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("saving the replica: %w", err)
	}
	if sync {
		if err := s.db.Sync(); err != nil {
			return fmt.Errorf("syncing the replica to disk: %w", err)
		}
	}
	return nil
}

func pendingKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte{}, pfxPending...), id)
}
