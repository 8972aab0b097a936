package node

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/frames"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/internal/testkit"
)

// snapshotBinary reads the binary snapshot pages of one subscription and
// returns the state they join to and their bytes.
func snapshotBinary(t *testing.T, w *testWS) (*crdt.Object, int) {
	t.Helper()
	got, size, _ := snapshotBinaryLast(t, w)
	return got, size
}

// snapshotBinaryLast is snapshotBinary, also returning the last page.
func snapshotBinaryLast(t *testing.T, w *testWS) (*crdt.Object, int, []byte) {
	t.Helper()
	got, size := crdt.NewObject(), 0
	for n := 0; ; n++ {
		f := w.next()
		if f.mt != websocket.BinaryMessage || f.data[0] != 's' {
			t.Fatalf("page %d: %.40q", n, f.data)
		}
		size += len(f.data)
		r := f.data[1:]
		_, k := binary.Uvarint(r)
		done := r[k]
		r = r[k+1:]
		jl, k := binary.Uvarint(r)
		batch, err := crdt.UnmarshalBatch(r[k+int(jl):])
		if err != nil {
			t.Fatalf("page %d: %v", n, err)
		}
		for _, it := range batch.Items {
			got.Join(it.Delta)
		}
		if done == 1 {
			return got, size, f.data
		}
	}
}

