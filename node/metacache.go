package node

import "github.com/lattice-sync/lattice/crdt"

// metaCache holds the meta of every object a commit touches, for the
// length of the commit: a batch of hundreds of writes to a few objects
// decodes each object's meta once and stores it once, when the batch ends,
// instead of once per write.
type metaCache map[string]*cachedMeta

type cachedMeta struct {
	m     crdt.Meta
	dirty bool // changed since read: store it before the commit
}

// get returns a copy of key's meta, which the caller may change freely;
// put keeps the changes.
func (c metaCache) get(txn kv, key string) (crdt.Meta, error) {
	e, ok := c[key]
	if !ok {
		m, _, err := loadMeta(txn, key)
		if err != nil {
			return m, err
		}
		e = &cachedMeta{m: m}
		c[key] = e
	}
	return crdt.Meta{Ctx: *e.m.Ctx.Clone(), Types: e.m.Types}, nil
}

// put records key's new meta; flush stores it.
func (c metaCache) put(key string, m crdt.Meta) {
	c[key] = &cachedMeta{m: m, dirty: true}
}

// flush stores every changed meta into txn.
func (c metaCache) flush(txn kv) error {
	for key, e := range c {
		if !e.dirty {
			continue
		}
		if err := storeMeta(txn, key, &e.m); err != nil {
			return err
		}
		e.dirty = false
	}
	return nil
}

// flushKey stores key's meta now, for a read of the whole object from txn.
func (c metaCache) flushKey(txn kv, key string) error {
	e, ok := c[key]
	if !ok || !e.dirty {
		return nil
	}
	if err := storeMeta(txn, key, &e.m); err != nil {
		return err
	}
	e.dirty = false
	return nil
}
