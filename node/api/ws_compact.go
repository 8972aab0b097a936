package api

import (
	"encoding/json"
	"fmt"

	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/frames"
	"github.com/lattice-sync/lattice/internal/protocol"
)

// The compact binary form ("encoding":"binary2", internal/frames): the
// writer sends every live change queued for the connection in one frame
// and one write; the reader takes client frames of several deltas.

// Bounds on one live frame: it ends at whichever comes first.
const (
	maxFrameItems = frames.MaxItems
	maxFrameBytes = 256 << 10
)

// compactItem is lc's item, split once for every compact session.
// Its delta is the one clients get (forClients).
func (lc *liveChange) compactItem(n *Backend) (*frames.Item, error) {
	d, err := lc.forClients(n)
	if err != nil {
		return nil, err
	}
	lc.itemOnce.Do(func() { lc.item, lc.itemErr = frames.NewItem(lc.key, d, itemClock(n, d)) })
	return &lc.item, lc.itemErr
}

// ownItem is the item of d, a live delta of key with the bases a
// connection read itself (liveFor).
func ownItem(n *Backend, key string, d *crdt.Object) (*frames.Item, error) {
	it, err := frames.NewItem(key, d, itemClock(n, d))
	return &it, err
}

// itemClock is the clock a delta goes with in a compact frame: the wall
// time of its newest timestamp, which the node has seen (so it is a
// reading a receiver may fold into its clock) and against which its
// timestamps take a byte or two; the node's clock for a delta without
// timestamps.
func itemClock(n *Backend, d *crdt.Object) crdt.Timestamp {
	var wall int64
	_ = d.Range("", "", func(_ string, es []crdt.Entry) error {
		for _, e := range es {
			wall = max(wall, e.TS.Wall)
		}
		return nil
	})
	if wall == 0 {
		return n.Store.Now()
	}
	return crdt.Timestamp{Wall: wall}
}

// writeLiveBatch writes first and, when drain, every live change queued
// behind it as one frame. A message of another kind it meets is written
// after the frame, so the queue's order holds. Only the writer loop, which
// has just taken first from the head of the queue, drains: a change
// written from elsewhere (a replay of messages taken from the queue) may
// have others before it still to write, whose changes the frame's cursor
// would claim.
func (c *wsConn) writeLiveBatch(first *liveChange, drain bool) error {
	var (
		items []*frames.Item
		size  int
		last  *wsCursor
		held  *wsOut
		lc    = first
	)
	for {
		if want, own := c.liveFor(lc.key); want {
			d, err := c.clientDelta(lc, own)
			if err != nil {
				return err // a store read failed: the client resyncs on its next connection
			}
			var it *frames.Item
			if own {
				it, err = ownItem(c.n, lc.key, d)
			} else {
				it, err = lc.compactItem(c.n)
			}
			if err != nil {
				_ = c.skipBad(lc.key, err)
			} else {
				items = append(items, it)
				size += len(it.Body) + len(it.Key)
			}
		}
		last = lc.cursor
		if !drain || len(items) >= maxFrameItems || size >= maxFrameBytes {
			break
		}
		select {
		case m := <-c.send:
			if m.kind == outLive {
				lc = m.live
				continue
			}
			held = &m
		default:
		}
		break
	}
	if len(items) > 0 {
		if err := c.writeCompactLive(last, items); err != nil {
			return err
		}
		c.claim = last
	}
	if held != nil {
		return c.write(*held)
	}
	return nil
}

// writeCompactLive writes one live frame of items, with cursor.
func (c *wsConn) writeCompactLive(cursor *wsCursor, items []*frames.Item) error {
	b := c.fw.AppendLive(nil, cursor.vv, items)
	if err := c.writeFrame(websocket.BinaryMessage, protocol.Delta, b); err != nil {
		return err
	}
	c.h.metrics.messages.WithLabelValues("out", "delta_item").Add(float64(len(items)))
	return nil
}

// writeCompactLog writes the deltas of one log entry a subscription covers
// as one live frame.
func (c *wsConn) writeCompactLog(s *wsSub, cursor *wsCursor, b crdt.Batch) error {
	var items []*frames.Item
	for _, it := range b.Items {
		if !s.matches(it.Key) {
			continue
		}
		d, err := c.n.withBases(it.Key, it.Delta)
		if err != nil {
			return err
		}
		fi, err := frames.NewItem(it.Key, d, itemClock(c.n, d))
		if err != nil {
			if err := c.skipBad(it.Key, err); err != nil {
				return err
			}
			continue
		}
		items = append(items, &fi)
	}
	if len(items) == 0 {
		return nil
	}
	return c.writeCompactLive(cursor, items)
}

// sentCursor records a cursor sent in JSON (a snapshot's last page, a
// catchup): a compact frame's cursor is written against the last one sent.
// Writer only.
func (c *wsConn) sentCursor(cur *wsCursor) {
	if c.compact {
		c.fw.SetCursor(cur.vv)
	}
}

// handleCompact takes a client frame of deltas ('B'). A frame that does
// not decode is refused whole (bad_message, with its first id when it got
// that far) and changes nothing, the session's replica table included.
// Each delta counts against the message rate.
func (c *wsConn) handleCompact(data []byte) {
	first, ok, items, err := c.fr.ReadDeltas(data)
	if err != nil {
		var id json.RawMessage
		if ok {
			id = json.RawMessage(fmt.Sprint(first))
		}
		c.replyError(id, protocol.BadMessage, "binary2 deltas: %v", err)
		return
	}
	for i := range items {
		it := &items[i]
		id := first + uint64(i)
		if i > 0 && !c.allow() {
			c.replyError(json.RawMessage(fmt.Sprint(id)), protocol.RateLimited, "over %g messages per second", c.opts.Rate)
			continue
		}
		c.join(id, it.Key, it.Decode)
	}
}
