package store

import (
	"bytes"
	"errors"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/btree"
)

// kv is the storage the object store and the committer read and write: a
// read-only snapshot (readKV) or the committer's batch (batchKV).
type kv interface {
	// get returns a copy of the value at key; ok is false if it is absent.
	get(key []byte) (val []byte, ok bool, err error)
	set(key, val []byte) error
	del(key []byte) error
	// scan calls fn for every key with the prefix, from start on, in key
	// order, until fn returns false or an error.
	scan(prefix, start []byte, fn func(key, val []byte) (bool, error)) error
}

// readKV reads one Badger snapshot.
type readKV struct{ txn *badger.Txn }

func (r readKV) get(key []byte) ([]byte, bool, error) {
	item, err := r.txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v, err := item.ValueCopy(nil)
	return v, err == nil, err
}

func (readKV) set([]byte, []byte) error { return errors.New("node: write to a read-only snapshot") }
func (readKV) del([]byte) error         { return errors.New("node: write to a read-only snapshot") }

// scan reads every version the snapshot holds of a key but uses only the
// newest: a hot key keeps one version per write in the memtable until a
// flush, and stepping over them one by one (as Badger's iterator does when
// it hides old versions) made a read of a hot object cost its write
// history. When a key shows an older version, scan seeks past the key
// instead, which costs one seek however many versions there are.
func (r readKV) scan(prefix, start []byte, fn func(k, v []byte) (bool, error)) error {
	it := r.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false, AllVersions: true})
	defer it.Close()
	it.Seek(start)
	for it.ValidForPrefix(prefix) {
		item := it.Item()
		key := item.KeyCopy(nil)
		if !item.IsDeletedOrExpired() {
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if more, err := fn(key, v); err != nil || !more {
				return err
			}
		}
		it.Next()
		if it.ValidForPrefix(prefix) && bytes.Equal(it.Item().Key(), key) {
			it.Seek(append(key, 0)) // the least key after key
		}
	}
	return nil
}

// reader is what a batch reads beneath its own writes: a snapshot
// (readKV) or the batch before it (batchKV), still syncing.
type reader interface {
	get(key []byte) (val []byte, ok bool, err error)
	scan(prefix, start []byte, fn func(key, val []byte) (bool, error)) error
}

// batchKV is one commit's writes, held in an ordered overlay over what the
// batch reads (its base) until the committer writes them to Badger in one
// transaction (apply). Badger's read-write iterators sort every pending
// write each time one is created, which would make a batch of many writes
// quadratic, and a Badger transaction cannot be opened while the one
// before it syncs (its read timestamp waits for that commit): the overlay
// lets the next batch be prepared on top of the one that is syncing. It
// also counts the bytes written.
type batchKV struct {
	base    reader
	snap    *badger.Txn // the snapshot this batch owns at the bottom of base, or nil
	overlay *btree.BTreeG[pending]
	bytes   int
}

type pending struct {
	key []byte
	val []byte // nil: deleted
}

func lessPending(a, b pending) bool { return bytes.Compare(a.key, b.key) < 0 }

// newBatch starts a batch on a snapshot of db. Only the committer writes
// to object, dot and meta keys, so no commit of them can land between the
// snapshot and the batch's transaction.
func newBatch(db *badger.DB) *batchKV {
	snap := db.NewTransaction(false)
	return &batchKV{base: readKV{snap}, snap: snap, overlay: btree.NewG(16, lessPending)}
}

// newBatchOn starts a batch that reads through prev, a batch whose
// transaction is syncing.
func newBatchOn(prev *batchKV) *batchKV {
	return &batchKV{base: prev, overlay: btree.NewG(16, lessPending)}
}

// release discards the batch's snapshot, once nothing reads through it.
func (b *batchKV) release() {
	if b.snap != nil {
		b.snap.Discard()
		b.snap = nil
	}
}

// rebase makes the batch read from a fresh snapshot of db instead of its
// base. It is called once everything the old base held is durable, so
// that a chain of batches never grows beyond the one syncing.
func (b *batchKV) rebase(db *badger.DB) {
	b.release()
	b.snap = db.NewTransaction(false)
	b.base = readKV{b.snap}
}

// apply writes the overlay into a new Badger transaction, which the
// caller commits. It returns badger.ErrTxnTooBig when the batch does not
// fit one transaction.
func (b *batchKV) apply(db *badger.DB) (*badger.Txn, error) {
	txn := db.NewTransaction(true)
	var err error
	b.overlay.Ascend(func(p pending) bool {
		if p.val == nil {
			err = txn.Delete(p.key)
		} else {
			err = txn.Set(p.key, p.val)
		}
		return err == nil
	})
	if err != nil {
		txn.Discard()
		return nil, err
	}
	return txn, nil
}

func (b *batchKV) get(key []byte) ([]byte, bool, error) {
	if p, ok := b.overlay.Get(pending{key: key}); ok {
		return bytes.Clone(p.val), p.val != nil, nil
	}
	return b.base.get(key)
}

func (b *batchKV) set(key, val []byte) error {
	if len(key) == 0 {
		return badger.ErrEmptyKey
	}
	b.bytes += len(key) + len(val)
	b.overlay.ReplaceOrInsert(pending{key: bytes.Clone(key), val: bytes.Clone(val)})
	return nil
}

func (b *batchKV) del(key []byte) error {
	if len(key) == 0 {
		return badger.ErrEmptyKey
	}
	b.bytes += len(key)
	b.overlay.ReplaceOrInsert(pending{key: bytes.Clone(key)})
	return nil
}

// scan merges the base and the overlay; the overlay wins on equal keys.
func (b *batchKV) scan(prefix, start []byte, fn func(k, v []byte) (bool, error)) error {
	var over []pending
	b.overlay.AscendGreaterOrEqual(pending{key: start}, func(p pending) bool {
		if !bytes.HasPrefix(p.key, prefix) {
			return false
		}
		over = append(over, p)
		return true
	})
	i := 0
	// emitOver sends overlay entries before key (all of them if key is nil).
	emitOver := func(key []byte) (bool, error) {
		for i < len(over) && (key == nil || bytes.Compare(over[i].key, key) < 0) {
			p := over[i]
			i++
			if p.val == nil {
				continue
			}
			if more, err := fn(p.key, p.val); err != nil || !more {
				return false, err
			}
		}
		return true, nil
	}
	stopped := false
	err := b.base.scan(prefix, start, func(k, v []byte) (bool, error) {
		more, err := emitOver(k)
		if err != nil || !more {
			stopped = true
			return false, err
		}
		if i < len(over) && bytes.Equal(over[i].key, k) {
			return true, nil // the overlay's version comes with the next key or at the end
		}
		more, err = fn(k, v)
		stopped = !more
		return more, err
	})
	if err != nil || stopped {
		return err
	}
	_, err = emitOver(nil)
	return err
}
