package lattice

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
)

// A refused delta: protocol.RetryNever codes mean the node refused its
// content, and it leaves the pending list (the local replica keeps the
// change: a CRDT edit cannot be taken back; the error handler hears which
// key). protocol.RetryLater codes are refusals for timing (unseen_dots: the
// client read writes from a node further ahead, and replication brings them
// here): the delta is sent again on the same connection after retryDelay. A
// code that is neither (one a later version may add) leaves the delta
// pending, not sent again on this connection: the next one tries again.

const retryDelay = time.Second

// handle processes one message from the node of cn.
func (c *Client) handle(cn *conn, data []byte) {
	var m inMsg
	if err := json.Unmarshal(data, &m); err != nil {
		c.report("bad_json", fmt.Sprintf("%s sent a frame that is not a JSON object: %v", cn.url, err), "")
		return
	}
	// Decode states before taking the lock.
	var states []remoteState
	incomplete := false // a snapshot chunk with an object that does not decode answers nothing
	switch m.T {
	case protocol.Snapshot:
		for _, o := range m.Objects {
			d, err := crdt.UnmarshalObjectJSON(o.State)
			if err != nil {
				c.report("invalid_delta", fmt.Sprintf("snapshot of %q from %s: %v", o.Key, cn.url, err), o.Key)
				incomplete = true
				continue
			}
			states = append(states, remoteState{o.Key, d})
		}
	case protocol.Delta:
		d, err := crdt.UnmarshalObjectJSON(m.Delta)
		if err != nil || m.Key == "" {
			c.report("invalid_delta", fmt.Sprintf("delta of %q from %s: %v", m.Key, cn.url, err), m.Key)
			return
		}
		states = append(states, remoteState{m.Key, d})
	}
	c.handleMsg(cn, &m, states, incomplete)
}

