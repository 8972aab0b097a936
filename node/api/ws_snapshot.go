package api

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/node/store"
)

// Snapshot pages, and the resume position that lets a client whose
// connection dropped mid-snapshot continue it (docs/protocol.md,
// "Resumable snapshots"). A page holds whole objects up to about
// WSOptions.SnapshotChunk bytes; a larger object goes as parts
// (crdt.Object.PartsFrom), one page each. Every page but the last carries
// where the next one starts.

// snapFrom is where a resumed snapshot continues: every change after base
// is sent again from the logs, then the objects from key on, key's own
// entries from pos.
type snapFrom struct {
	base crdt.VersionVector
	key  string
	pos  crdt.PartPos
}

// resumeJSON is the wire form of a resume position:
// {"base":CURSOR,"key":KEY,"leaf":BASE64,"replica":UUID,"seq":N}.
type resumeJSON struct {
	Base    map[string]uint64 `json:"base"`
	Key     string            `json:"key"`
	Leaf    string            `json:"leaf"`
	Replica string            `json:"replica"`
	Seq     uint64            `json:"seq"`
}

func (f *snapFrom) JSON() []byte {
	return marshalWS(resumeJSON{store.VVJSON(f.base), f.key, base64.StdEncoding.EncodeToString([]byte(f.pos.Leaf)),
		f.pos.Dot.Replica.String(), f.pos.Dot.Seq})
}

// parseResume checks a sub's resume position against the subscription:
// its key must be the subscription's, or under its prefix.
func parseResume(m *resumeJSON, s *wsSub) (*snapFrom, error) {
	f := &snapFrom{base: crdt.VersionVector{}, key: m.Key}
	for k, seq := range m.Base {
		o, err := parseLowerUUID(k)
		if err != nil {
			return nil, fmt.Errorf("resume base: %w", err)
		}
		f.base[o] = seq
	}
	if s.isPrefix && !strings.HasPrefix(m.Key, s.key) || !s.isPrefix && m.Key != s.key {
		return nil, fmt.Errorf("resume key %q is not in the subscription", m.Key)
	}
	if err := store.CheckKey(m.Key); err != nil {
		return nil, fmt.Errorf("resume key: %w", err)
	}
	leaf, err := base64.StdEncoding.DecodeString(m.Leaf)
	if err != nil {
		return nil, fmt.Errorf("resume leaf: %w", err)
	}
	r, err := parseLowerUUID(m.Replica)
	if err != nil {
		return nil, fmt.Errorf("resume replica: %w", err)
	}
	f.pos = crdt.PartPos{Leaf: string(leaf), Dot: crdt.Dot{Replica: r, Seq: m.Seq}}
	return f, nil
}

// snapshot sends what s covers now, from the start or from where a cut-off
// one stopped, in pages; the cursor goes on the last.
// With forget the states leave out the context entries of the folded
// writers they leave out (clientState): only for the first answer of an
// "empty" subscription.
func (c *wsConn) snapshot(s *wsSub, from *snapFrom, forget bool) error {
	c.refreshClaim()
	w := &snapWriter{c: c, sub: s.id, cursor: c.claim, chunk: c.opts.SnapshotChunk, forget: forget}
	if !s.isPrefix {
		o, err := c.n.Store.Get(s.key)
		if err != nil {
			return err
		}
		if o.Type() != 0 {
			var pos crdt.PartPos
			if from != nil {
				pos = from.pos
			}
			if err := w.object(s.key, o, nil, pos); err != nil {
				return err
			}
		}
		return w.flush(true)
	}
	after := ""
	if from != nil {
		o, err := c.n.Store.Get(from.key)
		if err != nil {
			return err
		}
		if o.Type() != 0 {
			if err := w.object(from.key, o, nil, from.pos); err != nil {
				return err
			}
		}
		after = from.key
	}
	for {
		objs, more, err := c.n.Store.ScanPage(s.key, after, w.chunk, w.encodeForClient)
		if err != nil {
			return err
		}
		for _, o := range objs {
			if err := w.object(o.Key, o.Obj, o.Enc, crdt.PartPos{}); err != nil {
				return err
			}
		}
		if !more {
			return w.flush(true)
		}
		after = objs[len(objs)-1].Key
	}
}

// snapWriter gathers one snapshot's objects into pages.
type snapWriter struct {
	c       *wsConn
	sub     uint64
	cursor  *wsCursor
	chunk   int
	forget  bool // clientState's forget
	pending []store.Encoded
	size    int
	next    snapFrom // where the page after the pending one starts
}

// encodeForClient takes out of o what the client needs not (clientState),
// then encodes it.
func (w *snapWriter) encodeForClient(o *crdt.Object) ([]byte, error) {
	clientState(o, w.c.replica, w.forget)
	return w.encode(o)
}

