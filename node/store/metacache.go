package store

import "github.com/lattice-sync/lattice/crdt"

// metaCache holds the meta of every object a commit touches, for the
// length of the commit: a batch of hundreds of writes to a few objects
// reads each object's head once and each context entry it names once, and
// stores what changed once, when the batch ends, instead of once per write.
// The contexts are lazy (meta.go): only the entries the commit's
// requests name are read, and only the ones they changed are written.
type metaCache map[string]*cachedMeta

type cachedMeta struct {
	sm    *storedMeta
	m     crdt.Meta
	dirty bool // changed since read: store it before the commit
}

// get returns a copy of key's meta, which the caller may change freely;
// put keeps the changes.
func (c metaCache) get(txn kv, key string) (crdt.Meta, error) {
	e, ok := c[key]
	if !ok {
		sm, _, err := openMeta(txn, key)
		if err != nil {
			return crdt.Meta{}, err
		}
		e = &cachedMeta{sm: sm, m: sm.m}
		c[key] = e
	}
	return crdt.Meta{Ctx: *e.m.Ctx.Clone(), Types: e.m.Types}, nil
}

// put records key's new meta, which get returned; flush stores it.
func (c metaCache) put(key string, m crdt.Meta) {
	e := c[key]
	e.m, e.dirty = m, true
}

// flush stores every changed meta into txn.
func (c metaCache) flush(txn kv) error {
	for key := range c {
		if err := c.flushKey(txn, key); err != nil {
			return err
		}
	}
	return nil
}

// flushKey stores key's meta now, for a read of the whole object from txn.
func (c metaCache) flushKey(txn kv, key string) error {
	e, ok := c[key]
	if !ok || !e.dirty {
		return nil
	}
	if err := e.sm.store(txn, key, &e.m); err != nil {
		return err
	}
	e.dirty = false
	return nil
}

// smallEntries is the most context entries an object may have for a write
// to answer with its new state: reading the state costs a read per entry.
const smallEntries = 16

// small returns key's whole meta, stored first, if its context has at most
// smallEntries entries; ok is false if it has more.
func (c metaCache) small(txn kv, key string) (m crdt.Meta, ok bool, err error) {
	if err := c.flushKey(txn, key); err != nil {
		return m, false, err
	}
	if e, cached := c[key]; cached && e.sm.head.entries > smallEntries {
		return m, false, nil
	}
	return fullMeta(txn, key)
}
