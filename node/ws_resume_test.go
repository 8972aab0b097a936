package node

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/transport"
)

const testSnapChunk = 16 << 10

// longText writes a text of n characters at key in inserts of 10,000.
func longText(t *testing.T, n *Node, key string, chars int) {
	t.Helper()
	chunk := strings.Repeat("0123456789", 1000)
	for i := 0; i < chars/len(chunk); i++ {
		op := crdt.Op{Type: crdt.TypeText, Kind: crdt.OpInsert, Index: int64(i * len(chunk)), Value: crdt.String(chunk)}
		if _, err := n.Apply(context.Background(), key, op); err != nil {
			t.Fatal(err)
		}
	}
}

// snapPage is one snapshot page as a test reads it.
type snapPage struct {
	size   int
	done   bool
	resume json.RawMessage
}

// readSnapshot applies messages to v until the snapshot of sub is done or
// stop says so after a page; it returns the pages.
func readSnapshot(t *testing.T, w *testWS, v *wsView, stop func(pages []snapPage) bool) []snapPage {
	t.Helper()
	var pages []snapPage
	for {
		f := w.next()
		if f.mt != websocket.TextMessage {
			t.Fatal("binary frame on a JSON connection")
		}
		if v.apply(t, f.data) != protocol.Snapshot {
			continue
		}
		var m struct {
			Done   bool            `json:"done"`
			Resume json.RawMessage `json:"resume"`
		}
		if err := json.Unmarshal(f.data, &m); err != nil {
			t.Fatal(err)
		}
		if !m.Done && m.Resume == nil {
			t.Fatalf("a page that is not the last has no resume: %.200s", f.data)
		}
		pages = append(pages, snapPage{len(f.data), m.Done, m.Resume})
		if m.Done || (stop != nil && stop(pages)) {
			return pages
		}
	}
}

// TestWSLongText: one insert into a 100,000-character text writes a bounded
// number of Badger keys and bytes, and a subscriber gets the text in pages
// of about the snapshot chunk.
func TestWSLongText(t *testing.T) {
	a := startWSNode(t, testConfig(t, "a"), WSOptions{SnapshotChunk: testSnapChunk}, nil)
	longText(t, a.n, "doc", 100_000)
	bytes, keys := a.n.st.Written()
	op := crdt.Op{Type: crdt.TypeText, Kind: crdt.OpInsert, Index: 50_000, Value: crdt.String("x")}
	if _, err := a.n.Apply(context.Background(), "doc", op); err != nil {
		t.Fatal(err)
	}
	b2, k2 := a.n.st.Written()
	keys, bytes = k2-keys, b2-bytes
	t.Logf("one insert into a 100,000-character text wrote %d keys, %d bytes", keys, bytes)
	if keys > 8 || bytes > 8<<10 {
		t.Fatalf("one insert wrote %d keys and %d bytes", keys, bytes)
	}

	w := dialWS(t, a.url, true)
	welcome := w.hello(nil)
	if !slices.Contains(welcome["features"].([]any), any(protocol.FeatureSnapshotResume)) {
		t.Fatalf("welcome lists features %v", welcome["features"])
	}
	w.send(map[string]any{"t": "sub", "id": 1, "key": "doc"})
	v := newWSView()
	pages := readSnapshot(t, w, v, nil)
	if len(pages) < 3 {
		t.Fatalf("a 100,000-character text came in %d pages", len(pages))
	}
	for i, p := range pages {
		if p.size > testSnapChunk+1024 {
			t.Fatalf("page %d of %d is %d bytes", i, len(pages), p.size)
		}
	}
	if !v.same(t, a.n, "doc") {
		t.Fatal("the pages joined differ from the node's text")
	}

	// In binary, the pages but the last carry the position where the
	// cursor goes on the last.
	wb := dialWS(t, a.url, true)
	wb.hello(map[string]any{"encoding": "binary"})
	wb.send(map[string]any{"t": "sub", "id": 2, "key": "doc"})
	got := crdt.NewObject()
	for n := 0; ; n++ {
		f := wb.next()
		if f.mt != websocket.BinaryMessage || f.data[0] != 's' {
			t.Fatalf("page %d: %.40q", n, f.data)
		}
		r := f.data[1:]
		_, k := binary.Uvarint(r)
		done := r[k]
		r = r[k+1:]
		jl, k := binary.Uvarint(r)
		js := r[k : k+int(jl)]
		batch, err := crdt.UnmarshalBatch(r[k+int(jl):])
		if err != nil || len(f.data) > testSnapChunk+1024 {
			t.Fatalf("page %d of %d bytes: %v", n, len(f.data), err)
		}
		for _, it := range batch.Items {
			got.Join(it.Delta)
		}
		var pos map[string]any
		if err := json.Unmarshal(js, &pos); err != nil {
			t.Fatalf("page %d: JSON %q: %v", n, js, err)
		}
		if done == 1 {
			break
		}
		if pos["key"] != "doc" {
			t.Fatalf("page %d: resume %s", n, js)
		}
	}
	want, err := a.n.Get("doc")
	if err != nil || !got.Equal(want) {
		t.Fatalf("the binary pages joined differ from the node's text (%v)", err)
	}
}

