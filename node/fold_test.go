package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/testkit"
)

// foldWriter folds w on its decider among nodes, retrying while the
// peers' reports do not allow it yet; it returns the decider.
func foldWriter(t *testing.T, nodes []*Node, key string, w crdt.ReplicaID) (*Node, error) {
	var ids []crdt.ReplicaID
	for _, n := range nodes {
		ids = append(ids, n.ID())
	}
	d := FoldDecider(w, ids)
	for _, n := range nodes {
		if n.ID() != d {
			continue
		}
		for range 100 {
			_, err := n.Fold(context.Background(), key, w)
			if !errors.Is(err, ErrFoldNotStable) {
				return n, err
			}
		}
		return n, fmt.Errorf("folding %s: never stable", w)
	}
	return nil, fmt.Errorf("no decider %s", d)
}

// TestFoldedWritersCountOnce is issue 13's reclamation acceptance: many
// writers increment a root counter through the real client path
// (JoinClient) on 3 nodes, retire, and are folded by their deciders; then
// a folded writer whose copy never saw its fold writes again through a
// node other than its decider, one whose copy saw it writes again, and a
// pre-fold delta is resent. Every node converges to the exact sum, each
// write counted once, and every folded writer that did not return is a
// base alone (crdt.IsZeroed) on every node.
func TestFoldedWritersCountOnce(t *testing.T) {
	const writers, folded = 300, 150
	seed := testkit.Seed(t)
	rnd := testkit.Rand(seed, 0)
	nodes := threeNodes(t, "fold")
	ctx := context.Background()
	leaf := crdt.Path{Root: crdt.TypePNCounter}.Key()
	copies := make([]*crdt.Object, writers)
	first := make([]*crdt.Object, writers) // each writer's first delta
	var want int64
	write := func(i int, via *Node) {
		t.Helper()
		by := int64(1 + rnd.IntN(5))
		d, err := copies[i].Apply(writerID(i), crdt.Timestamp{Wall: time.Now().UnixMilli()}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: by})
		if err == nil {
			err = via.JoinClient(ctx, writerID(i), "likes", d)
		}
		if err != nil {
			t.Fatalf("writer %d via %s: %v", i, via.Name(), err)
		}
		if first[i] == nil {
			first[i] = d
		}
		want += by
	}
	for i := range writers {
		copies[i] = crdt.NewObject()
		for range 1 + rnd.IntN(3) {
			write(i, nodes[rnd.IntN(len(nodes))])
		}
	}
	waitConverged(t, time.Minute, nodes...)

	// Writers 0..folded-1 retire and are folded, all at once.
	deciders := make([]*Node, folded)
	var wg sync.WaitGroup
	errs := make(chan error, folded)
	for i := range folded {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := foldWriter(t, nodes, "likes", writerID(i))
			deciders[i] = d
			if err != nil {
				errs <- fmt.Errorf("writer %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, n := range nodes { // only the decider folds
		if n != deciders[0] {
			if _, err := n.Fold(ctx, "likes", writerID(0)); !errors.Is(err, ErrNotDecider) {
				t.Fatalf("%s folding writer 0 (decided by %s): %v, want ErrNotDecider", n.Name(), deciders[0].Name(), err)
			}
		}
	}
	if _, err := foldWriter(t, nodes, "likes", writerID(0)); !errors.Is(err, crdt.ErrInvalidOp) {
		t.Fatalf("folding writer 0 again: %v, want ErrInvalidOp", err)
	}
	waitConverged(t, time.Minute, nodes...)
	for _, n := range nodes {
		if got := wsCounter(t, n, "likes"); got != want {
			t.Fatalf("%s reads %d after the folds, want %d", n.Name(), got, want)
		}
		o, err := n.Get("likes")
		if err != nil {
			t.Fatal(err)
		}
		for i := range folded {
			if es, _ := o.ReplicaLeaf(leaf, writerID(i)); !crdt.IsZeroed(es) {
				t.Fatalf("%s holds writer %d as %v, want a base alone", n.Name(), i, es)
			}
		}
	}

	// (a) Writer 0, whose copy never saw its fold, writes again through
	// another node than its decider.
	other := nodes[0]
	if other == deciders[0] {
		other = nodes[1]
	}
	write(0, other)
	// (b) Writer 1's copy sees its fold (it reads a node's state), then it
	// writes again.
	st, err := nodes[rnd.IntN(len(nodes))].Get("likes")
	if err != nil {
		t.Fatal(err)
	}
	copies[1].Join(st)
	if es, _ := copies[1].ReplicaLeaf(leaf, writerID(1)); !crdt.IsZeroed(es) {
		t.Fatalf("writer 1's copy after reading: %v, want its base", es)
	}
	write(1, nodes[rnd.IntN(len(nodes))])
	// A resend of pre-fold deltas changes nothing.
	for _, i := range []int{0, 2, folded + 1} {
		if err := nodes[rnd.IntN(len(nodes))].JoinClient(ctx, writerID(i), "likes", first[i]); err != nil {
			t.Fatalf("resending writer %d's first delta: %v", i, err)
		}
	}
	waitConverged(t, time.Minute, nodes...)
	for _, n := range nodes {
		if got := wsCounter(t, n, "likes"); got != want {
			t.Fatalf("%s reads %d after the returns, want %d", n.Name(), got, want)
		}
	}
	t.Logf("%d writers, %d folded, sum %d", writers, folded, want)
}

// TestFoldScheduler: with FoldAfter set, the nodes fold retired writers by
// themselves (each by its decider), the value stays the exact sum, and a
// folded writer that returns with a copy that never saw its fold counts
// once. It waits for the folds with a generous deadline, asserting no
// timing.
func TestFoldScheduler(t *testing.T) {
	const writers = 60
	seed := testkit.Seed(t)
	rnd := testkit.Rand(seed, 0)
	nodes := threeNodesWith(t, "fs", func(c *Config) { c.FoldAfter = 100 * time.Millisecond })
	ctx := context.Background()
	leaf := crdt.Path{Root: crdt.TypePNCounter}.Key()
	copies := make([]*crdt.Object, writers)
	var want int64
	write := func(i int) {
		t.Helper()
		by := int64(1 + rnd.IntN(5))
		d, err := copies[i].Apply(writerID(i), crdt.Timestamp{Wall: time.Now().UnixMilli()}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: by})
		if err == nil {
			err = nodes[rnd.IntN(len(nodes))].JoinClient(ctx, writerID(i), "likes", d)
		}
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
		want += by
	}
	for i := range writers {
		copies[i] = crdt.NewObject()
		write(i)
		write(i)
	}
	zeroed := func() bool {
		for _, n := range nodes {
			o, err := n.Get("likes")
			if err != nil {
				t.Fatal(err)
			}
			for i := range writers {
				if es, _ := o.ReplicaLeaf(leaf, writerID(i)); !crdt.IsZeroed(es) {
					return false
				}
			}
		}
		return true
	}
	deadline := time.Now().Add(time.Minute)
	for !zeroed() {
		if time.Now().After(deadline) {
			t.Fatal("the writers were not all folded within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitConverged(t, time.Minute, nodes...)
	var folds float64
	for _, n := range nodes {
		if got := wsCounter(t, n, "likes"); got != want {
			t.Fatalf("%s reads %d after the folds, want %d", n.Name(), got, want)
		}
		folds += foldsTotal(t, n)
	}
	if folds != writers {
		t.Fatalf("%v folds, want %d (one per writer)", folds, writers)
	}
	write(0) // never saw its fold
	waitConverged(t, time.Minute, nodes...)
	for _, n := range nodes {
		if got := wsCounter(t, n, "likes"); got != want {
			t.Fatalf("%s reads %d after the return, want %d", n.Name(), got, want)
		}
	}
}

// foldsTotal is n's lattice_folds_total.
func foldsTotal(t *testing.T, n *Node) float64 {
	t.Helper()
	mfs, err := n.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "lattice_folds_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no lattice_folds_total")
	return 0
}
