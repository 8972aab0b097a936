package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
)

// TestFoldRequest: a fold keeps the counter's value, is logged as the
// node's own entry, is refused when repeated, and a writer that writes
// again from its pre-fold copy counts once.
func TestFoldRequest(t *testing.T) {
	n, err := openStore(testConfig(t, "n"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	inc := crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 5}
	w := writerID(1)
	mine := crdt.NewObject()
	write := func() {
		t.Helper()
		d, err := mine.Apply(w, crdt.Timestamp{Wall: time.Now().UnixMilli()}, inc)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.JoinClient(ctx, w, "c", d); err != nil {
			t.Fatal(err)
		}
	}
	write()
	write()
	own := n.VersionVector()[n.ID()]
	no := errors.New("no")
	var seen map[crdt.ReplicaID]bool
	if _, err := n.Fold(ctx, "c", w, func(os map[crdt.ReplicaID]bool) error { seen = os; return no }); !errors.Is(err, no) {
		t.Fatalf("a fold its gate refuses: %v", err)
	}
	if !seen[n.ID()] || len(seen) != 1 {
		t.Fatalf("the gate saw origins %v, want this node's alone", seen)
	}
	if got := n.VersionVector()[n.ID()]; got != own {
		t.Fatalf("a refused fold moved the own log to %d from %d", got, own)
	}
	if _, err := n.Fold(ctx, "c", w, nil); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, n, "c"); got != 10 {
		t.Fatalf("after the fold %d, want 10", got)
	}
	if got := n.VersionVector()[n.ID()]; got != own+1 {
		t.Fatalf("own log at %d after the fold, want %d", got, own+1)
	}
	o, _ := n.Get("c")
	if es, _ := o.ReplicaLeaf(crdt.Path{Root: crdt.TypePNCounter}.Key(), w); !crdt.IsZeroed(es) {
		t.Fatalf("writer's entries after the fold: %v", es)
	}
	if _, err := n.Fold(ctx, "c", w, nil); !errors.Is(err, crdt.ErrInvalidOp) {
		t.Fatalf("second fold: %v, want ErrInvalidOp", err)
	}
	write() // from a copy that never saw the fold
	if got := counterValue(t, n, "c"); got != 15 {
		t.Fatalf("after the return %d, want 15", got)
	}
}

// TestFoldReplicaIsNoClient: a client delta under a fold replica's id is
// refused as forged, before it is looked at.
func TestFoldReplicaIsNoClient(t *testing.T) {
	n, err := openStore(testConfig(t, "n"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	f := crdt.FoldReplica(n.ID())
	d, err := crdt.NewObject().Apply(f, crdt.Timestamp{Wall: time.Now().UnixMilli()}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.JoinClient(context.Background(), f, "c", d); !errors.Is(err, crdt.ErrForgedDot) {
		t.Fatalf("a delta of %s: %v, want ErrForgedDot", f, err)
	}
}
