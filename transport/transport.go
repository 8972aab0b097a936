package transport

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MaxMessageSize is the largest payload Send accepts: 1 MiB. Callers chunk
// larger transfers, so that one big state transfer never monopolises a link or
// forces a receiver to buffer an unbounded amount.
const MaxMessageSize = 1 << 20

// MaxMetaSize bounds Peer.Meta: memberlist carries it in every alive
// message, and allows 512 bytes.
const MaxMetaSize = 512

var (
	// ErrTooLarge is returned by Send for a payload over MaxMessageSize.
	ErrTooLarge = errors.New("transport: message exceeds MaxMessageSize")
	// ErrUnknownPeer is returned by Send for a name that is not a current member.
	ErrUnknownPeer = errors.New("transport: unknown peer")
	// ErrClosed is returned by every method of a Transport after Close.
	ErrClosed = errors.New("transport: closed")
	// ErrQueueFull is returned by Send when the bounded queue towards a peer is
	// full: the peer (or the link) is slower than the sender. The message is not
	// queued; the caller relies on anti-entropy rather than on buffering.
	ErrQueueFull = errors.New("transport: send queue full")
)

// EventKind says what changed about a peer.
type EventKind int

const (
	// EventJoin: a peer became a member (or rejoined after leaving).
	EventJoin EventKind = iota + 1
	// EventLeave: a peer left gracefully; it is no longer in Peers.
	EventLeave
	// EventReachable: a known peer can be reached again, after a failure or a
	// healed cut. Nodes run anti-entropy with the peer on this event.
	EventReachable
	// EventUnreachable: a known peer cannot be reached (failure detection or a
	// cut). It stays in Peers with Reachable=false.
	EventUnreachable
)

// String returns the lower-case name of the kind, as used in logs and JSON.
func (k EventKind) String() string {
	switch k {
	case EventJoin:
		return "join"
	case EventLeave:
		return "leave"
	case EventReachable:
		return "reachable"
	case EventUnreachable:
		return "unreachable"
	default:
		return fmt.Sprintf("EventKind(%d)", int(k))
	}
}

// Event is a membership or reachability change of one peer.
type Event struct {
	Kind EventKind
	Peer string
}

func (e Event) String() string { return e.Kind.String() + " " + e.Peer }

// Peer is another member as this node sees it.
type Peer struct {
	Name      string `json:"name"`
	Addr      string `json:"addr"`      // host:port of its gossip address, "" for in-memory
	Reachable bool   `json:"reachable"` // false while failure detection (or a fault-injected cut) says we cannot reach it
	// Meta is what the peer advertises about itself, opaque to the
	// transport (Lattice nodes put their HTTP URL here, for the demo's
	// cluster panel). At most MaxMetaSize bytes.
	Meta string `json:"meta,omitempty"`
}

// Receiver gets what a Transport delivers.
//
// Methods are called from transport goroutines; they must not block for long,
// because they hold up later deliveries. The callee owns payload. PeerEvent
// calls from one Transport are serialised and in order; Receive may run
// concurrently with PeerEvent and, for Memberlist, with other Receive calls.
type Receiver interface {
	Receive(from string, payload []byte)
	PeerEvent(ev Event)
}

// Transport is what every implementation in this package satisfies. Consumers
// (the node) define their own narrower interface; this one exists so that
// wrappers such as Faulty can stack on any implementation.
type Transport interface {
	// LocalName is this node's name, unique in the cluster.
	LocalName() string
	// Start begins delivering to r. It may be called once.
	Start(r Receiver) error
	// Send queues payload for peer "to" and returns without touching the
	// network. It copies payload, so the caller may reuse it. A nil error
	// means queued, not delivered. Errors: ErrTooLarge, ErrUnknownPeer,
	// ErrQueueFull, ErrClosed.
	Send(to string, payload []byte) error
	// Peers is every other known member, sorted by name.
	Peers() []Peer
	// Close leaves gracefully within a bounded time and stops all goroutines.
	// It is safe to call more than once, but not from a Receiver method: it
	// waits for deliveries in progress to finish.
	Close() error
}

// sortPeers orders peers by name, the order Peers promises.
func sortPeers(ps []Peer) []Peer {
	slices.SortFunc(ps, func(a, b Peer) int { return strings.Compare(a.Name, b.Name) })
	return ps
}

// errStarted is returned by a second Start.
var errStarted = errors.New("transport: already started")

// checkStart holds the state checks every Start shares.
func checkStart(started, closed bool) error {
	switch {
	case closed:
		return ErrClosed
	case started:
		return errStarted
	}
	return nil
}

// checkSend holds the argument checks every Send shares, so that all
// implementations report the same error for the same mistake.
func checkSend(closed bool, payload []byte) error {
	if closed {
		return ErrClosed
	}
	if len(payload) > MaxMessageSize {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(payload))
	}
	return nil
}
