package api

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/node/store"
)

// A new subscription's first answer (a catch-up from the log, or snapshot
// pages) and the resync that replaces a queue that overflowed.

// answer sends a new subscription's catch-up, when hello brought a cursor
// the logs still cover, and its snapshot otherwise.
func (c *wsConn) answer(s *wsSub) error {
	c.refreshClaim()
	if c.resume != nil && !s.fresh {
		ok, err := c.catchUp(s)
		if err != nil || ok {
			s.answered = err == nil
			return err
		}
	}
	if s.from != nil {
		// A cut-off snapshot continues when the logs hold every change
		// since it began; otherwise it starts again.
		ok, err := c.deltasAfter(s, s.from.base)
		if err != nil {
			return err
		}
		if !ok {
			s.from = nil
		}
	}
	// An "empty" subscription's first snapshot leaves out the folded
	// writers' context entries (ws_folded.go); from here on the
	// connection reads the bases of the live deltas it gets under s
	// itself (liveFor).
	forget := s.empty && s.from == nil
	s.forgot = s.forgot || forget
	if err := c.snapshot(s, s.from, forget); err != nil {
		return err
	}
	s.answered = true
	return nil
}

// catchUp sends the changes s covers that the client's cursor lacks, read
// from the logs, then catchup. It reports false, having perhaps sent some
// deltas, when the logs do not hold everything after the cursor.
func (c *wsConn) catchUp(s *wsSub) (bool, error) {
	cursor := c.claim
	ok, err := c.deltasAfter(s, c.resume)
	if err != nil || !ok {
		return false, err
	}
	c.sentCursor(cursor)
	return true, c.writeFrame(websocket.TextMessage, protocol.Catchup, marshalWS(struct {
		T      string          `json:"t"`
		Sub    uint64          `json:"sub"`
		Cursor json.RawMessage `json:"cursor"`
	}{protocol.Catchup, s.id, cursor.JSON()}))
}

// deltasAfter sends the changes s covers that cursor lacks, read from the
// logs. It reports false, having perhaps sent some deltas, when the logs do
// not hold everything after cursor.
func (c *wsConn) deltasAfter(s *wsSub, after crdt.VersionVector) (bool, error) {
	ranges, ok := c.n.Store.LogRangesAfter(after)
	if !ok {
		return false, nil
	}
	cursor := c.claim
	for _, r := range ranges {
		next := r.From // entries up to r.contigTo must all be there
		for from := r.From; from <= r.To; {
			page, err := c.n.Store.ReadLogPage(r.Origin, from, r.To, snapshotChunk)
			if err != nil {
				return false, err
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				if e.Seq <= r.ContigTo && e.Seq != next {
					return false, nil // truncated under us
				}
				next = e.Seq + 1
				if err := c.writeLogEntry(s, cursor, e); err != nil {
					return false, err
				}
			}
			from = page[len(page)-1].Seq + 1
		}
		if next <= r.ContigTo {
			return false, nil
		}
	}
	return true, nil
}

func (c *wsConn) writeLogEntry(s *wsSub, cursor *wsCursor, e store.LogEntry) error {
	b, err := crdt.UnmarshalBatch(e.Raw)
	if err != nil {
		return nil // the replicator drops these too
	}
	if c.compact {
		return c.writeCompactLog(s, cursor, b)
	}
	for _, it := range b.Items {
		if !s.matches(it.Key) {
			continue
		}
		d, err := c.n.withBases(it.Key, it.Delta)
		if err != nil {
			return err
		}
		var frame []byte
		mt := websocket.TextMessage
		if c.binary {
			mt = websocket.BinaryMessage
			frame, err = deltaFrameBinary(c.n, cursor.JSON(), it.Key, d)
		} else {
			frame, err = deltaFrameJSON(cursor.JSON(), it.Key, d)
		}
		if err != nil {
			if err := c.skipBad(it.Key, err); err != nil {
				return err
			}
			continue
		}
		if err := c.writeFrame(mt, "delta", frame); err != nil {
			return err
		}
	}
	return nil
}