// TestWSSnapshotResume: a connection cut mid-snapshot resumes on a new one
// from the last page's position, with changes made in between, and ends
// with the node's state; bad positions get bad_message.
func TestWSSnapshotResume(t *testing.T) {
	for _, sub := range []map[string]any{{"key": "docs/long"}, {"prefix": "docs/"}} {
		a := startWSNode(t, testConfig(t, "a"), WSOptions{SnapshotChunk: testSnapChunk}, nil)
		ctx := context.Background()
		longText(t, a.n, "docs/long", 100_000)
		longText(t, a.n, "docs/more", 30_000)
		for i := 0; i < 50; i++ {
			if _, err := a.n.Apply(ctx, "docs/c"+strings.Repeat("x", i), wsInc); err != nil {
				t.Fatal(err)
			}
		}
		subMsg := func(id int, resume json.RawMessage) map[string]any {
			m := map[string]any{"t": "sub", "id": id}
			for k, v := range sub {
				m[k] = v
			}
			if resume != nil {
				m["resume"] = resume
			}
			return m
		}

		w := dialWS(t, a.url, true)
		w.hello(nil)
		w.send(subMsg(1, nil))
		v := newWSView()
		first := readSnapshot(t, w, v, func(p []snapPage) bool { return len(p) == 5 })
		resume := first[len(first)-1].resume
		w.c.Close()
		t.Logf("%v: cut after %d pages at %s", sub, len(first), resume)

		// Changes while away: before and after the position.
		for _, op := range []crdt.Op{
			{Type: crdt.TypeText, Kind: crdt.OpInsert, Index: 10, Value: crdt.String("early")},
			{Type: crdt.TypeText, Kind: crdt.OpDelete, Index: 20, Count: 5},
			{Type: crdt.TypeText, Kind: crdt.OpInsert, Index: 99_000, Value: crdt.String("late")},
		} {
			if _, err := a.n.Apply(ctx, "docs/long", op); err != nil {
				t.Fatal(err)
			}
		}

		w2 := dialWS(t, a.url, true)
		w2.hello(nil)
		for i, bad := range []string{
			`{"base":{},"key":"elsewhere","leaf":"","replica":"00000000-0000-0000-0000-000000000000","seq":0}`,
			`{"base":{},"key":"docs/long","leaf":"!!","replica":"00000000-0000-0000-0000-000000000000","seq":0}`,
			`{"base":{"x":1},"key":"docs/long","leaf":"","replica":"00000000-0000-0000-0000-000000000000","seq":0}`,
			`{"base":{},"key":"docs/long","leaf":"","replica":"nope","seq":0}`,
			`{"base":{},"key":"docs/long"}`,
			`[1]`,
		} {
			w2.send(subMsg(10+i, json.RawMessage(bad)))
			w2.expectError(protocol.BadMessage, nil)
		}
		w2.send(subMsg(2, resume))
		v2 := &wsView{objs: v.objs, kinds: map[string]int{}}
		rest := readSnapshot(t, w2, v2, nil)
		keys := []string{"docs/long"}
		if sub["prefix"] != nil {
			keys = append(keys, "docs/more", "docs/c", "docs/cxxxxx")
		}
		if !v2.same(t, a.n, keys...) {
			t.Fatalf("%v: the resumed snapshot differs from the node", sub)
		}
		full := newWSView()
		w3 := dialWS(t, a.url, true)
		w3.hello(nil)
		w3.send(subMsg(3, nil))
		all := readSnapshot(t, w3, full, nil)
		t.Logf("%v: %d pages before the cut, %d after, %d in a full snapshot", sub, len(first), len(rest), len(all))
		if len(rest) >= len(all) {
			t.Fatalf("resuming sent %d pages, a full snapshot %d", len(rest), len(all))
		}
	}
}

// TestWSSnapshotResumeStale: when the logs no longer reach back to a
// position's base, the resumed subscription gets the whole snapshot again.
func TestWSSnapshotResumeStale(t *testing.T) {
	cfg := testConfig(t, "n")
	cfg.LogRetention = 5
	s := startWSNode(t, cfg, WSOptions{SnapshotChunk: testSnapChunk}, transport.NewMemNetwork())
	longText(t, s.n, "doc", 50_000)
	w := dialWS(t, s.url, true)
	w.hello(nil)
	w.send(map[string]any{"t": "sub", "id": 1, "key": "doc"})
	first := readSnapshot(t, w, newWSView(), func(p []snapPage) bool { return len(p) == 2 })
	resume := first[len(first)-1].resume
	w.c.Close()
	for i := 0; i < 30; i++ {
		op := crdt.Op{Type: crdt.TypeText, Kind: crdt.OpInsert, Index: int64(i), Value: crdt.String("z")}
		if _, err := s.n.Apply(context.Background(), "doc", op); err != nil {
			t.Fatal(err)
		}
	}
	var pos struct {
		Base map[string]uint64 `json:"base"`
	}
	if err := json.Unmarshal(resume, &pos); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for s.n.st.Floor(s.n.ID()) <= pos.Base[s.n.ID().String()] {
		if time.Now().After(deadline) {
			t.Fatal("the log was never truncated past the position's base")
		}
		time.Sleep(20 * time.Millisecond)
	}
	w2 := dialWS(t, s.url, true)
	w2.hello(nil)
	w2.send(map[string]any{"t": "sub", "id": 2, "key": "doc", "resume": resume})
	v := newWSView() // holds nothing: only a whole snapshot gives the node's text
	pages := readSnapshot(t, w2, v, nil)
	if !v.same(t, s.n, "doc") {
		t.Fatalf("a stale resume (%d pages) did not give the whole text", len(pages))
	}
}
