package transport

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// blockingTransport wraps memberlist's NetTransport so that fault injection
// reaches memberlist itself: packets to and from a blocked gossip address are
// dropped and dials to it fail, so memberlist's real failure detector marks the
// peer dead, and when the block lifts the peer comes back.
//
// Inbound streams cannot be attributed: they arrive from ephemeral ports, not
// from the peer's gossip address. A cut is therefore enforced on the dialling
// side, which is enough when both sides block each other, as in a real split.
// (A one-sided block is invisible to memberlist anyway in clusters of three or
// more: indirect probes through a third node still succeed.)
type blockingTransport struct {
	*memberlist.NetTransport
	blocked func(peerAddr string) bool

	packets  chan *memberlist.Packet
	shutdown chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

var _ memberlist.NodeAwareTransport = (*blockingTransport)(nil)

func newBlockingTransport(inner *memberlist.NetTransport, blocked func(string) bool) *blockingTransport {
	t := &blockingTransport{
		NetTransport: inner,
		blocked:      blocked,
		packets:      make(chan *memberlist.Packet),
		shutdown:     make(chan struct{}),
	}
	t.wg.Add(1)
	go t.filterPackets()
	return t
}

// filterPackets forwards inbound packets unless their source is blocked.
func (t *blockingTransport) filterPackets() {
	defer t.wg.Done()
	in := t.NetTransport.PacketCh()
	for {
		select {
		case p := <-in:
			if t.blocked(p.From.String()) {
				continue
			}
			select {
			case t.packets <- p:
			case <-t.shutdown:
				return
			}
		case <-t.shutdown:
			return
		}
	}
}

// PacketCh returns the filtered packet channel.
func (t *blockingTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// WriteTo drops packets to a blocked address while reporting success, as a
// lossy network would.
func (t *blockingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress is WriteTo for memberlist's node-aware path.
func (t *blockingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.blocked(a.Addr) {
		return time.Now(), nil
	}
	return t.NetTransport.WriteToAddress(b, a)
}

// DialTimeout fails at once for a blocked address.
func (t *blockingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout is DialTimeout for memberlist's node-aware path.
func (t *blockingTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.blocked(a.Addr) {
		return nil, fmt.Errorf("transport: dial %s: blocked by fault injection", a.Addr)
	}
	return t.NetTransport.DialAddressTimeout(a, timeout)
}

// Shutdown stops the listeners first (so the packet loop has nothing left to
// forward), then the filter.
func (t *blockingTransport) Shutdown() error {
	err := t.NetTransport.Shutdown()
	t.stopOnce.Do(func() { close(t.shutdown) })
	t.wg.Wait()
	return err
}
