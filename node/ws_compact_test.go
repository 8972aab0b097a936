// The compact binary encoding (binary2): multi-delta frames both ways,
// written against the session's replica table, clock and cursor.

package node

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/frames"
	"github.com/lattice-sync/lattice/internal/protocol"
)

// compactItems makes an increment of each key by r, on r's copies of the
// objects, as frame items.
func compactItems(t *testing.T, objs map[string]*crdt.Object, r crdt.ReplicaID, keys ...string) []*frames.Item {
	t.Helper()
	var its []*frames.Item
	for _, k := range keys {
		now := time.Now().UnixMilli()
		if objs[k] == nil {
			objs[k] = crdt.NewObject()
		}
		d := clientDelta(t, objs[k], r, now, wsInc)
		it, err := frames.NewItem(k, d, crdt.Timestamp{Wall: now})
		if err != nil {
			t.Fatal(err)
		}
		its = append(its, &it)
	}
	return its
}

func TestWSCompact(t *testing.T) {
	s := startWSNode(t, testConfig(t, "n"), WSOptions{}, nil)
	if _, err := s.n.Apply(context.Background(), "b/1", wsInc); err != nil {
		t.Fatal(err)
	}
	sub := dialWS(t, s.url, true)
	welcome := sub.hello(map[string]any{"encoding": protocol.EncodingCompact})
	if !slices.Contains(welcome["features"].([]any), any(protocol.FeatureCompact)) {
		t.Fatalf("welcome does not list %s: %v", protocol.FeatureCompact, welcome)
	}
	sub.send(map[string]any{"t": "sub", "id": 7, "prefix": "b/"})
	f := sub.next()
	if f.mt != websocket.BinaryMessage || f.data[0] != 's' {
		t.Fatalf("snapshot frame %q", f.data)
	}
	var rd frames.Reader
	rd.SetCursor(snapshotCursor(t, f.data))

	w := dialWS(t, s.url, true)
	w.hello(map[string]any{"encoding": protocol.EncodingCompact})
	var fw frames.Writer
	o := map[string]*crdt.Object{}
	send := func(b []byte) {
		t.Helper()
		if err := w.c.WriteMessage(websocket.BinaryMessage, b); err != nil {
			t.Fatal(err)
		}
	}
	// Three deltas in one frame, each acked by its id.
	send(fw.AppendDeltas(nil, 10, compactItems(t, o, w.replica, "b/1", "b/1", "b/2")))
	acked := map[string]bool{} // deltas are joined concurrently: acks in any order
	for range 3 {
		acked[fmt.Sprint(w.expect("ack")["id"])] = true
	}
	if !acked["10"] || !acked["11"] || !acked["12"] {
		t.Fatalf("acks %v, want 10, 11 and 12", acked)
	}
	// A frame that does not decode (its second item names a replica
	// beyond the session's table) is refused whole and leaves the session
	// as it was: the first item alone, written against the same state,
	// goes.
	probe := fw
	one := compactItems(t, o, w.replica, "b/2")
	good := probe.AppendDeltas(nil, 13, one)
	send(badFrame(t, good, one[0]))
	w.expectError(protocol.BadMessage, 13)
	send(good)
	w.expect("ack")
	fw = probe
	// A delta that does not decode is refused by its id; the others in
	// its frame go.
	broken := *compactItems(t, map[string]*crdt.Object{}, w.replica, "b/3")[0]
	broken.Body = append([]byte{}, broken.Body...)
	broken.Body[0] ^= 0x7f
	send(fw.AppendDeltas(nil, 20, []*frames.Item{&broken, compactItems(t, o, w.replica, "b/2")[0]}))
	gotErr, gotAck := false, false
	for !gotErr || !gotAck {
		m := w.nextJSON()
		switch {
		case m["t"] == "error" && m["code"] == protocol.InvalidDelta && fmt.Sprint(m["id"]) == "20":
			gotErr = true
		case m["t"] == "ack" && fmt.Sprint(m["id"]) == "21":
			gotAck = true
		default:
			t.Fatalf("got %v", m)
		}
	}
	// The old binary frame is not spoken in a binary2 session.
	send([]byte{'D', 1, 0})
	w.expectError(protocol.BadMessage, nil)

	// The subscriber gets every change, in frames it reads against its
	// session, and the cursor the last frame leaves it with is the node's.
	// Every delta above is acked, so the node's log is complete: one entry
	// for the Apply before the snapshot, then one per change. Deltas 10 and
	// 11 are joined side by side: when 11 lands first it holds 10's count
	// (a writer's entry holds its running totals), 10 is then a resend and
	// changes nothing, and there are four changes instead of five.
	target := s.n.VersionVector()[s.n.ID()]
	items := 0
	for items < int(target)-1 {
		f := sub.next()
		if f.mt != websocket.BinaryMessage {
			continue // presence sets and the like
		}
		its, err := rd.ReadLive(f.data)
		if err != nil {
			t.Fatalf("live frame %q: %v", f.data, err)
		}
		for _, it := range its {
			if _, err := it.Decode(); err != nil {
				t.Fatal(err)
			}
		}
		items += len(its)
	}
	if items != int(target)-1 || items < 4 {
		t.Fatalf("%d live items, want %d (the node's log after the snapshot), 4 or 5", items, target-1)
	}
	if wsCounter(t, s.n, "b/1") != 3 || wsCounter(t, s.n, "b/2") != 3 {
		t.Fatalf("counters %d %d, want 3 3", wsCounter(t, s.n, "b/1"), wsCounter(t, s.n, "b/2"))
	}
	if c := rd.Cursor(); c[s.n.ID()] == 0 || c[s.n.ID()] > s.n.VersionVector()[s.n.ID()] {
		t.Fatalf("cursor %v, node at %v", c, s.n.VersionVector())
	}
}

// badFrame is a client frame whose first item is good's one item, it, and
// whose second names a replica beyond any table: 'B', good's id with the
// flag of several items, the count 2, it with its body's length, then an
// item of the same key listing one replica, index 999.
func badFrame(t *testing.T, good []byte, it *frames.Item) []byte {
	t.Helper()
	if good[0] != 'B' || good[1]&1 != 0 || good[1] >= 0x80 {
		t.Fatalf("frame %q is not one item with a small id", good)
	}
	head := len(good) - len(it.Body)
	b := []byte{'B', good[1] | 1, 2}
	b = append(b, good[2:head]...)
	b = binary.AppendUvarint(b, uint64(len(it.Body)))
	b = append(b, it.Body...)
	return append(b, 1, 2, 0xe8, 0x07)
}

// snapshotCursor is the cursor of a binary snapshot's last page.
func snapshotCursor(t *testing.T, data []byte) crdt.VersionVector {
	t.Helper()
	var done byte
	r := data[1:]
	_, k := binary.Uvarint(r)
	r = r[k:]
	done, r = r[0], r[1:]
	n, k := binary.Uvarint(r)
	if done != 1 {
		t.Fatal("not the last page")
	}
	var m map[string]uint64
	if err := json.Unmarshal(r[k:k+int(n)], &m); err != nil {
		t.Fatal(err)
	}
	vv := crdt.VersionVector{}
	for id, s := range m {
		r, err := uuid.Parse(id)
		if err != nil {
			t.Fatal(err)
		}
		vv[r] = s
	}
	return vv
}
