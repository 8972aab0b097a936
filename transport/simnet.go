package transport

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
)

// SimNet is an in-memory network for deterministic simulation, after
// etcd-io/raft's test network and FoundationDB's simulator. Nothing moves
// by itself: Send only stages a message, and the simulation delivers
// messages one at a time with Step, which picks the message, and whether
// it is lost or duplicated, from one seeded generator. A message stays in
// flight until a Step picks it, however long that takes, so delay and
// reordering come from the same choice. Every call into a Receiver (a
// message or a membership event) is made on the caller's goroutine and is
// followed by AfterDeliver, which the simulation uses to wait until the
// receiving node has finished what the call started; the messages sent
// meanwhile are put in a canonical order before the next pick, so the
// goroutines of a node may send them in any order and a seed still
// replays.
//
// SimNet is for tests. Its methods are safe for concurrent use, but Step,
// Partition, Heal, Start and Close must be called by one goroutine (the
// simulation's), never from a Receiver.
type SimNet struct {
	mu      sync.Mutex
	rng     *rand.Rand
	members map[string]*SimTransport // started, not closed
	group   map[string]int           // partition group by name; absent means 0
	staged  []simMsg                 // sent since the last pick, in any order
	flight  []simMsg                 // in flight, in a canonical order
	loss    float64
	dup     float64
	stats   SimStats

	// AfterDeliver, if set, runs after every call into a Receiver.
	AfterDeliver func()
	// Trace, if set, is told every delivery, drop and event, one line
	// each, in the order they happen.
	Trace func(line string)
}

// SimStats counts what a SimNet did with the messages sent on it.
type SimStats struct {
	Sent, Delivered, Lost, Duplicated, Cut int
}

type simMsg struct {
	from, to string
	payload  []byte
}

// NewSimNet returns an empty network whose choices come from rng.
func NewSimNet(rng *rand.Rand) *SimNet {
	return &SimNet{rng: rng, members: map[string]*SimTransport{}, group: map[string]int{}}
}

// SetFaults sets the chances that a delivered message is lost, and that
// it is duplicated (a copy stays in flight, to be delivered later).
func (n *SimNet) SetFaults(loss, dup float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.loss, n.dup = loss, dup
}

// Stats returns what the network has done so far.
func (n *SimNet) Stats() SimStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// InFlight is how many messages wait for a Step.
func (n *SimNet) InFlight() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.flight) + len(n.staged)
}

// Step delivers, loses or duplicates one message in flight, chosen by the
// generator; false if none was in flight. A message whose ends are apart
// (a partition) or gone is dropped.
func (n *SimNet) Step() bool {
	n.mu.Lock()
	n.settleLocked()
	if len(n.flight) == 0 {
		n.mu.Unlock()
		return false
	}
	i := n.rng.IntN(len(n.flight))
	m := n.flight[i]
	n.flight = slices.Delete(n.flight, i, i+1)
	dst := n.members[m.to]
	var line string
	switch {
	case dst == nil || n.members[m.from] == nil || !n.connectedLocked(m.from, m.to):
		n.stats.Cut++
		line = "cut " + m.String()
		dst = nil
	case n.rng.Float64() < n.loss:
		n.stats.Lost++
		line = "lose " + m.String()
		dst = nil
	default:
		n.stats.Delivered++
		line = "deliver " + m.String()
		if n.rng.Float64() < n.dup {
			n.stats.Duplicated++
			n.flight = append(n.flight, m) // delivered again later
			line += " (duplicated)"
		}
	}
	trace := n.Trace
	n.mu.Unlock()
	if trace != nil {
		trace(line)
	}
	if dst != nil {
		dst.deliver(func(r Receiver) { r.Receive(m.from, bytes.Clone(m.payload)) })
	}
	return true
}

func (m simMsg) String() string {
	h := sha256.Sum256(m.payload)
	return fmt.Sprintf("%s->%s %c %dB %s", m.from, m.to, m.payload[0], len(m.payload), hex.EncodeToString(h[:6]))
}

// settleLocked moves the staged messages into flight in a canonical order
// (by sender, receiver and bytes), so that the order in which a node's
// goroutines sent them does not matter. Called with mu held.
func (n *SimNet) settleLocked() {
	slices.SortFunc(n.staged, func(a, b simMsg) int {
		return cmp.Or(cmp.Compare(a.from, b.from), cmp.Compare(a.to, b.to), bytes.Compare(a.payload, b.payload))
	})
	n.flight = append(n.flight, n.staged...)
	n.staged = n.staged[:0]
}