// foldAll folds writers 0..n-1 of key, each on its decider, from 32
// goroutines.
func foldAll(t *testing.T, nodes []*Node, key string, n int) {
	t.Helper()
	const workers = 32
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += workers {
				if _, err := foldWriter(t, nodes, key, writerID(i)); err != nil {
					errs <- fmt.Errorf("writer %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestFoldedWritersLeaveClientSnapshots: 2,000 writers (500 under -short
// or -race) increment one counter through JoinClient on 3 nodes and are
// all folded. A new client's snapshot, JSON or binary, whole or resumed
// after a cut, holds no writer entry but the fold entries (and the whole
// context) and reads the exact sum; joined into a client's copy from
// before the folds it reads the exact sum too. A folded writer connecting
// as itself gets its own base, increments, and is counted once on every
// node. A folded writer whose copy never saw its fold returns through
// another node: the client that subscribed after the fold, live or
// catching up from the logs, counts it once (the node sends it with its
// base).
func TestFoldedWritersLeaveClientSnapshots(t *testing.T) {
	writers := 2_000
	if testing.Short() || raceEnabled {
		writers = 500
	}
	seed := testkit.Seed(t)
	rnd := testkit.Rand(seed, 0)
	nodes := threeNodes(t, "fsnap")
	leaf := crdt.Path{Root: crdt.TypePNCounter}.Key()
	cw := newCounterWriters(t, rnd, "likes", writers)
	cw.nodes = nodes
	for i := range writers {
		cw.write(i, nodes[rnd.IntN(len(nodes))])
	}
	waitConverged(t, time.Minute, nodes...)
	a := serveWS(t, nodes[0], WSOptions{SnapshotChunk: testSnapChunk})
	unfolded, unfoldedSize := func() (*crdt.Object, int) {
		w := dialWS(t, a.url, true)
		w.hello(map[string]any{"encoding": "binary"})
		w.send(map[string]any{"t": "sub", "id": 1, "key": "likes"})
		return snapshotBinary(t, w)
	}()
	if es, _ := unfolded.Leaf(leaf); len(es) != writers {
		t.Fatalf("before the folds a snapshot holds %d entries, want %d", len(es), writers)
	}
	jsonSize := func(pages []snapPage) (n int) {
		for _, p := range pages {
			n += p.size
		}
		return n
	}
	unfoldedJSON := func() int {
		w := dialWS(t, a.url, true)
		w.hello(nil)
		w.send(map[string]any{"t": "sub", "id": 1, "key": "likes"})
		return jsonSize(readSnapshot(t, w, newWSView(), nil))
	}()

	foldAll(t, nodes, "likes", writers)
	waitConverged(t, time.Minute, nodes...)
	want := cw.want
	// checkState checks a client's state made of a snapshot (and, if
	// logged, the log deltas a resumed one starts with, which carry the
	// bases of the folds they are).
	checkState := func(form string, o *crdt.Object, own crdt.ReplicaID, logged bool) {
		t.Helper()
		es, _ := o.Leaf(leaf)
		raw := 0
		for _, e := range es {
			switch {
			case e.Dot.Replica == own:
				if mine, _ := o.ReplicaLeaf(leaf, own); !crdt.IsZeroed(mine) {
					t.Fatalf("%s: the client's own entries are %v, want its base", form, mine)
				}
			case e.Base && !logged:
				t.Fatalf("%s: the snapshot holds writer %s's base", form, e.Dot.Replica)
			case !e.Base:
				raw++
			}
		}
		if raw > len(nodes) {
			t.Fatalf("%s: the snapshot holds %d raw entries, want the fold entries (at most %d)", form, raw, len(nodes))
		}
		if got := o.Value().(int64); got != want {
			t.Fatalf("%s: the snapshot reads %d, want %d", form, got, want)
		}
		for i := range writers {
			if o.Context().Max(writerID(i)) == 0 {
				t.Fatalf("%s: the snapshot's context lacks writer %d", form, i)
			}
		}
	}

	// (a) A new client, in binary and in JSON.
	wb := dialWS(t, a.url, true)
	wb.hello(map[string]any{"encoding": "binary"})
	wb.send(map[string]any{"t": "sub", "id": 1, "key": "likes"})
	folded, foldedSize := snapshotBinary(t, wb)
	checkState("binary", folded, crdt.ReplicaID{}, false)
	t.Logf("%d writers: a new client's binary snapshot is %d bytes folded, %d unfolded", writers, foldedSize, unfoldedSize)
	if foldedSize >= unfoldedSize {
		t.Fatalf("the folded snapshot is %d bytes, the unfolded %d", foldedSize, unfoldedSize)
	}
	// A client whose copy is from before the folds (it gets a snapshot
	// after a resync, or after a cursor the logs no longer reach) joins the
	// folded one: the context drops the writers' raw entries it held, and
	// the fold entries alone count them. This is why the context stays
	// whole (node/api/ws_folded.go).
	older := unfolded.Clone()
	older.Join(folded)
	checkState("an older copy joined with the binary", older, crdt.ReplicaID{}, false)
	wj := dialWS(t, a.url, true)
	wj.hello(nil)
	wj.send(map[string]any{"t": "sub", "id": 1, "key": "likes"})
	view := newWSView()
	pages := readSnapshot(t, wj, view, nil)
	checkState("json", view.objs["likes"], crdt.ReplicaID{}, false)
	t.Logf("%d writers: a new client's JSON snapshot is %d bytes folded, %d unfolded", writers, jsonSize(pages), unfoldedJSON)
	if jsonSize(pages) >= unfoldedJSON {
		t.Fatalf("the folded JSON snapshot is %d bytes, the unfolded %d", jsonSize(pages), unfoldedJSON)
	}

	// (a') A new client that says it holds nothing of the target
	// ("empty"): its snapshot leaves out the folded writers' context
	// entries too, and reads the exact sum.
	checkEmpty := func(form string, o *crdt.Object) {
		t.Helper()
		if got := o.Value().(int64); got != want {
			t.Fatalf("%s: the snapshot reads %d, want %d", form, got, want)
		}
		es, _ := o.Leaf(leaf)
		if len(es) > len(nodes) {
			t.Fatalf("%s: the snapshot holds %d entries, want the fold entries (at most %d)", form, len(es), len(nodes))
		}
		ctx := o.Context()
		for i := range writers {
			if ctx.Max(writerID(i)) != 0 {
				t.Fatalf("%s: the snapshot's context names folded writer %d", form, i)
			}
		}
		if n := len(ctx.VersionVector()) + len(ctx.Cloud()); n > len(nodes) {
			t.Fatalf("%s: the snapshot's context has %d entries, want at most %d", form, n, len(nodes))
		}
	}
	we := dialWS(t, a.url, true)
	if welcome := we.hello(map[string]any{"encoding": "binary"}); !slices.Contains(welcome["features"].([]any), any(protocol.FeatureEmptySub)) {
		t.Fatalf("welcome lists features %v, without %s", welcome["features"], protocol.FeatureEmptySub)
	}
	we.send(map[string]any{"t": "sub", "id": 1, "key": "likes", "empty": true})
	emptied, emptySize := snapshotBinary(t, we)
	checkEmpty("binary empty", emptied)
	t.Logf("%d writers: an empty client's binary snapshot is %d bytes, a new client's without the flag %d", writers, emptySize, foldedSize)
	wje := dialWS(t, a.url, true)
	wje.hello(nil)
	wje.send(map[string]any{"t": "sub", "id": 1, "key": "likes", "empty": true})
	ev := newWSView()
	readSnapshot(t, wje, ev, nil)
	checkEmpty("json empty", ev.objs["likes"])
	// "empty" with "resume" is refused: a resumed snapshot's first pages
	// are held.
	wbad := dialWS(t, a.url, true)
	wbad.hello(nil)
	wbad.send(map[string]any{"t": "sub", "id": 1, "key": "likes", "empty": true,
		"resume": map[string]any{"base": map[string]any{}, "key": "likes", "leaf": "", "replica": writerID(0).String(), "seq": 1}})
	wbad.expectError("bad_message", nil)

	// The JSON snapshot cut after its first page and resumed.
	if len(pages) < 2 {
		t.Fatalf("the JSON snapshot came in %d pages, want several at a chunk of %d", len(pages), testSnapChunk)
	}
	wc := dialWS(t, a.url, true)
	wc.hello(nil)
	wc.send(map[string]any{"t": "sub", "id": 1, "key": "likes"})
	cut := newWSView()
	first := readSnapshot(t, wc, cut, func(p []snapPage) bool { return len(p) == 1 })
	wc.c.Close()
	wr := dialWS(t, a.url, true)
	wr.hello(nil)
	wr.send(map[string]any{"t": "sub", "id": 1, "key": "likes", "resume": first[0].resume})
	readSnapshot(t, wr, cut, nil)
	checkState("json resumed", cut.objs["likes"], crdt.ReplicaID{}, true)

	// (b) A folded writer connects as itself: its snapshot holds its
	// base, from which its increment goes on.
	const own = 7
	wo := dialWS(t, a.url, true)
	wo.replica = writerID(own)
	wo.hello(nil)
	wo.send(map[string]any{"t": "sub", "id": 1, "key": "likes"})
	ov := newWSView()
	readSnapshot(t, wo, ov, nil)
	mine := ov.objs["likes"]
	checkState("own", mine, writerID(own), false)
	if es, _ := mine.ReplicaLeaf(leaf, writerID(own)); len(es) != 1 {
		t.Fatalf("the folded writer's snapshot holds %v of its own", es)
	}
	d, err := mine.Apply(writerID(own), crdt.Timestamp{Wall: time.Now().UnixMilli()}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 3})
	if err != nil {
		t.Fatal(err)
	}
	wo.send(map[string]any{"t": "delta", "id": 1, "key": "likes", "delta": wsDeltaJSON(t, d)})
	ov.readUntil(t, wo, func() bool { return ov.kinds["ack"] == 1 || ov.kinds["error"] > 0 })
	if ov.kinds["ack"] != 1 {
		t.Fatalf("the folded writer's increment was refused: %v", ov.kinds)
	}
	want += 3
	waitConverged(t, time.Minute, nodes...)
	for _, n := range nodes {
		if got := wsCounter(t, n, "likes"); got != want {
			t.Fatalf("%s reads %d after the folded writer's increment, want %d", n.Name(), got, want)
		}
	}

	// (c) Writer 0, whose copy never saw its fold, returns through another
	// node, while one client of a (post-fold) snapshot watches live and
	// another is away and then catches up from the logs.
	live := newWSView()
	wl := dialWS(t, a.url, true)
	wl.hello(nil)
	wl.send(map[string]any{"t": "sub", "id": 1, "key": "likes"})
	readSnapshot(t, wl, live, nil)
	// and a client subscribed "empty", whose snapshot named none of the
	// folded writers, watches live.
	flagged := newWSView()
	wf := dialWS(t, a.url, true)
	wf.hello(nil)
	wf.send(map[string]any{"t": "sub", "id": 1, "key": "likes", "empty": true})
	readSnapshot(t, wf, flagged, nil)
	if flagged.objs["likes"].Context().Max(writerID(0)) != 0 {
		t.Fatal("the empty client's snapshot names writer 0")
	}
	// So does one in the compact binary form (binary2), whose live deltas
	// come in frames of items.
	wc2 := dialWS(t, a.url, true)
	wc2.hello(map[string]any{"encoding": protocol.EncodingCompact})
	wc2.send(map[string]any{"t": "sub", "id": 1, "key": "likes", "empty": true})
	compact, _, last := snapshotBinaryLast(t, wc2)
	if got := compact.Value().(int64); got != want || compact.Context().Max(writerID(0)) != 0 {
		t.Fatalf("the binary2 empty client's snapshot reads %d (want %d), names writer 0 at %d", got, want, compact.Context().Max(writerID(0)))
	}
	var rd frames.Reader
	rd.SetCursor(snapshotCursor(t, last))
	away := newWSView()
	wa := dialWS(t, a.url, true)
	wa.hello(nil)
	wa.send(map[string]any{"t": "sub", "id": 1, "key": "likes"})
	readSnapshot(t, wa, away, nil)
	wa.c.Close()
	snapshots := away.kinds["snapshot"]
	cursor, err := json.Marshal(away.cursor)
	if err != nil {
		t.Fatal(err)
	}
	before := cw.want
	cw.write(0, nodes[1])
	want += cw.want - before
	waitConverged(t, time.Minute, nodes...)
	for _, n := range nodes {
		if got := wsCounter(t, n, "likes"); got != want {
			t.Fatalf("%s reads %d after writer 0's return, want %d", n.Name(), got, want)
		}
	}
	value := func(v *wsView) func() bool {
		return func() bool { return v.objs["likes"].Value().(int64) == want }
	}
	live.readUntil(t, wl, value(live))
	flagged.readUntil(t, wf, value(flagged))
	for deadline := time.Now().Add(15 * time.Second); compact.Value().(int64) != want; {
		if time.Now().After(deadline) {
			t.Fatalf("the binary2 empty client reads %d, want %d", compact.Value().(int64), want)
		}
		f := wc2.next()
		if f.mt != websocket.BinaryMessage {
			continue // presence sets
		}
		its, err := rd.ReadLive(f.data)
		if err != nil {
			t.Fatalf("live frame: %v", err)
		}
		for _, it := range its {
			d, err := it.Decode()
			if err != nil {
				t.Fatal(err)
			}
			compact.Join(d)
		}
	}
	wk := dialWS(t, a.url, true)
	wk.hello(map[string]any{"cursor": json.RawMessage(cursor)})
	wk.send(map[string]any{"t": "sub", "id": 1, "key": "likes"})
	away.readUntil(t, wk, func() bool { return away.kinds["catchup"] == 1 })
	if away.kinds["snapshot"] != snapshots {
		t.Fatalf("the returning client got %v, want a catch-up", away.kinds)
	}
	if got := away.objs["likes"].Value().(int64); got != want {
		t.Fatalf("the client that caught up reads %d, want %d", got, want)
	}
	// Neither overshoots later: the views match the node's value.
	if got := live.objs["likes"].Value().(int64); got != want {
		t.Fatalf("the live client reads %d, want %d", got, want)
	}
	if got := flagged.objs["likes"].Value().(int64); got != want {
		t.Fatalf("the empty client reads %d, want %d", got, want)
	}
}
