package transport

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// MemberlistConfig configures a Memberlist. The zero value of every field but
// Name is usable; each comment gives the default and the reason for it.
type MemberlistConfig struct {
	// Name is this node's name, unique in the cluster and at most 512 bytes.
	// Required: peers address each other by name, and a frame carries it.
	Name string

	// BindAddr is the host:port memberlist listens on, TCP and UDP.
	// Default "0.0.0.0:7946", memberlist's own port, so firewall rules written
	// for memberlist apply. Port 0 picks a free port (tests); GossipAddr reports
	// it.
	BindAddr string

	// AdvertiseAddr is the host:port other nodes use to reach this one.
	// Default "": the bound address, or a private IP when bound to 0.0.0.0.
	// Set it behind NAT or in containers, where the bound address is not the
	// reachable one.
	AdvertiseAddr string

	// SecretKey enables memberlist's gossip encryption (AES-GCM); it must be
	// 16, 24 or 32 bytes and the same on every node. Default nil: no
	// encryption, for development. Production clusters should set it.
	SecretKey []byte

	// Keys are further keys memberlist accepts on incoming gossip, besides
	// SecretKey, which it encrypts with: the middle of a key rotation
	// (SetKeys). Each 16, 24 or 32 bytes. Default nil. Needs SecretKey.
	Keys [][]byte

	// Label is memberlist's cluster label: traffic with a different label is
	// dropped. Default "": none. Set it so two clusters sharing a network
	// cannot merge by mistake.
	Label string

	// Logger receives transport and memberlist logs. Default slog.Default().
	Logger *slog.Logger

	// Local selects memberlist.DefaultLocalConfig timings (faster probes and
	// gossip, for a loopback network in tests) instead of DefaultLANConfig.
	// Default false: LAN timings, which tolerate real network jitter.
	Local bool

	// Blocked, if set, is asked about every peer gossip address (host:port) on
	// every packet and dial, and true drops the traffic. It lets fault injection
	// cut a peer off at the memberlist level so that memberlist's own failure
	// detector declares it dead and later alive again. It must be fast and safe
	// for concurrent use. Block both sides of a cut: inbound streams cannot be
	// attributed to a peer, so they are only stopped at the dialler. Default
	// nil: nothing is blocked.
	Blocked func(peerAddr string) bool

	// Meta is advertised to every peer as Peer.Meta: at most MaxMetaSize
	// bytes. Default nil.
	Meta []byte

	// QueueLen bounds each peer's outbound queue, in messages. Default 4096:
	// several seconds of deltas for an interactive workload, while a dead or
	// slow link still costs bounded memory; beyond it Send returns ErrQueueFull.
	QueueLen int

	// LeaveTimeout bounds Close's goodbye: flushing queues and waiting for the
	// leave broadcast. Default 5 s, long enough for a LAN round and short
	// enough for a container's shutdown grace period.
	LeaveTimeout time.Duration

	// ReconnectInterval is how often to try to rejoin peers that memberlist
	// declared dead. memberlist never probes a dead node again, so without this
	// two sides of a healed partition would stay apart (hashicorp/serf has the
	// same loop). Default 10 s, or 1 s with Local.
	ReconnectInterval time.Duration

	// tune lets in-package tests shorten memberlist's intervals further.
	tune func(*memberlist.Config)
}

const (
	defaultBindAddr          = "0.0.0.0:7946"
	defaultQueueLen          = 4096
	defaultLeaveTimeout      = 5 * time.Second
	defaultReconnectInterval = 10 * time.Second
	localReconnectInterval   = time.Second
)

