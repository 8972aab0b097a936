package lattice

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// tcpProxy sits between a client and a node. It forwards everything the
// client sends; what the node sends it forwards until swallow is set, and
// then discards, so the node's acks never arrive.
type tcpProxy struct {
	t       *testing.T
	ln      net.Listener
	target  string
	swallow atomic.Bool
	cut     atomic.Int64 // if > 0, the next connection ends after the node sent that many bytes
	mu      sync.Mutex
	conns   []net.Conn
	closed  bool
}

func newProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, ln: ln, target: target}
	go p.accept()
	t.Cleanup(p.drop)
	return p
}

func (p *tcpProxy) url() string { return "ws://" + p.ln.Addr().String() + "/v1/ws" }

func (p *tcpProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		n, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			n.Close()
			return
		}
		p.conns = append(p.conns, c, n)
		p.mu.Unlock()
		go func() {
			_, _ = io.Copy(n, c)
			n.Close()
		}()
		budget := p.cut.Swap(0)
		go func() {
			buf := make([]byte, 32<<10)
			for {
				k, err := n.Read(buf)
				if budget > 0 {
					if int64(k) >= budget {
						_, _ = c.Write(buf[:budget])
						n.Close()
						break
					}
					budget -= int64(k)
				}
				if k > 0 && !p.swallow.Load() {
					if _, werr := c.Write(buf[:k]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			c.Close()
		}()
	}
}

// drop closes the proxy and every connection through it.
func (p *tcpProxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}
