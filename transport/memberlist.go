package transport

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Memberlist is the production Transport: hashicorp/memberlist supplies
// membership and failure detection, and payloads travel over its reliable
// (TCP) channel. Each peer has a bounded queue drained by one goroutine that
// coalesces whatever is queued into frames of up to MaxMessageSize, so a burst
// of small deltas costs a few connections rather than one each.
//
// Guarantees: a payload is delivered at most once. Payloads in one frame arrive
// in order, but frames travel on separate connections and may be handled
// concurrently, so there is no order across frames. Before Start, incoming
// messages are dropped and membership events are buffered.
// A peer that fails stays in Peers as unreachable until it rejoins; one that
// leaves gracefully is removed. Unreachable is reported when memberlist
// declares the peer dead, after its suspicion timeout: memberlist tells no
// delegate about suspicion, so there is no earlier signal to forward.
type Memberlist struct {
	cfg    MemberlistConfig
	log    *slog.Logger
	events *mailbox[Event]
	stats  memberlistCounters

	stopReconnect chan struct{}
	reconnectDone chan struct{}
	senders       sync.WaitGroup // one per peer queue
	pump          sync.WaitGroup // the event goroutine

	// mu guards what follows. Lock order: memberlist's internal node lock,
	// then mu (memberlist holds it while calling the delegate), so never call
	// into memberlist with mu held.
	keyring *memberlist.Keyring // nil without encryption; safe for concurrent use

	mu      sync.Mutex
	list    *memberlist.Memberlist // set once Create returns; read under mu
	recv    Receiver
	peers   map[string]*mlPeer
	started bool
	closed  bool
}

var _ Transport = (*Memberlist)(nil)

// NewMemberlist binds the gossip port and starts memberlist, alone in its own
// cluster until Join.
func NewMemberlist(cfg MemberlistConfig) (*Memberlist, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Memberlist{
		cfg:           cfg,
		log:           cfg.Logger.With("node", cfg.Name),
		events:        newMailbox[Event](0), // only ever forced
		stopReconnect: make(chan struct{}),
		reconnectDone: make(chan struct{}),
		peers:         make(map[string]*mlPeer),
	}

	mc := memberlist.DefaultLANConfig()
	if cfg.Local {
		mc = memberlist.DefaultLocalConfig()
	}
	mc.Name = cfg.Name
	// A node that comes back under its name at a new address (a container
	// rescheduled with a new IP) may take the name over once the old one
	// has been dead this long; memberlist's default, 0, never allows it.
	mc.DeadNodeReclaimTime = deadNodeReclaimTime
	if len(cfg.SecretKey) > 0 {
		kr, err := memberlist.NewKeyring(append([][]byte{cfg.SecretKey}, cfg.Keys...), cfg.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("transport: memberlist config: keys: %w", err)
		}
		mc.Keyring, m.keyring = kr, kr
	}
	// No compression. memberlist compresses a stream message after it has
	// dialled the peer, and the peer's read deadline (TCPTimeout) runs
	// from the accept: LZW over a frame near MaxMessageSize is the slowest
	// step of a send (15 ms unloaded, 180 ms under the race detector, far
	// more on a loaded machine), so a big frame could outlast the deadline
	// and be dropped. Our frames are compact binary deltas, which LZW
	// barely shrinks (random bytes grow by 40%).
	mc.EnableCompression = false
	mc.Label = cfg.Label
	mc.Logger = memberlistLogger(m.log.With("component", "memberlist"))
	mc.Delegate = delegate{m}
	mc.Events = delegate{m}

	host, port, err := splitHostPort(cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("transport: memberlist config: BindAddr: %w", err)
	}
	nt, err := listen(host, port, mc.Logger)
	if err != nil {
		return nil, err
	}
	mc.BindAddr, mc.BindPort = host, nt.GetAutoBindPort()
	mc.AdvertisePort = mc.BindPort
	if cfg.AdvertiseAddr != "" {
		if mc.AdvertiseAddr, mc.AdvertisePort, err = splitHostPort(cfg.AdvertiseAddr); err != nil {
			_ = nt.Shutdown()
			return nil, fmt.Errorf("transport: memberlist config: AdvertiseAddr: %w", err)
		}
	}
	mc.Transport = nt
	if cfg.Blocked != nil {
		mc.Transport = newBlockingTransport(nt, cfg.Blocked)
	}
	if cfg.tune != nil {
		cfg.tune(mc)
	}

	list, err := memberlist.Create(mc)
	if err != nil {
		_ = mc.Transport.Shutdown()
		return nil, fmt.Errorf("transport: starting memberlist as %q: %w", cfg.Name, err)
	}
	m.mu.Lock()
	m.list = list
	m.mu.Unlock()
	go m.reconnectLoop()
	return m, nil
}