// Partition splits the network as MemNetwork.Partition does: members in
// different groups see each other Unreachable, and messages between them
// are dropped when a Step picks them. Members named in no group form one
// more group. The events are delivered before Partition returns.
func (n *SimNet) Partition(groups ...[]string) {
	n.mu.Lock()
	before := n.group
	n.group = map[string]int{}
	for i, g := range groups {
		for _, name := range g {
			n.group[name] = i + 1
		}
	}
	var evs []simEvent
	names := n.namesLocked()
	for _, a := range names {
		for _, b := range names {
			if a == b {
				continue
			}
			was, is := before[a] == before[b], n.connectedLocked(a, b)
			switch {
			case was && !is:
				evs = append(evs, simEvent{n.members[a], Event{EventUnreachable, b}})
			case !was && is:
				evs = append(evs, simEvent{n.members[a], Event{EventReachable, b}})
			}
		}
	}
	n.mu.Unlock()
	n.emit(evs)
}

// Heal removes any partition.
func (n *SimNet) Heal() { n.Partition() }

// Connected reports whether a and b are on the same side of the partition.
func (n *SimNet) Connected(a, b string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.connectedLocked(a, b)
}

func (n *SimNet) connectedLocked(a, b string) bool { return n.group[a] == n.group[b] }

// namesLocked lists the members in order. Called with mu held.
func (n *SimNet) namesLocked() []string {
	names := make([]string, 0, len(n.members))
	for name := range n.members {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

type simEvent struct {
	to *SimTransport
	ev Event
}

// emit delivers events in order, each followed by AfterDeliver.
func (n *SimNet) emit(evs []simEvent) {
	for _, e := range evs {
		if n.Trace != nil {
			n.Trace(fmt.Sprintf("event %s: %s", e.to.name, e.ev))
		}
		e.to.deliver(func(r Receiver) { r.PeerEvent(e.ev) })
	}
}

// Add creates a member named name; it joins when it Starts. A name may be
// added again after its transport closed (a restarted node).
func (n *SimNet) Add(name string) *SimTransport {
	return &SimTransport{net: n, name: name}
}

// SimTransport is one member of a SimNet.
type SimTransport struct {
	net  *SimNet
	name string

	// guarded by net.mu
	recv            Receiver
	started, closed bool
}

var _ Transport = (*SimTransport)(nil)

// LocalName implements Transport.
func (t *SimTransport) LocalName() string { return t.name }

// deliver calls f with t's receiver, unless t has closed, then runs
// AfterDeliver.
func (t *SimTransport) deliver(f func(Receiver)) {
	n := t.net
	n.mu.Lock()
	r := t.recv
	if t.closed {
		r = nil
	}
	after := n.AfterDeliver
	n.mu.Unlock()
	if r == nil {
		return
	}
	f(r)
	if after != nil {
		after()
	}
}

// Start implements Transport: t joins, sees a Join for every member (and
// Unreachable for those across a partition), and they see its Join.
func (t *SimTransport) Start(r Receiver) error {
	n := t.net
	n.mu.Lock()
	if err := checkStart(t.started, t.closed); err != nil {
		n.mu.Unlock()
		return err
	}
	if n.members[t.name] != nil {
		n.mu.Unlock()
		return fmt.Errorf("transport: SimNet already has a member %q", t.name)
	}
	t.started, t.recv = true, r
	var evs []simEvent
	for _, name := range n.namesLocked() {
		o := n.members[name]
		evs = append(evs, simEvent{t, Event{EventJoin, name}}, simEvent{o, Event{EventJoin, t.name}})
		if !n.connectedLocked(t.name, name) {
			evs = append(evs, simEvent{t, Event{EventUnreachable, name}}, simEvent{o, Event{EventUnreachable, t.name}})
		}
	}
	n.members[t.name] = t
	n.mu.Unlock()
	n.emit(evs)
	return nil
}

// Send implements Transport: the message is staged for a later Step.
func (t *SimTransport) Send(to string, payload []byte) error {
	n := t.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := checkSend(t.closed, payload); err != nil {
		return err
	}
	if n.members[to] == nil || to == t.name || !t.started {
		return fmt.Errorf("%w: %q", ErrUnknownPeer, to)
	}
	if len(payload) == 0 {
		return nil // nothing to deliver
	}
	n.stats.Sent++
	n.staged = append(n.staged, simMsg{from: t.name, to: to, payload: bytes.Clone(payload)})
	return nil
}

// Peers implements Transport.
func (t *SimTransport) Peers() []Peer {
	n := t.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if !t.started || t.closed {
		return nil
	}
	var ps []Peer
	for _, name := range n.namesLocked() {
		if name != t.name {
			ps = append(ps, Peer{Name: name, Reachable: n.connectedLocked(t.name, name)})
		}
	}
	return ps
}

// Close implements Transport: t leaves (the others see EventLeave) and
// messages to or from it still in flight are dropped when picked. The
// name may then be added again.
func (t *SimTransport) Close() error {
	n := t.net
	n.mu.Lock()
	if t.closed {
		n.mu.Unlock()
		return nil
	}
	t.closed = true
	if !t.started || n.members[t.name] != t {
		n.mu.Unlock()
		return nil
	}
	delete(n.members, t.name)
	var evs []simEvent
	for _, name := range n.namesLocked() {
		evs = append(evs, simEvent{n.members[name], Event{EventLeave, t.name}})
	}
	n.mu.Unlock()
	n.emit(evs)
	return nil
}
