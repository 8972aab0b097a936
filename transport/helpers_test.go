package transport

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/internal/testkit"
)

// message is one delivery seen by a recorder.
type message struct {
	from    string
	payload string
}

// recorder is a Receiver that remembers everything, for assertions.
type recorder struct {
	mu     sync.Mutex
	msgs   []message
	events []Event
}

var _ Receiver = (*recorder)(nil)

func (r *recorder) Receive(from string, payload []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, message{from, string(payload)})
}

func (r *recorder) PeerEvent(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) messages() []message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// payloadsFrom lists payloads from one sender, in arrival order.
func (r *recorder) payloadsFrom(from string) []string {
	var out []string
	for _, m := range r.messages() {
		if m.from == from {
			out = append(out, m.payload)
		}
	}
	return out
}

func (r *recorder) hasEvent(ev Event) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.events, ev)
}

// eventsAbout lists the kinds of events about one peer, in order.
func (r *recorder) eventsAbout(peer string) []EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []EventKind
	for _, ev := range r.events {
		if ev.Peer == peer {
			out = append(out, ev.Kind)
		}
	}
	return out
}

// eventually waits until cond holds (testkit.Await), failing the test
// with the message after timeout.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	testkit.Await(t, timeout, fmt.Sprintf(format, args...), func() (bool, string) { return cond(), "" })
}

// peerState finds name in ps.
func peerState(ps []Peer, name string) (Peer, bool) {
	i := slices.IndexFunc(ps, func(p Peer) bool { return p.Name == name })
	if i < 0 {
		return Peer{}, false
	}
	return ps[i], true
}

// reachable reports whether t lists name as a reachable peer.
func reachable(t Transport, name string) bool {
	p, ok := peerState(t.Peers(), name)
	return ok && p.Reachable
}

// fakeTransport is a synchronous inner Transport for Faulty: it records every
// Send in order, so Faulty's decisions can be compared exactly.
type fakeTransport struct {
	name  string
	peers []Peer

	mu     sync.Mutex
	sent   []message // from is the destination here
	recv   Receiver
	closed bool
}

var _ Transport = (*fakeTransport)(nil)

func newFake(name string, peers ...string) *fakeTransport {
	ft := &fakeTransport{name: name}
	for _, p := range peers {
		ft.peers = append(ft.peers, Peer{Name: p, Reachable: true})
	}
	return ft
}

func (ft *fakeTransport) LocalName() string { return ft.name }

func (ft *fakeTransport) Start(r Receiver) error {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.recv = r
	return nil
}

func (ft *fakeTransport) Send(to string, payload []byte) error {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if err := checkSend(ft.closed, payload); err != nil {
		return err
	}
	ft.sent = append(ft.sent, message{to, string(payload)})
	return nil
}

func (ft *fakeTransport) Peers() []Peer { return slices.Clone(ft.peers) }

func (ft *fakeTransport) Close() error {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.closed = true
	return nil
}

func (ft *fakeTransport) sentPayloads() []string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	out := make([]string, len(ft.sent))
	for i, m := range ft.sent {
		out[i] = m.payload
	}
	return out
}

func numbered(i int) []byte { return fmt.Appendf(nil, "m%04d", i) }