func (w *snapWriter) encode(o *crdt.Object) ([]byte, error) {
	if w.c.binary {
		return o.MarshalBinary()
	}
	return o.MarshalJSON()
}

// encodePart encodes one part of an object (crdt.Object.MarshalJSONPart).
func (w *snapWriter) encodePart(o *crdt.Object) ([]byte, error) {
	if w.c.binary {
		return o.MarshalBinary()
	}
	return o.MarshalJSONPart()
}

func (w *snapWriter) measure(o *crdt.Object) int {
	if w.c.binary {
		return crdt.BinarySize(o)
	}
	return crdt.JSONSize(o)
}

// object adds the object at key (enc its encoding by encodeForClient, or
// nil: o is then as the store holds it), from pos of its entries: whole to
// the pending page when it fits a page, as parts otherwise. Positions are
// orders of entries, not indices, so a resumed snapshot from which writers
// folded since were taken out starts where it should.
func (w *snapWriter) object(key string, o *crdt.Object, enc []byte, pos crdt.PartPos) error {
	whole := pos == crdt.PartPos{}
	if enc == nil {
		clientState(o, w.c.replica, w.forget)
	}
	if whole && enc == nil {
		var err error
		if enc, err = w.encode(o); err != nil {
			return fmt.Errorf("encoding %q: %w", key, err)
		}
	}
	if whole && len(enc) <= w.chunk {
		if len(w.pending) > 0 && w.size+len(enc) > w.chunk {
			if err := w.flush(false); err != nil {
				return err
			}
		}
		w.pending = append(w.pending, store.Encoded{Key: key, Obj: o, Enc: enc})
		w.size += len(enc)
		w.next = snapFrom{key: key, pos: crdt.PartsRest}
		return nil
	}
	if err := w.flush(false); err != nil {
		return err
	}
	parts, starts := o.PartsFrom(pos, w.chunk, w.measure)
	for i, p := range parts {
		b, err := w.encodePart(p)
		if err != nil {
			return fmt.Errorf("encoding part of %q: %w", key, err)
		}
		w.pending = []store.Encoded{{Key: key, Obj: p, Enc: b}}
		w.next = snapFrom{key: key, pos: crdt.PartsRest}
		if i+1 < len(parts) {
			w.next.pos = starts[i+1]
		}
		if err := w.flush(false); err != nil {
			return err
		}
	}
	return nil
}

// flush writes the pending page; done is the last, written even if empty.
func (w *snapWriter) flush(done bool) error {
	if len(w.pending) == 0 && !done {
		return nil
	}
	var resume []byte
	if !done {
		w.next.base = w.cursor.vv
		resume = w.next.JSON()
	}
	err := w.c.writeSnapshot(w.sub, w.pending, done, w.cursor, resume)
	w.pending, w.size = nil, 0
	return err
}

// writeSnapshot writes one page. In the binary form, the JSON after the
// done byte is the cursor on the last page and the resume position on
// every other.
func (c *wsConn) writeSnapshot(sub uint64, objs []store.Encoded, done bool, cursor *wsCursor, resume []byte) error {
	if c.binary {
		b := []byte{'s'}
		b = binary.AppendUvarint(b, sub)
		cj := resume
		if done {
			b = append(b, 1)
			cj = cursor.JSON()
			c.sentCursor(cursor)
		} else {
			b = append(b, 0)
		}
		b = binary.AppendUvarint(b, uint64(len(cj)))
		b = append(b, cj...)
		batch := crdt.Batch{Clock: c.n.Store.Now()}
		for _, o := range objs {
			batch.Items = append(batch.Items, crdt.BatchItem{Key: o.Key, Delta: o.Obj})
		}
		raw, err := batch.MarshalBinary()
		if err != nil {
			return err
		}
		return c.writeFrame(websocket.BinaryMessage, protocol.Snapshot, append(b, raw...))
	}
	b := fmt.Appendf(nil, `{"t":"snapshot","sub":%d,"objects":[`, sub)
	for i, o := range objs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		b = append(b, jsonString(o.Key)...)
		b = append(b, `,"state":`...)
		b = append(b, o.Enc...)
		b = append(b, '}')
	}
	b = fmt.Appendf(b, `],"done":%t`, done)
	if done {
		b = append(b, `,"cursor":`...)
		b = append(b, cursor.JSON()...)
	} else {
		b = append(b, `,"resume":`...)
		b = append(b, resume...)
	}
	return c.writeFrame(websocket.TextMessage, protocol.Snapshot, append(b, '}'))
}

// parseResumeRaw decodes the resume field of a sub.
func parseResumeRaw(raw json.RawMessage, s *wsSub) (*snapFrom, error) {
	var m resumeJSON
	if err := decodeExact(raw, &m); err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	return parseResume(&m, s)
}
