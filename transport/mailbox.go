package transport

import "sync"

// mailbox is a bounded FIFO with exactly one consumer goroutine. Producers
// never block: put fails with ErrQueueFull instead, which is how every queue in
// this package stays bounded without ever stalling a caller (or a memberlist
// callback that holds memberlist's own locks).
type mailbox[T any] struct {
	limit int
	ready chan struct{} // capacity 1: "there may be items", coalesced
	done  chan struct{} // closed by close

	mu     sync.Mutex
	items  []T
	closed bool
}

func newMailbox[T any](limit int) *mailbox[T] {
	return &mailbox[T]{
		limit: limit,
		ready: make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
}

// put appends v, or reports ErrQueueFull or ErrClosed.
func (m *mailbox[T]) put(v T) error { return m.add(v, false) }

// force appends v even past the limit. It is for membership events: they are
// few (bounded by membership changes, not by traffic), and losing one could
// leave a node believing a healed peer is still unreachable.
func (m *mailbox[T]) force(v T) error { return m.add(v, true) }

func (m *mailbox[T]) add(v T, force bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if !force && len(m.items) >= m.limit {
		return ErrQueueFull
	}
	m.items = append(m.items, v)
	select {
	case m.ready <- struct{}{}:
	default: // a wake-up is already pending
	}
	return nil
}

// next blocks until there is at least one item, then removes and returns a
// prefix of the queue. With more == nil that is everything queued; otherwise
// more sees the items in order (and may keep state, which is how a consumer
// bounds a batch by bytes) and the batch ends before the first item it
// rejects, except that the first item is always taken. After close, next
// returns what was queued before close and then ok=false, unless close
// discarded it.
func (m *mailbox[T]) next(more func(T) bool) (batch []T, ok bool) {
	for {
		m.mu.Lock()
		if n := len(m.items); n > 0 {
			take := n
			if more != nil {
				take = 1
				if more(m.items[0]) {
					for take < n && more(m.items[take]) {
						take++
					}
				}
			}
			batch = m.items[:take:take]
			m.items = m.items[take:]
			if len(m.items) == 0 {
				m.items = nil // let the backing array go instead of sliding along it
			}
			m.mu.Unlock()
			return batch, true
		}
		closed := m.closed
		m.mu.Unlock()
		if closed {
			return nil, false
		}
		select {
		case <-m.ready:
		case <-m.done:
		}
	}
}

// drain hands every item to fn, in order, until the mailbox is closed and
// empty. It is the body of a mailbox's consumer goroutine.
func (m *mailbox[T]) drain(fn func(T)) {
	for {
		batch, ok := m.next(nil)
		if !ok {
			return
		}
		for _, v := range batch {
			fn(v)
		}
	}
}

// close stops further puts. With discard, queued items are dropped; without,
// the consumer still receives them before next reports ok=false.
func (m *mailbox[T]) close(discard bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	if discard {
		m.items = nil
	}
	close(m.done)
}