// resync replaces what an overflowed queue held: live deltas are dropped,
// every answered subscription gets resync, then a snapshot taken now.
// Every resync goes out before the first snapshot, so no cursor the client
// sees in between claims a dropped delta for a subscription it still
// counts as current.
func (c *wsConn) resync() error {
	c.overflow.Store(false)
	c.presDirty.Store(true) // the presence sets follow the snapshots
	keep := c.drainExcept(outLive)
	subs, _ := c.answeredSubs()
	for _, s := range subs {
		if err := c.writeFrame(websocket.TextMessage, protocol.Resync, fmt.Appendf(nil, `{"t":"resync","sub":%d}`, s.id)); err != nil {
			return err
		}
	}
	for _, s := range subs {
		c.mu.Lock()
		active := c.subs[s.id] == s
		c.mu.Unlock()
		if !active {
			continue
		}
		if err := c.snapshot(s, nil, false); err != nil {
			return err
		}
	}
	for _, m := range keep {
		if err := c.write(m); err != nil {
			return err
		}
	}
	return nil
}

// presenceResync replaces the presence frames queued by the whole set under
// every answered subscription. It drains the queue and reads the sets under
// the presence table's lock, which the table holds while it queues changes:
// so every change a drained frame said is in the sets, and every frame
// queued later is of a later change.
func (c *wsConn) presenceResync() error {
	subs, all := c.answeredSubs()
	var keep []wsOut
	sets := make([][]Presence, len(subs))
	c.n.Presence.locked("presence resync", func() {
		c.presDirty.Store(false)
		keep = c.drainExcept(outPresence)
		for i, s := range subs {
			sets[i] = c.n.Presence.matchingLocked(s.key, s.isPrefix, c.connID)
		}
	})
	empty := true
	for i, s := range subs {
		empty = empty && len(sets[i]) == 0
		if err := c.writePresenceSet(s.id, sets[i]); err != nil {
			return err
		}
	}
	if all && empty {
		c.presHeld = false // every subscription was just told: nothing
	}
	for _, m := range keep {
		if err := c.write(m); err != nil {
			return err
		}
	}
	return nil
}

// writePresenceSet tells the client every state under subscription sub, in
// pages of at most about snapshotChunk bytes; the last says done. A client
// that holds nothing of anyone's presence is not told of an empty set.
func (c *wsConn) writePresenceSet(sub uint64, set []Presence) error {
	if len(set) == 0 && !c.presHeld {
		return nil
	}
	c.presHeld = c.presHeld || len(set) > 0
	for {
		n, size := 0, 0
		for n < len(set) && (n == 0 || size+presenceSize(set[n]) <= snapshotChunk) {
			size += presenceSize(set[n])
			n++
		}
		page := marshalWS(struct {
			T      string     `json:"t"`
			Sub    uint64     `json:"sub"`
			States []Presence `json:"states"`
			Done   bool       `json:"done"`
			TTL    int64      `json:"ttl"`
		}{protocol.PresenceSet, sub, append([]Presence{}, set[:n]...), n == len(set), PresenceClientTTL.Milliseconds()})
		if err := c.writeFrame(websocket.TextMessage, protocol.PresenceSet, page); err != nil {
			return err
		}
		set = set[n:]
		if len(set) == 0 {
			return nil
		}
	}
}

// presenceSize bounds p's size in a message.
func presenceSize(p Presence) int {
	return len(p.Key) + len(p.Conn) + len(p.Replica) + len(p.State) + 64
}

// answeredSubs returns the subscriptions whose snapshot or catch-up went
// out, by id, and whether that is every subscription. Writer only.
func (c *wsConn) answeredSubs() (subs []*wsSub, all bool) {
	c.mu.Lock()
	all = true
	for _, s := range c.subs {
		if s.answered {
			subs = append(subs, s)
		} else {
			all = false
		}
	}
	c.mu.Unlock()
	slices.SortFunc(subs, func(a, b *wsSub) int { return cmp.Compare(a.id, b.id) })
	return subs, all
}
