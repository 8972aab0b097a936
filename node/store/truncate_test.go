package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/lattice-sync/lattice/crdt"
)

// TestTruncationThroughCommitter: truncating drops exactly the entries
// past LogRetention, through the committer (the only writer of Badger),
// raises the floor to match, survives a reopen, and the committer refuses
// to delete an entry above the floor.
func TestTruncationThroughCommitter(t *testing.T) {
	cfg := testConfig(t, "n")
	cfg.LogRetention = 3
	n, err := openStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if _, err := n.Apply(ctx, "c", crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.TruncateLogs(); err != nil {
		t.Fatal(err)
	}
	held := func(n *Store) []uint64 {
		var seqs []uint64
		if err := n.db.View(func(txn *badger.Txn) error {
			_, err := readLog(txn, n.id, 1, 100, 1<<30, func(seq uint64, _ []byte) { seqs = append(seqs, seq) })
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return seqs
	}
	if got := held(n); len(got) != 3 || got[0] != 8 || got[2] != 10 {
		t.Fatalf("log holds %v after truncation, want 8..10", got)
	}
	if f := n.Floor(n.id); f != 7 {
		t.Fatalf("floor %d, want 7", f)
	}
	// A floor raised to 8 without deleting: a request to delete 8 and 9 is
	// refused whole, 8 included.
	if _, err := n.Submit(ctx, &Request{Kind: ReqFloor, Floors: crdt.VersionVector{n.id: 8}}); err != nil {
		t.Fatal(err)
	}
	_, err = n.Submit(ctx, &Request{Kind: ReqTruncate, Origin: n.id, Drop: []uint64{8, 9}})
	if err == nil || !strings.Contains(err.Error(), "above the floor") {
		t.Fatalf("deleting an entry above the floor: %v, want refused", err)
	}
	if got := held(n); len(got) != 3 {
		t.Fatalf("a refused truncation changed the log: %v", got)
	}
	n.Close()
	n, err = openStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got, f := held(n), n.Floor(n.id); len(got) != 3 || f != 8 {
		t.Fatalf("after reopening: log %v, floor %d", got, f)
	}
	o, err := n.Get("c")
	if err != nil {
		t.Fatal(err)
	}
	if v := fmt.Sprint(o.Value()); v != "10" {
		t.Fatalf("counter %v after truncation, want 10", v)
	}
}
