package lattice

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lattice-sync/lattice/crdt"
)

// pendingDelta is a local change no node has acknowledged yet. Its id is
// the message id it is sent with; a new id is taken whenever its content
// changes, so an ack names exactly one content.
type pendingDelta struct {
	id    uint64
	key   string
	delta *crdt.Object
	conn  *conn // the connection it was last sent on; nil if unsent since
}

func (p *pendingDelta) encode() ([]byte, error) {
	d, err := p.delta.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := binary.AppendUvarint(nil, uint64(len(p.key)))
	b = append(b, p.key...)
	return append(b, d...), nil
}

func (p *pendingDelta) decode(v []byte) error {
	n, k := binary.Uvarint(v)
	if k <= 0 || n > uint64(len(v)-k) {
		return errors.New("bad key length")
	}
	p.key = string(v[k : k+int(n)])
	d, err := crdt.UnmarshalObject(v[k+int(n):])
	if err != nil {
		return fmt.Errorf("delta: %w", err)
	}
	p.delta = d
	return nil
}

// queueLocked adds a local delta to the pending list and records the
// change in b. A delta for a key whose last pending delta is not in flight
// on the live connection is joined into it (a join of deltas is a delta),
// so an offline client holds one pending delta per key, not one per edit.
// The caller holds c.mu.
func (c *Client) queueLocked(key string, delta *crdt.Object, b *batch) {
	for i := len(c.pending) - 1; i >= 0; i-- {
		p := c.pending[i]
		if p.key != key {
			continue
		}
		if p.conn == nil || p.conn != c.conn {
			joined := p.delta.Clone()
			joined.Join(delta)
			b.del = append(b.del, p.id)
			np := &pendingDelta{id: c.nextIDLocked(), key: key, delta: joined}
			// Keep the list in id order: the joined delta moves to the end.
			c.pending = append(append(c.pending[:i:i], c.pending[i+1:]...), np)
			b.put = append(b.put, np)
			return
		}
		break
	}
	p := &pendingDelta{id: c.nextIDLocked(), key: key, delta: delta}
	c.pending = append(c.pending, p)
	b.put = append(b.put, p)
}

// ackLocked drops the pending delta id if it was sent on cn.
func (c *Client) ackLocked(cn *conn, id uint64) bool {
	for i, p := range c.pending {
		if p.id == id && p.conn == cn {
			c.pending = append(c.pending[:i:i], c.pending[i+1:]...)
			return true
		}
	}
	return false
}

// pendingByID finds a pending delta by message id.
func (c *Client) pendingByID(id uint64) *pendingDelta {
	for _, p := range c.pending {
		if p.id == id {
			return p
		}
	}
	return nil
}

// Pending is the number of local deltas no node has acknowledged yet.
func (c *Client) Pending() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int64(len(c.pending))
}
