// The binary WebSocket encoding: the same session as JSON, in binary frames.

package node

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
)

func TestWSBinary(t *testing.T) {
	s := startWSNode(t, testConfig(t, "n"), WSOptions{}, nil)
	ctx := context.Background()
	if _, err := s.n.Apply(ctx, "b/1", wsInc); err != nil {
		t.Fatal(err)
	}
	w := dialWS(t, s.url, true)
	w.hello(map[string]any{"encoding": "binary"})
	w.send(map[string]any{"t": "sub", "id": 7, "prefix": "b/"})
	f := w.next()
	if f.mt != websocket.BinaryMessage || f.data[0] != 's' {
		t.Fatalf("snapshot frame %q", f.data)
	}
	r := f.data[1:]
	sub, k := binary.Uvarint(r)
	r = r[k:]
	done := r[0]
	cl, k := binary.Uvarint(r[1:])
	cursor := r[1+k : 1+k+int(cl)]
	batch, err := crdt.UnmarshalBatch(r[1+k+int(cl):])
	if err != nil || sub != 7 || done != 1 || len(batch.Items) != 1 || batch.Items[0].Key != "b/1" || !json.Valid(cursor) {
		t.Fatalf("snapshot: sub %d done %d cursor %s items %v err %v", sub, done, cursor, batch.Items, err)
	}
	// A client delta in binary, acked in JSON.
	d := clientDelta(t, crdt.NewObject(), w.replica, time.Now().UnixMilli(), wsInc)
	raw, err := crdt.Batch{Items: []crdt.BatchItem{{Key: "b/1", Delta: d}}}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	frame := append(binary.AppendUvarint([]byte{'D'}, 42), raw...)
	if err := w.c.WriteMessage(websocket.BinaryMessage, frame); err != nil {
		t.Fatal(err)
	}
	var gotAck, gotDelta bool
	for !gotAck || !gotDelta {
		f := w.next()
		switch {
		case f.mt == websocket.TextMessage:
			m := decodeWS(t, f.data)
			if m["t"] != "ack" || fmt.Sprint(m["id"]) != "42" {
				t.Fatalf("got %v", m)
			}
			gotAck = true
		case f.data[0] == 'd':
			cl, k := binary.Uvarint(f.data[1:])
			b, err := crdt.UnmarshalBatch(f.data[1+k+int(cl):])
			if err != nil || len(b.Items) != 1 {
				t.Fatalf("live delta: %v %v", b.Items, err)
			}
			if !b.Items[0].Delta.Equal(d) {
				// The Apply above may reach the hub after the sub (its live
				// change follows its ack): a change the snapshot already
				// held, sent again, which a client joins idempotently.
				if !slices.Contains(b.Items[0].Delta.Replicas(), s.n.ID()) || slices.Contains(b.Items[0].Delta.Replicas(), w.replica) {
					t.Fatalf("live delta: %v, want the client's or the earlier Apply's", b.Items)
				}
				continue
			}
			gotDelta = true
		default:
			t.Fatalf("frame %q", f.data)
		}
	}
	if wsCounter(t, s.n, "b/1") != 2 {
		t.Fatal("binary delta not applied")
	}
	// A binary frame that does not decode.
	if err := w.c.WriteMessage(websocket.BinaryMessage, []byte{'D', 1, 0xff}); err != nil {
		t.Fatal(err)
	}
	w.expectError(protocol.BadMessage, 1)
}
