package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
)

// TestClientCounterAfterOwnRemoveOutOfOrder: a client increments a map's
// counter field, deletes the field, and increments it again (its totals
// start over). The node takes a connection's deltas on goroutines of their
// own, so the last may reach the committer before the delete: it waits
// for the delete instead of being refused as taking back counts; alone,
// with no delete coming, it is refused once the wait is over.
func TestClientCounterAfterOwnRemoveOutOfOrder(t *testing.T) {
	cfg := testConfig(t, "n")
	cfg.UnseenDotsWait = 2 * time.Second
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	c := uuid.New()
	o := crdt.NewObject()
	now := crdt.Timestamp{Wall: time.Now().UnixMilli()}
	apply := func(op crdt.Op) *crdt.Object {
		t.Helper()
		d, err := o.Apply(c, now, op)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	inc5 := apply(crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 5, Path: []string{"v"}})
	del := apply(crdt.Op{Type: crdt.TypeORMap, Kind: crdt.OpDelete, Path: []string{"v"}})
	inc1 := apply(crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1, Path: []string{"v"}})
	if err := n.JoinClient(ctx, c, "m", inc5); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.JoinClient(ctx, c, "m", inc1) }()
	time.Sleep(50 * time.Millisecond) // let it reach the committer first, usually
	if err := n.JoinClient(ctx, c, "m", del); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the increment after the delete, arriving first: %v", err)
	}
	got, err := n.Get("m")
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Value().(map[string]any)["v"]; v != int64(1) {
		t.Fatalf("counter %v, want 1 (the delete, then 1)", v)
	}

	// The same increment with its delete never sent: a delta that takes
	// back counts, refused once the wait is over.
	c2 := uuid.New()
	o2 := crdt.NewObject()
	up, err := o2.Apply(c2, now, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 5, Path: []string{"v"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o2.Apply(c2, now, crdt.Op{Type: crdt.TypeORMap, Kind: crdt.OpDelete, Path: []string{"v"}}); err != nil {
		t.Fatal(err)
	}
	lower, err := o2.Apply(c2, now, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1, Path: []string{"v"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.JoinClient(ctx, c2, "k", up); err != nil {
		t.Fatal(err)
	}
	err = n.JoinClient(ctx, c2, "k", lower)
	if !errors.Is(err, crdt.ErrCounterBehind) || !errors.Is(err, crdt.ErrInvalid) {
		t.Fatalf("taking back counts with no remove coming: %v, want refused (invalid)", err)
	}
}
