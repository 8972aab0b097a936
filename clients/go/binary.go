package lattice

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/frames"
	"github.com/lattice-sync/lattice/internal/protocol"
)

// The compact binary form (Options.Binary, docs/protocol.md "Compact
// binary form"): pending deltas go in 'B' frames, live deltas come in 'L'
// frames and snapshot pages in 's' frames; the rest stays JSON.

// deltaFramesLocked frames pending deltas: one frame per run of
// consecutive ids, of at most frames.MaxItems deltas and about
// maxDeltaFrameBytes. The caller holds c.mu; the frames must be written in
// the order returned, as cn.fw now stands past them.
func (cn *conn) deltaFramesLocked(ps []*pendingDelta) [][]byte {
	var out [][]byte
	var run []*frames.Item
	var first uint64
	size := 0
	flush := func() {
		if len(run) > 0 {
			out = append(out, cn.fw.AppendDeltas(nil, first, run))
			run, size = nil, 0
		}
	}
	for _, p := range ps {
		it, err := frames.NewItem(p.key, p.delta, itemClock(p.delta))
		if err != nil {
			p.conn = nil // not sent
			cn.c.reportLocked("invalid_delta", fmt.Sprintf("encoding pending delta for %q: %v", p.key, err), p.key)
			continue
		}
		if len(run) == 0 || first+uint64(len(run)) != p.id || len(run) == frames.MaxItems || size+len(it.Body)+len(it.Key) > maxDeltaFrameBytes {
			flush()
			first = p.id
		}
		run = append(run, &it)
		size += len(it.Body) + len(it.Key)
	}
	flush()
	return out
}

// maxDeltaFrameBytes is about where a frame of pending deltas ends, well
// under the node's frame limit.
const maxDeltaFrameBytes = 256 << 10

// itemClock is the clock a delta is framed with: its newest timestamp, so
// its timestamps take a byte or two; now for one without timestamps.
func itemClock(d *crdt.Object) crdt.Timestamp {
	if ts := maxTimestamp(d); ts.Wall > 0 {
		return crdt.Timestamp{Wall: ts.Wall}
	}
	return crdt.Timestamp{Wall: time.Now().UnixMilli()}
}

// sawCursor records a cursor the node sent in JSON, which its next live
// frame's cursor is written against. Reader only.
func (cn *conn) sawCursor(cursor map[string]uint64) {
	vv := crdt.VersionVector{}
	for k, s := range cursor {
		if id, err := uuid.Parse(k); err == nil {
			vv[id] = s
		}
	}
	cn.fr.SetCursor(vv)
}

// handleBinary processes one binary frame from the node of cn. A live
// frame that does not decode leaves this end of the session unable to
// read the next ones, so it ends the connection (the client reconnects
// and resumes from its cursor).
func (c *Client) handleBinary(cn *conn, data []byte) {
	if len(data) == 0 {
		c.report("bad_message", fmt.Sprintf("%s sent an empty binary frame", cn.url), "")
		return
	}
	switch data[0] {
	case frames.Live:
		its, err := cn.fr.ReadLive(data)
		if err != nil {
			c.report("bad_message", fmt.Sprintf("%s sent a live frame that does not decode: %v", cn.url, err), "")
			cn.ws.Close()
			return
		}
		var states []remoteState
		for _, it := range its {
			d, err := it.Decode()
			if err != nil {
				c.report("invalid_delta", fmt.Sprintf("delta of %q from %s: %v", it.Key, cn.url, err), it.Key)
				continue
			}
			states = append(states, remoteState{it.Key, d})
		}
		cursor := map[string]uint64{}
		for r, s := range cn.fr.Cursor() {
			cursor[r.String()] = s
		}
		c.handleMsg(cn, &inMsg{T: protocol.Delta, Cursor: cursor}, states, false)
	case 's':
		m, states, incomplete, err := snapshotFrame(data)
		if err != nil {
			c.report("bad_message", fmt.Sprintf("%s sent a snapshot frame that does not decode: %v", cn.url, err), "")
			return
		}
		c.handleMsg(cn, m, states, incomplete)
	default:
		c.report("bad_message", fmt.Sprintf("%s sent an unknown binary frame %q", cn.url, data[0]), "")
	}
}

// snapshotFrame decodes a binary snapshot page: 's', uvarint sub, a done
// byte, uvarint length and the JSON of the cursor (last page) or the
// resume position (the others), then a crdt.Batch of the objects.
func snapshotFrame(data []byte) (*inMsg, []remoteState, bool, error) {
	r := data[1:]
	sub, k := binary.Uvarint(r)
	if k <= 0 || len(r) < k+1 {
		return nil, nil, false, fmt.Errorf("sub")
	}
	done := r[k]
	r = r[k+1:]
	n, k := binary.Uvarint(r)
	if k <= 0 || done > 1 || uint64(len(r)-k) < n {
		return nil, nil, false, fmt.Errorf("position")
	}
	pos := r[k : k+int(n)]
	m := &inMsg{T: protocol.Snapshot, Sub: &sub, Done: done == 1}
	if m.Done {
		if err := json.Unmarshal(pos, &m.Cursor); err != nil {
			return nil, nil, false, fmt.Errorf("cursor: %w", err)
		}
	} else {
		if !json.Valid(pos) {
			return nil, nil, false, fmt.Errorf("resume position is not JSON")
		}
		m.Resume = json.RawMessage(pos)
	}
	b, err := crdt.UnmarshalBatch(r[k+int(n):])
	if err != nil {
		return nil, nil, false, err
	}
	states := make([]remoteState, 0, len(b.Items))
	for _, it := range b.Items {
		states = append(states, remoteState{it.Key, it.Delta})
	}
	return m, states, false, nil
}
