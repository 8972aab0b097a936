package transport

import (
	"bytes"
	"slices"
	"time"

	"github.com/hashicorp/memberlist"
)

// Peers of the memberlist transport: one send queue and goroutine per peer,
// frames in, and membership events (alive, gone, reconnect).

// mlPeer is Memberlist's view of one other node. Guarded by Memberlist.mu.
type mlPeer struct {
	node      memberlist.Node // Name, Addr and Port only: what SendReliable dials
	meta      string
	reachable bool
	leaving   bool // it said goodbye: its coming NotifyLeave is a Leave, not a failure
	bye       bool // we are closing and owe it a goodbye
	queue     *mailbox[[]byte]
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