// handleMsg processes a message decoded from either encoding, with the
// states it carries decoded; incomplete says a snapshot page lost some.
func (c *Client) handleMsg(cn *conn, m *inMsg, states []remoteState, incomplete bool) {
	if c.set.binary && m.Cursor != nil && (m.T == protocol.Catchup || m.T == protocol.Snapshot && m.Done) {
		cn.sawCursor(m.Cursor)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != cn || c.closed {
		return // a connection we dropped: nothing it says counts
	}
	var b batch
	switch m.T {
	case protocol.Welcome:
		if m.Cluster != "" && c.cluster != "" && m.Cluster != c.cluster {
			cn.fatal = fmt.Errorf("%w: %s is in cluster %s, this replica synced with cluster %s", ErrWrongCluster, cn.url, m.Cluster, c.cluster)
			c.reportLocked("wrong_cluster", cn.fatal.Error(), "")
			return
		}
		if m.Cluster != "" && c.cluster == "" {
			c.cluster = m.Cluster
			b.state = c.stateLocked()
		}
		cn.welcomed = true
		cn.node = m.Node
		cn.resumes = slices.Contains(m.Feats, protocol.FeatureSnapshotResume)
		cn.empties = slices.Contains(m.Feats, protocol.FeatureEmptySub)
		c.attempt = 0
		c.stats.welcomes++
		c.setStatusLocked(StatusOnline)
		cn.heard.Store(time.Now().UnixMilli())
		// Everything pending goes again on the new connection; the writer
		// starts right after this and sends subs first.
		for _, p := range c.pending {
			if p.conn != cn {
				p.conn = nil
			}
		}
	case protocol.Snapshot:
		c.joinLocked(states, &b)
		if t, ok := cn.subs[derefU(m.Sub)]; ok && m.Sub != nil && !incomplete {
			// Where the snapshot continues should this connection drop;
			// a page that did not decode is sent again from the last one.
			if m.Done {
				delete(c.resume, t)
			} else if m.Resume != nil {
				c.resume[t] = m.Resume
			}
		}
		if m.Done && !incomplete {
			c.stats.snapshots++
			if t, ok := cn.subs[derefU(m.Sub)]; ok && m.Sub != nil {
				cn.answered[t] = true
			}
			c.adoptCursorLocked(cn, m.Cursor, &b)
		}
	case protocol.Catchup:
		c.stats.catchups++
		if t, ok := cn.subs[derefU(m.Sub)]; ok && m.Sub != nil {
			cn.answered[t] = true
		}
		c.adoptCursorLocked(cn, m.Cursor, &b)
	case protocol.Delta:
		c.joinLocked(states, &b)
		c.adoptCursorLocked(cn, m.Cursor, &b)
	case protocol.Resync:
		// Deltas were dropped: until the snapshot that follows is done,
		// new cursors do not cover this subscription.
		c.stats.resyncs++
		if t, ok := cn.subs[derefU(m.Sub)]; ok && m.Sub != nil {
			cn.answered[t] = false
		}
	case protocol.Ack:
		if id, ok := m.id(); ok && c.ackLocked(cn, id) {
			c.stats.acks++
			b.del = append(b.del, id)
			cn.kick() // room in flight
		}
	case protocol.Error:
		c.nodeErrorLocked(cn, m, &b)
	case protocol.Pong:
	case protocol.Presence:
		c.onPresenceLocked(m)
	default:
		// Unknown types are ignored, as unknown fields are: a later minor
		// version may add them.
	}
	if !b.empty() {
		// Remote state is not synced to disk at once: a crash loses it
		// together with the cursor that covers it, so resuming resends it.
		if err := c.store.write(&b, false); err != nil {
			c.reportLocked("store", err.Error(), "")
		}
	}
	c.broadcastLocked()
}

type remoteState struct {
	key string
	obj *crdt.Object
}

func derefU(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

// joinLocked joins states from a node into the replica, moves the hybrid
// clock past their timestamps, and fires change handlers.
func (c *Client) joinLocked(states []remoteState, b *batch) {
	for _, s := range states {
		obj := c.objects[s.key]
		before := "null"
		if obj == nil {
			obj = crdt.NewObject()
			c.objects[s.key] = obj
		} else {
			before = valueJSON(obj)
		}
		snap := takeSnapshot(obj)
		obj.Join(s.obj)
		b.object(s.key, obj)
		// Later local writes must rank after what this replica has seen,
		// even if its wall clock is behind.
		if ts := maxTimestamp(s.obj); ts.Wall > 0 {
			c.clock.Update(time.Now().UnixMilli(), ts)
		}
		if obj.Type() != 0 {
			c.changedLocked(s.key, obj, before, snap, false)
		}
	}
	if len(states) > 0 {
		b.state = c.stateLocked()
	}
}

func maxTimestamp(o *crdt.Object) crdt.Timestamp {
	var m crdt.Timestamp
	_ = o.Range("", "", func(_ string, es []crdt.Entry) error {
		for _, e := range es {
			if e.TS.Compare(m) > 0 {
				m = e.TS
			}
		}
		return nil
	})
	return m
}

// nodeErrorLocked handles an error message: a refused delta is dropped or
// retried, a refused subscription no longer holds up Sync, and the error
// handler hears of it.
func (c *Client) nodeErrorLocked(cn *conn, m *inMsg, b *batch) {
	key := ""
	if id, ok := m.id(); ok {
		if p := c.pendingByID(id); p != nil {
			key = p.key
			if protocol.RetryOf(m.Code) == protocol.RetryNever {
				for i, q := range c.pending {
					if q == p {
						c.pending = append(c.pending[:i:i], c.pending[i+1:]...)
						break
					}
				}
				b.del = append(b.del, p.id)
				cn.kick()
			} else if p.conn == cn && protocol.RetryOf(m.Code) == protocol.RetryLater {
				time.AfterFunc(retryDelay, func() {
					c.mu.Lock()
					defer c.mu.Unlock()
					if p.conn == cn && c.conn == cn {
						p.conn = nil
						cn.kick()
					}
				})
			}
		} else if t, ok := cn.subs[id]; ok {
			cn.refused[t] = m.Code
			key = t[2:]
		}
	}
	c.reportLocked(m.Code, m.Message, key)
}