// listen binds memberlist's TCP and UDP listeners. With port 0 the kernel
// picks a TCP port that may be taken for UDP, so retry a few times, as
// memberlist does for its own transport.
func listen(host string, port int, logger *log.Logger) (*memberlist.NetTransport, error) {
	attempts := 1
	if port == 0 {
		attempts = 10
	}
	var err error
	for range attempts {
		var nt *memberlist.NetTransport
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{host},
			BindPort:  port,
			Logger:    logger,
		})
		if err == nil {
			return nt, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, fmt.Errorf("transport: listening on %s: %w", net.JoinHostPort(host, strconv.Itoa(port)), err)
}

func splitHostPort(hostport string) (string, int, error) {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	return host, int(port), nil
}

// Join contacts the seeds (host:port gossip addresses) and merges their
// cluster's membership into ours. It returns how many seeds answered; it
// fails only if none did.
func (m *Memberlist) Join(seeds []string) (int, error) {
	m.mu.Lock()
	list, closed := m.list, m.closed
	m.mu.Unlock()
	if closed {
		return 0, ErrClosed
	}
	n, err := list.Join(seeds)
	if err != nil {
		return n, fmt.Errorf("transport: joining %s: %w", strings.Join(seeds, ","), err)
	}
	return n, nil
}

// GossipAddr is the host:port this node advertises, with the real port when
// BindAddr asked for port 0.
func (m *Memberlist) GossipAddr() string {
	m.mu.Lock()
	list := m.list
	m.mu.Unlock()
	// Not under mu: memberlist takes its node lock here, and its callbacks
	// take mu while holding that lock.
	return list.LocalNode().Address()
}

// LocalName implements Transport.
func (m *Memberlist) LocalName() string { return m.cfg.Name }

// Start implements Transport.
func (m *Memberlist) Start(r Receiver) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := checkStart(m.started, m.closed); err != nil {
		return err
	}
	m.recv, m.started = r, true
	// Events reach the Receiver from this goroutine, never from memberlist's
	// callbacks, which hold memberlist's node lock: a Receiver that calls back
	// into Peers or Send, or is merely slow, must not stall failure detection.
	m.pump.Add(1)
	go func() {
		defer m.pump.Done()
		m.events.drain(r.PeerEvent)
	}()
	return nil
}

// Send implements Transport.
func (m *Memberlist) Send(to string, payload []byte) error {
	msg := bytes.Clone(payload)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := checkSend(m.closed, payload); err != nil {
		return err
	}
	p := m.peers[to]
	if p == nil {
		return fmt.Errorf("%w: %q", ErrUnknownPeer, to)
	}
	// Under mu, so the queue cannot be closed by a concurrent leave: a queue
	// error here can only mean it is full.
	if err := p.queue.put(msg); err != nil {
		return fmt.Errorf("transport: sending to %q: %w", to, err)
	}
	return nil
}

// Peers implements Transport.
func (m *Memberlist) Peers() []Peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := make([]Peer, 0, len(m.peers))
	for name, p := range m.peers {
		ps = append(ps, Peer{Name: name, Addr: p.node.Address(), Reachable: p.reachable, Meta: p.meta})
	}
	return sortPeers(ps)
}

// Close implements Transport: it flushes queued messages, says goodbye to
// reachable peers, broadcasts memberlist's leave, and stops, each step bounded
// by LeaveTimeout.
func (m *Memberlist) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	for _, p := range m.peers {
		p.bye = true
		p.queue.close(false)
	}
	list := m.list
	m.mu.Unlock()

	close(m.stopReconnect)
	<-m.reconnectDone // a rejoin in flight is bounded by memberlist's TCPTimeout

	flushed := make(chan struct{})
	go func() {
		m.senders.Wait()
		close(flushed)
	}()
	select {
	case <-flushed:
	case <-time.After(m.cfg.LeaveTimeout):
		m.log.Warn("transport: closing with unsent messages", "timeout", m.cfg.LeaveTimeout)
	}

	var errs []error
	if err := list.Leave(m.cfg.LeaveTimeout); err != nil {
		errs = append(errs, fmt.Errorf("transport: leaving cluster: %w", err))
	}
	if err := list.Shutdown(); err != nil {
		errs = append(errs, fmt.Errorf("transport: stopping memberlist: %w", err))
	}
	m.events.close(true)
	<-flushed // after Shutdown, senders still dialling fail fast
	m.pump.Wait()
	return errors.Join(errs...)
}