// withDefaults fills in defaults and checks every field, reporting the first
// bad one precisely.
func (c MemberlistConfig) withDefaults() (MemberlistConfig, error) {
	switch {
	case c.Name == "":
		return c, errors.New("transport: memberlist config: Name is required")
	case len(c.Name) > maxNameLen:
		return c, fmt.Errorf("transport: memberlist config: Name is %d bytes, limit %d", len(c.Name), maxNameLen)
	case len(c.Meta) > MaxMetaSize:
		return c, fmt.Errorf("transport: memberlist config: Meta is %d bytes, limit %d", len(c.Meta), MaxMetaSize)
	case c.QueueLen < 0:
		return c, fmt.Errorf("transport: memberlist config: QueueLen %d is negative", c.QueueLen)
	case c.LeaveTimeout < 0:
		return c, fmt.Errorf("transport: memberlist config: LeaveTimeout %v is negative", c.LeaveTimeout)
	case c.ReconnectInterval < 0:
		return c, fmt.Errorf("transport: memberlist config: ReconnectInterval %v is negative", c.ReconnectInterval)
	case len(c.Keys) > 0 && len(c.SecretKey) == 0:
		return c, errors.New("transport: memberlist config: Keys needs a SecretKey")
	}
	if c.BindAddr == "" {
		c.BindAddr = defaultBindAddr
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.QueueLen == 0 {
		c.QueueLen = defaultQueueLen
	}
	if c.LeaveTimeout == 0 {
		c.LeaveTimeout = defaultLeaveTimeout
	}
	if c.ReconnectInterval == 0 {
		c.ReconnectInterval = defaultReconnectInterval
		if c.Local {
			c.ReconnectInterval = localReconnectInterval
		}
	}
	return c, nil
}

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

// ErrNoEncryption is SetKeys's error on a Memberlist started without a
// SecretKey: memberlist cannot turn encryption on in a running cluster.
var ErrNoEncryption = errors.New("transport: gossip encryption is off; it can only be turned on at start")

// SetKeys makes keys the gossip keyring: every one is accepted on incoming
// gossip, and keys[0] encrypts outgoing gossip; keys installed before and
// not listed are removed. It is how a running cluster rotates its key
// without a restart, in three rounds, each done on every node before the
// next starts (docs/security.md):
//
//  1. SetKeys(old, new): every node accepts new, all still send with old.
//  2. SetKeys(new, old): every node sends with new; old is still accepted
//     from nodes that have not switched yet.
//  3. SetKeys(new): old is no longer accepted.
//
// Skipping a round's "every node" splits the cluster: a node that sends
// with a key its peers do not hold is not heard.
func (m *Memberlist) SetKeys(keys [][]byte) error {
	if m.keyring == nil {
		return ErrNoEncryption
	}
	if len(keys) == 0 {
		return errors.New("transport: SetKeys needs at least one key")
	}
	for _, k := range keys {
		if err := memberlist.ValidateKey(k); err != nil {
			return fmt.Errorf("transport: SetKeys: %w", err)
		}
	}
	for _, k := range keys {
		if err := m.keyring.AddKey(k); err != nil {
			return fmt.Errorf("transport: SetKeys: %w", err)
		}
	}
	if err := m.keyring.UseKey(keys[0]); err != nil {
		return fmt.Errorf("transport: SetKeys: %w", err)
	}
	for _, old := range m.keyring.GetKeys() {
		if !slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, old) }) {
			if err := m.keyring.RemoveKey(old); err != nil {
				return fmt.Errorf("transport: SetKeys: %w", err)
			}
		}
	}
	return nil
}

// KeyCount reports how many gossip keys are installed (0 without
// encryption), for logs: the keys themselves are never logged.
func (m *Memberlist) KeyCount() int {
	if m.keyring == nil {
		return 0
	}
	return len(m.keyring.GetKeys())
}

// MemberlistStats counts Memberlist's traffic, for /metrics and tests.
type MemberlistStats struct {
	FramesSent       uint64 `json:"frames_sent"`       // frames handed to memberlist successfully
	MessagesSent     uint64 `json:"messages_sent"`     // payloads in those frames
	MessagesDropped  uint64 `json:"messages_dropped"`  // payloads dropped: peer unreachable or send failed
	FramesReceived   uint64 `json:"frames_received"`   // well-formed frames received
	MessagesReceived uint64 `json:"messages_received"` // payloads delivered to the Receiver
	BadFrames        uint64 `json:"bad_frames"`        // malformed frames discarded
}

type memberlistCounters struct {
	framesSent, messagesSent, messagesDropped   atomic.Uint64
	framesReceived, messagesReceived, badFrames atomic.Uint64
}

// Stats returns the traffic counters so far.
func (m *Memberlist) Stats() MemberlistStats {
	c := &m.stats
	return MemberlistStats{
		FramesSent:       c.framesSent.Load(),
		MessagesSent:     c.messagesSent.Load(),
		MessagesDropped:  c.messagesDropped.Load(),
		FramesReceived:   c.framesReceived.Load(),
		MessagesReceived: c.messagesReceived.Load(),
		BadFrames:        c.badFrames.Load(),
	}
}

