package store

import (
	"container/list"
	"encoding/json"
	"hash/maphash"
	"sync"

	"github.com/lattice-sync/lattice/crdt"
)

// hotObjects keeps the whole state of the objects REST operations wrote
// lately, joined with every change the committer lands, so that an
// operation on a set or a map is answered from memory instead of read back
// from Badger (a read of every leaf, once per write). It is a cache: an
// object is added only by a read that no commit to its key raced (a change
// counter per stripe of keys tells), kept up to date by land (before the
// writers are acked, so an answer includes its own write), and the least
// recently used goes when there are more than hotMax. Nothing but the REST
// answer reads it.
type hotObjects struct {
	mu      sync.Mutex
	objs    map[string]*list.Element // of *hotObject
	lru     list.List                // most recent first
	changes [hotStripes]uint64       // commits per stripe of keys
	seed    maphash.Seed
}

// hotObject is one kept state. Rendering a value costs the object's size,
// so it has its own lock: a render holds up only the answers and the
// commits of its key. (A full lock, not a read lock: reading an object may
// build its caches, such as a text's index.)
type hotObject struct {
	key string
	mu  sync.Mutex
	o   *crdt.Object
}

// hotMax bounds the objects kept; hotStripes is how many change counters
// the keys share (a commit to any key of a stripe makes a racing read of
// the others not cached, which costs only a later read).
const (
	hotMax     = 1024
	hotStripes = 256
)

func newHotObjects() *hotObjects {
	return &hotObjects{objs: map[string]*list.Element{}, seed: maphash.MakeSeed()}
}

func (h *hotObjects) stripe(key string) int {
	return int(maphash.String(h.seed, key) % hotStripes)
}

// landed joins a commit's changes into the objects kept. The committer
// calls it in commit order, before it acks the commit's writers. A
// change's delta is decoded (a peer's) only for a kept object; one that
// does not decode (a bug) drops the object, which is read again.
func (h *hotObjects) landed(cs []Change) {
	for _, c := range cs {
		h.mu.Lock()
		h.changes[h.stripe(c.Key)]++
		var ho *hotObject
		e, ok := h.objs[c.Key]
		if ok {
			ho = e.Value.(*hotObject)
		}
		h.mu.Unlock()
		if ho == nil {
			continue
		}
		d, err := c.Delta()
		if err != nil {
			h.mu.Lock()
			if h.objs[c.Key] == e {
				h.lru.Remove(e)
				delete(h.objs, c.Key)
			}
			h.mu.Unlock()
			continue
		}
		ho.mu.Lock()
		ho.o.Join(d)
		ho.mu.Unlock()
	}
}

// version is the change counter of key's stripe, to pass to put.
func (h *hotObjects) version(key string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changes[h.stripe(key)]
}

// put keeps o (which the cache then owns) as key's state, read after
// version returned v, unless a commit to the stripe landed since: then o
// may lack it, and is not kept.
func (h *hotObjects) put(key string, o *crdt.Object, v uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.changes[h.stripe(key)] != v {
		return
	}
	o.KeepValueJSON() // an answer renders again only the fields that changed
	if e, ok := h.objs[key]; ok {
		ho := e.Value.(*hotObject)
		ho.mu.Lock()
		ho.o = o
		ho.mu.Unlock()
		h.lru.MoveToFront(e)
		return
	}
	h.objs[key] = h.lru.PushFront(&hotObject{key: key, o: o})
	if h.lru.Len() > hotMax {
		last := h.lru.Back()
		h.lru.Remove(last)
		delete(h.objs, last.Value.(*hotObject).key)
	}
}

// view returns key's type and value if the object is kept.
func (h *hotObjects) view(key string) (crdt.Type, any, bool) {
	var v any
	t, ok := h.with(key, func(o *crdt.Object) { v = o.Value() })
	return t, v, ok
}

// viewJSON returns key's type and its value as JSON if the object is kept:
// what a REST answer sends, rendered without building the value.
func (h *hotObjects) viewJSON(key string) (crdt.Type, json.RawMessage, bool) {
	var v json.RawMessage
	t, ok := h.with(key, func(o *crdt.Object) { v = o.AppendValueJSON(nil) })
	return t, v, ok
}

// with calls fn with key's kept object, under its lock, if it is kept.
func (h *hotObjects) with(key string, fn func(*crdt.Object)) (crdt.Type, bool) {
	h.mu.Lock()
	e, ok := h.objs[key]
	if !ok {
		h.mu.Unlock()
		return 0, false
	}
	h.lru.MoveToFront(e)
	ho := e.Value.(*hotObject)
	h.mu.Unlock()
	ho.mu.Lock()
	defer ho.mu.Unlock()
	fn(ho.o)
	return ho.o.Type(), true
}
