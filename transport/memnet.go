package transport

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
)

// memInboxLen bounds each MemTransport's inbox, in messages, as Memberlist's
// QueueLen bounds its per-peer queues: a receiver that stops draining makes
// senders see ErrQueueFull instead of growing memory without bound.
const memInboxLen = 8192

// MemNetwork is an in-process network of MemTransports, for tests of anything
// built on Transport. It is deterministic in what it delivers: there is no
// loss, duplication or reordering unless a Faulty adds it, and a partition
// drops exactly the messages that cross it. Use Memberlist for real networks
// and tests of memberlist integration; use MemNetwork (plus Faulty) for fast,
// repeatable multi-node logic tests.
type MemNetwork struct {
	mu      sync.Mutex
	members map[string]*MemTransport // added and not closed
	group   map[string]int           // partition group by name; absent means 0
}

// NewMemNetwork returns an empty network with no partition.
func NewMemNetwork() *MemNetwork {
	return &MemNetwork{members: make(map[string]*MemTransport), group: make(map[string]int)}
}

// MemTransport is one member of a MemNetwork. It joins the network when it
// Starts (the others then see EventJoin) and leaves on Close (EventLeave).
// Delivery is asynchronous, by one goroutine per destination, and FIFO for
// each sender→receiver link; events and messages share that queue, so a Join
// is seen before the joiner's first message.
type MemTransport struct {
	net     *MemNetwork
	name    string
	inbox   *mailbox[memDelivery]
	done    chan struct{} // closed when the delivery goroutine exits
	stopped atomic.Bool   // set by Close: deliver nothing more

	started, closed bool   // guarded by net.mu
	meta            string // guarded by net.mu
}

// SetMeta sets what t advertises as Peer.Meta to the others.
func (t *MemTransport) SetMeta(meta string) {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	t.meta = meta
}

// memDelivery is a message, or an event when ev.Kind is set.
type memDelivery struct {
	ev      Event
	from    string
	payload []byte
}

var _ Transport = (*MemTransport)(nil)

// Add creates a member named name. It panics if a member of that name is
// already on the network: that is a bug in the test, not a runtime condition.
func (n *MemNetwork) Add(name string) *MemTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, dup := n.members[name]; dup {
		panic(fmt.Sprintf("transport: MemNetwork already has a member %q", name))
	}
	t := &MemTransport{net: n, name: name, inbox: newMailbox[memDelivery](memInboxLen), done: make(chan struct{})}
	n.members[name] = t
	return t
}

// Partition splits the network: members in different groups cannot exchange
// messages and see each other Unreachable. Members named in no group form one
// more group together. Messages already queued still arrive, as packets in
// flight would. Partition replaces any earlier partition.
func (n *MemNetwork) Partition(groups ...[]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	before := n.group
	n.group = make(map[string]int)
	for i, g := range groups {
		for _, name := range g {
			n.group[name] = i + 1
		}
	}
	for _, a := range n.members {
		for _, b := range n.members {
			if !a.live() || !b.live() || a == b {
				continue
			}
			was, is := before[a.name] == before[b.name], n.connected(a.name, b.name)
			switch {
			case was && !is:
				a.event(EventUnreachable, b.name)
			case !was && is:
				a.event(EventReachable, b.name)
			}
		}
	}
}

// Heal removes any partition; members that were apart see EventReachable.
func (n *MemNetwork) Heal() { n.Partition() }

// connected reports whether a and b are on the same side. Called with mu held.
func (n *MemNetwork) connected(a, b string) bool { return n.group[a] == n.group[b] }

// live reports whether t is a visible member. Called with net.mu held.
func (t *MemTransport) live() bool { return t.started && !t.closed }

// event queues an event for t. Called with net.mu held, which orders events.
func (t *MemTransport) event(kind EventKind, peer string) {
	_ = t.inbox.force(memDelivery{ev: Event{Kind: kind, Peer: peer}}) // fails only once closed
}

// LocalName implements Transport.
func (t *MemTransport) LocalName() string { return t.name }

// Start implements Transport: t becomes visible, sees a Join for every live
// member (and Unreachable for those across a partition), and they see its
// Join likewise.
func (t *MemTransport) Start(r Receiver) error {
	n := t.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := checkStart(t.started, t.closed); err != nil {
		return err
	}
	t.started = true
	go func() {
		defer close(t.done)
		t.inbox.drain(func(d memDelivery) {
			switch {
			case t.stopped.Load(): // closed: drop the rest of the batch
			case d.ev.Kind != 0:
				r.PeerEvent(d.ev)
			default:
				r.Receive(d.from, d.payload)
			}
		})
	}()
	for _, o := range n.members {
		if o == t || !o.live() {
			continue
		}
		t.event(EventJoin, o.name)
		o.event(EventJoin, t.name)
		if !n.connected(t.name, o.name) {
			t.event(EventUnreachable, o.name)
			o.event(EventUnreachable, t.name)
		}
	}
	return nil
}

// Send implements Transport. A message across a partition is dropped
// silently, as the network would; Send still returns nil.
func (t *MemTransport) Send(to string, payload []byte) error {
	msg := bytes.Clone(payload)
	n := t.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := checkSend(t.closed, payload); err != nil {
		return err
	}
	dst := n.members[to]
	if dst == nil || dst == t || !dst.live() || !t.started {
		return fmt.Errorf("%w: %q", ErrUnknownPeer, to)
	}
	if !n.connected(t.name, to) {
		return nil
	}
	if err := dst.inbox.put(memDelivery{from: t.name, payload: msg}); err != nil {
		return fmt.Errorf("transport: sending to %q: %w", to, err)
	}
	return nil
}

// Peers implements Transport.
func (t *MemTransport) Peers() []Peer {
	n := t.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if !t.live() {
		return nil
	}
	var ps []Peer
	for _, o := range n.members {
		if o != t && o.live() {
			ps = append(ps, Peer{Name: o.name, Reachable: n.connected(t.name, o.name), Meta: o.meta})
		}
	}
	return sortPeers(ps)
}

// Close implements Transport: t leaves the network (the others see
// EventLeave), undelivered messages to t are discarded, and its goroutine
// stops. The name may then be added again.
func (t *MemTransport) Close() error {
	n := t.net
	n.mu.Lock()
	if t.closed {
		n.mu.Unlock()
		return nil
	}
	wasLive := t.live()
	t.closed = true
	t.stopped.Store(true)
	delete(n.members, t.name)
	if wasLive {
		for _, o := range n.members {
			if o.live() {
				o.event(EventLeave, t.name)
			}
		}
	}
	t.inbox.close(true)
	n.mu.Unlock()
	if wasLive {
		<-t.done
	}
	return nil
}