// mlPeer is Memberlist's view of one other node. Guarded by Memberlist.mu.
type mlPeer struct {
	node      memberlist.Node // Name, Addr and Port only: what SendReliable dials
	meta      string
	reachable bool
	leaving   bool // it said goodbye: its coming NotifyLeave is a Leave, not a failure
	bye       bool // we are closing and owe it a goodbye
	queue     *mailbox[[]byte]
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

// sendLoop drains one peer's queue, one frame per batch. A frame that cannot
// be sent is dropped, not retried: the peer is failing, memberlist will say so,
// and anti-entropy repairs the gap when it is back.
func (m *Memberlist) sendLoop(p *mlPeer) {
	var warn dropWarner
	defer m.senders.Done()
	var buf []byte
	for {
		size := 0
		batch, ok := p.queue.next(func(msg []byte) bool {
			size += batchEntrySize(msg)
			return size <= MaxMessageSize
		})
		m.mu.Lock()
		node, reachable, bye, list := p.node, p.reachable, p.bye, m.list
		m.mu.Unlock()
		if !ok {
			if bye && reachable {
				buf = appendLeave(buf[:0], m.cfg.Name)
				if err := list.SendReliable(&node, buf); err != nil {
					m.log.Debug("transport: goodbye not delivered", "peer", node.Name, "err", err)
				}
			}
			return
		}
		if !reachable {
			m.stats.messagesDropped.Add(uint64(len(batch)))
			m.log.Debug("transport: dropping messages to unreachable peer", "peer", node.Name, "count", len(batch))
			continue
		}
		buf = appendBatch(buf[:0], m.cfg.Name, batch)
		if err := list.SendReliable(&node, buf); err != nil {
			m.stats.messagesDropped.Add(uint64(len(batch)))
			warn.drop(m.log, node.Name, len(batch), err)
		} else {
			m.stats.framesSent.Add(1)
			m.stats.messagesSent.Add(uint64(len(batch)))
		}
		if cap(buf) > 64<<10 {
			buf = nil // do not pin a megabyte per idle peer after one big frame
		}
	}
}

// handleFrame decodes an inbound frame. It runs on a memberlist stream
// goroutine and buf is reused after it returns.
func (m *Memberlist) handleFrame(buf []byte) {
	f, err := decodeFrame(buf)
	if err != nil {
		m.stats.badFrames.Add(1)
		m.log.Warn("transport: discarding inbound frame", "err", err)
		return
	}
	m.stats.framesReceived.Add(1)
	m.mu.Lock()
	if f.kind == frameLeave {
		if p := m.peers[f.from]; p != nil && !m.closed {
			p.leaving = true
			if !p.reachable { // memberlist already reported it gone, as a failure
				m.removePeer(f.from, p)
			}
		}
		m.mu.Unlock()
		return
	}
	r := m.recv
	if m.closed {
		r = nil
	}
	m.mu.Unlock()
	if r == nil {
		m.log.Debug("transport: dropping message received before Start or after Close", "from", f.from)
		return
	}
	for p := range f.payloads() {
		m.stats.messagesReceived.Add(1)
		r.Receive(f.from, bytes.Clone(p))
	}
}

// nodeAlive handles memberlist's NotifyJoin and NotifyUpdate. memberlist
// calls NotifyJoin both for a new node and for a dead one that is back, which
// for us are Join and Reachable.
func (m *Memberlist) nodeAlive(n *memberlist.Node) {
	if n.Name == m.cfg.Name {
		return
	}
	node := memberlist.Node{Name: n.Name, Addr: slices.Clone(n.Addr), Port: n.Port}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	p := m.peers[n.Name]
	if p != nil {
		p.meta = string(n.Meta)
	}
	switch {
	case p == nil:
		p = &mlPeer{node: node, meta: string(n.Meta), reachable: true, queue: newMailbox[[]byte](m.cfg.QueueLen)}
		m.peers[n.Name] = p
		m.senders.Add(1)
		go m.sendLoop(p)
		m.emit(EventJoin, n.Name)
	case !p.reachable:
		p.node, p.reachable, p.leaving = node, true, false
		m.emit(EventReachable, n.Name)
	default:
		p.node = node // an update may carry a new address
	}
}

// nodeGone handles memberlist's NotifyLeave, which it calls for a graceful
// leave and for a failure alike; the goodbye frame tells them apart.
func (m *Memberlist) nodeGone(n *memberlist.Node) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.peers[n.Name]
	if p == nil || m.closed {
		return
	}
	switch {
	case p.leaving:
		m.removePeer(n.Name, p)
	case p.reachable:
		p.reachable = false
		m.emit(EventUnreachable, n.Name)
	}
}

// removePeer forgets a peer that left. Called with mu held.
func (m *Memberlist) removePeer(name string, p *mlPeer) {
	delete(m.peers, name)
	p.queue.close(true)
	m.emit(EventLeave, name)
}

// emit queues an event for the Receiver. Called with mu held, so events are
// queued in the order the table changed.
func (m *Memberlist) emit(kind EventKind, peer string) {
	_ = m.events.force(Event{Kind: kind, Peer: peer}) // fails only once closed
}

// reconnectLoop periodically rejoins peers that memberlist declared dead; see
// MemberlistConfig.ReconnectInterval.
func (m *Memberlist) reconnectLoop() {
	defer close(m.reconnectDone)
	tick := time.NewTicker(m.cfg.ReconnectInterval)
	defer tick.Stop()
	for {
		select {
		case <-m.stopReconnect:
			return
		case <-tick.C:
		}
		m.mu.Lock()
		var addrs []string
		for _, p := range m.peers {
			if !p.reachable && !p.leaving {
				addrs = append(addrs, p.node.Address())
			}
		}
		list := m.list
		m.mu.Unlock()
		for _, addr := range addrs {
			select {
			case <-m.stopReconnect:
				return
			default:
			}
			if _, err := list.Join([]string{addr}); err != nil {
				m.log.Debug("transport: reconnect failed", "addr", addr, "err", err)
			}
		}
	}
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
