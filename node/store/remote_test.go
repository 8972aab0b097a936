package store

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/lattice-sync/lattice/crdt"
)

// syncBuffer is a log sink the committer writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// remoteEntryOf is a peer's log entry of items.
func remoteEntryOf(t *testing.T, items []crdt.BatchItem) []byte {
	t.Helper()
	raw, err := crdt.Batch{Clock: crdt.Timestamp{Wall: 1}, Items: items}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// peerDeltas applies ops on a store standing for a peer and returns their
// deltas as batch items.
func peerDeltas(t *testing.T, ops map[string][]crdt.Op, keys ...string) []crdt.BatchItem {
	t.Helper()
	p, err := openStore(testConfig(t, "peer"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var items []crdt.BatchItem
	for _, k := range keys {
		for _, op := range ops[k] {
			d, err := p.Apply(context.Background(), k, op)
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, crdt.BatchItem{Key: k, Delta: d})
		}
	}
	return items
}

func remote(seq uint64, raw []byte) *Request {
	return &Request{Kind: ReqRemote, Origin: writerID(7), Remote: []LogEntry{{Seq: seq, Raw: raw}}}
}

// TestRemoteUndecodableDropped: a peer's log entry that does not decode is
// logged and dropped: nothing joined, no change, no log entry.
func TestRemoteUndecodableDropped(t *testing.T) {
	var logs syncBuffer
	cfg := testConfig(t, "n")
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	var mu sync.Mutex
	var changes []Change
	n, err := Open(cfg, func(st *Stage) {
		mu.Lock()
		changes = append(changes, st.Changes...)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	items := peerDeltas(t, map[string][]crdt.Op{"k": {{Type: crdt.TypeGCounter, Kind: crdt.OpInc, By: 3}}}, "k")
	raw := remoteEntryOf(t, items)
	ctx := context.Background()
	for _, bad := range [][]byte{raw[:len(raw)-1], append(bytes.Clone(raw), 0)} {
		if _, err := n.Submit(ctx, remote(1, bad)); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(logs.String(), "dropping undecodable log entry") {
		t.Fatalf("no warning logged:\n%s", logs.String())
	}
	mu.Lock()
	got := len(changes)
	mu.Unlock()
	if got != 0 {
		t.Fatalf("%d changes from undecodable entries", got)
	}
	if v := counterValue(t, n, "k"); v != 0 {
		t.Fatalf("k = %d after undecodable entries", v)
	}
	if vv := n.VersionVector(); vv[writerID(7)] != 0 {
		t.Fatalf("undecodable entry counted in the vector: %v", vv)
	}
	// The same sequence number, decodable, is then joined.
	if _, err := n.Submit(ctx, remote(1, raw)); err != nil {
		t.Fatal(err)
	}
	if v := counterValue(t, n, "k"); v != 3 {
		t.Fatalf("k = %d, want 3", v)
	}
	if vv := n.VersionVector(); vv[writerID(7)] != 1 {
		t.Fatalf("entry not counted in the vector: %v", vv)
	}
}

// TestRemoteChangeDecodedOnDemand: the changes of a peer's entry joined
// from its bytes give the deltas decode-then-join gives, item by item
// (an invalid key's item skipped), and land in a kept object as they did.
func TestRemoteChangeDecodedOnDemand(t *testing.T) {
	add := func(v string) crdt.Op {
		return crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String(v)}
	}
	items := peerDeltas(t, map[string][]crdt.Op{
		"k": {add("b"), add("c")},
		"x": {add("z")},
		"j": {{Type: crdt.TypeGCounter, Kind: crdt.OpInc, By: 2}},
	}, "k", "x", "j")
	items[2].Key = strings.Repeat("x", MaxKeyLen+1) // a key no store takes
	first := peerDeltas(t, map[string][]crdt.Op{"k": {add("a")}}, "k")
	raw := remoteEntryOf(t, items)
	decoded, err := crdt.UnmarshalBatch(raw)
	if err != nil {
		t.Fatal(err)
	}

	// open gives a store whose "k" holds {a} (another peer's), kept hot, and the changes it lands.
	open := func(name string) (*Store, func() []Change) {
		var mu sync.Mutex
		var changes []Change
		n, err := Open(testConfig(t, name), func(st *Stage) {
			mu.Lock()
			changes = append(changes, st.Changes...)
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		if _, err := n.Submit(context.Background(), &Request{Kind: ReqState, States: first}); err != nil {
			t.Fatal(err)
		}
		ver := n.hot.version("k")
		o, err := n.Get("k")
		if err != nil {
			t.Fatal(err)
		}
		n.hot.put("k", o, ver)
		mu.Lock()
		changes = nil
		mu.Unlock()
		return n, func() []Change {
			mu.Lock()
			defer mu.Unlock()
			return changes
		}
	}
	hot := func(n *Store) *crdt.Object {
		n.hot.mu.Lock()
		e, ok := n.hot.objs["k"]
		n.hot.mu.Unlock()
		if !ok {
			t.Fatal("k is no longer kept")
		}
		ho := e.Value.(*hotObject)
		ho.mu.Lock()
		defer ho.mu.Unlock()
		return ho.o.Clone()
	}

	// From bytes, as the committer joins a peer's entry.
	n, nChanges := open("n")
	if _, err := n.Submit(context.Background(), remote(1, raw)); err != nil {
		t.Fatal(err)
	}
	// Decode-then-join: the decoded items, joined one by one.
	m, mChanges := open("m")
	if _, err := m.Submit(context.Background(), &Request{Kind: ReqState, States: decoded.Items}); err != nil {
		t.Fatal(err)
	}

	got, want := nChanges(), mChanges()
	if len(got) != 3 || len(want) != 3 {
		t.Fatalf("%d changes from bytes, %d decoded, want 3 (the invalid key skipped)", len(got), len(want))
	}
	for i := range got {
		gd, err := got[i].Delta()
		if err != nil {
			t.Fatal(err)
		}
		wd, _ := want[i].Delta()
		if got[i].Key != want[i].Key || !gd.Equal(wd) {
			t.Fatalf("change %d: %q %v, want %q %v", i, got[i].Key, gd.Value(), want[i].Key, wd.Value())
		}
		if again, _ := got[i].Delta(); again != gd {
			t.Fatalf("change %d decoded twice", i)
		}
	}
	if h, w := hot(n), hot(m); !h.Equal(w) {
		t.Fatalf("kept object %v, want %v", h.Value(), w.Value())
	}
	for _, k := range []string{"k", "j"} {
		a, _ := n.Get(k)
		b, _ := m.Get(k)
		if !a.Equal(b) {
			t.Fatalf("%s: %v joined from bytes, %v decoded", k, a.Value(), b.Value())
		}
	}
	if h, _ := n.Get("k"); !hot(n).Equal(h) {
		t.Fatalf("kept object %v, stored %v", hot(n).Value(), h.Value())
	}
}

// BenchmarkRemoteEntries: the committer joining a peer's one-item log
// entries (set adds on 16 keys, as a peer pushes them), 64 a request, into
// a store with no observer and no hot object (go test -run '^$' -bench
// RemoteEntries -cpuprofile shows what decoding costs there).
func BenchmarkRemoteEntries(b *testing.B) {
	const pool, per = 4096, 64
	p, err := openStore(testConfig(b, "peer"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	entries := make([]LogEntry, pool)
	for i := range entries {
		key := fmt.Sprintf("s/%d", i%16)
		d, err := p.Apply(ctx, key, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String(fmt.Sprint(i))})
		if err != nil {
			b.Fatal(err)
		}
		raw, err := logEntryOf(p.Now(), key, d)
		if err != nil {
			b.Fatal(err)
		}
		entries[i] = LogEntry{Seq: uint64(i) + 1, Raw: raw}
	}
	p.Close()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		n, err := openStore(testConfig(b, "n"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := 0; i < pool && done < b.N; i += per {
			k := min(per, pool-i, b.N-done)
			if _, err := n.Submit(ctx, &Request{Kind: ReqRemote, Origin: writerID(7), Remote: entries[i : i+k]}); err != nil {
				b.Fatal(err)
			}
			done += k
		}
		b.StopTimer()
		n.Close()
		b.StartTimer()
	}
}
