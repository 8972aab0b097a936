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
	"github.com/lattice-sync/lattice/transport"
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
	cw := newCounterWriters(t, rnd, "likes", writers)
	write := cw.write
	for i := range writers {
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
		if got := wsCounter(t, n, "likes"); got != cw.want {
			t.Fatalf("%s reads %d after the folds, want %d", n.Name(), got, cw.want)
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
	cw.copies[1].Join(st)
	if es, _ := cw.copies[1].ReplicaLeaf(leaf, writerID(1)); !crdt.IsZeroed(es) {
		t.Fatalf("writer 1's copy after reading: %v, want its base", es)
	}
	write(1, nodes[rnd.IntN(len(nodes))])
	// A resend of pre-fold deltas changes nothing.
	for _, i := range []int{0, 2, folded + 1} {
		if err := nodes[rnd.IntN(len(nodes))].JoinClient(ctx, writerID(i), "likes", cw.first[i]); err != nil {
			t.Fatalf("resending writer %d's first delta: %v", i, err)
		}
	}
	waitConverged(t, time.Minute, nodes...)
	for _, n := range nodes {
		if got := wsCounter(t, n, "likes"); got != cw.want {
			t.Fatalf("%s reads %d after the returns, want %d", n.Name(), got, cw.want)
		}
	}
	t.Logf("%d writers, %d folded, sum %d", writers, folded, cw.want)
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
	nodes := threeNodesWith(t, "fs", func(c *Config) { c.FoldAfter = 100 * time.Millisecond }, nil)
	leaf := crdt.Path{Root: crdt.TypePNCounter}.Key()
	cw := newCounterWriters(t, rnd, "likes", writers)
	write := func(i int) { cw.write(i, nodes[rnd.IntN(len(nodes))]) }
	for i := range writers {
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
	if folds := convergedTo(t, nodes, "likes", cw.want); folds != writers {
		t.Fatalf("%v folds, want %d (one per writer)", folds, writers)
	}
	write(0) // never saw its fold
	waitConverged(t, time.Minute, nodes...)
	for _, n := range nodes {
		if got := wsCounter(t, n, "likes"); got != cw.want {
			t.Fatalf("%s reads %d after the return, want %d", n.Name(), got, cw.want)
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

// TestFoldReturnBeforeTheFold: the decider folds a writer while cut off
// from the other nodes (on the peers' last reports), and the writer, whose
// copy never saw the fold, writes again through another node before the
// fold reaches it, and resends its first delta there. That node counts the
// return once without the fold; once healed, every node converges to the
// exact sum.
func TestFoldReturnBeforeTheFold(t *testing.T) {
	const writers = 20
	seed := testkit.Seed(t)
	rnd := testkit.Rand(seed, 0)
	nodes, faulty := faultyNodes(t, "fr", int64(seed), func(*Config) {})
	ctx := context.Background()
	cw := newCounterWriters(t, rnd, "likes", writers)
	write := cw.write
	for i := range writers {
		write(i, nodes[rnd.IntN(len(nodes))])
		write(i, nodes[rnd.IntN(len(nodes))])
	}
	waitConverged(t, time.Minute, nodes...)

	var ids []crdt.ReplicaID
	for _, n := range nodes {
		ids = append(ids, n.ID())
	}
	var dec *Node
	var others []*Node
	for _, n := range nodes {
		if n.ID() == FoldDecider(writerID(0), ids) {
			dec = n
		} else {
			others = append(others, n)
		}
	}
	cut := transport.Faults{Cut: []string{others[0].Name(), others[1].Name()}}
	for tries := 0; ; tries++ {
		// The decider needs reports that cover its vector: heal until
		// they come, then fold cut off.
		time.Sleep(100 * time.Millisecond)
		if err := faulty[dec].SetFaults(cut); err != nil {
			t.Fatal(err)
		}
		_, err := dec.Fold(ctx, "likes", writerID(0))
		if err == nil {
			break
		}
		if !errors.Is(err, ErrFoldNotStable) || tries == 50 {
			t.Fatalf("folding cut off: %v", err)
		}
		if err := faulty[dec].SetFaults(transport.Faults{}); err != nil {
			t.Fatal(err)
		}
	}
	via := others[0]
	o, err := via.Get("likes")
	if err != nil {
		t.Fatal(err)
	}
	if es, _ := o.ReplicaLeaf(crdt.Path{Root: crdt.TypePNCounter}.Key(), writerID(0)); len(es) == 0 || es[0].Base {
		t.Fatalf("%s holds writer 0 as %v: the fold reached it through the cut", via.Name(), es)
	}
	write(0, via) // the fold has not reached via
	if err := via.JoinClient(ctx, writerID(0), "likes", cw.first[0]); err != nil {
		t.Fatal(err)
	}
	if got := wsCounter(t, via, "likes"); got != cw.want {
		t.Fatalf("%s reads %d before the fold reaches it, want %d", via.Name(), got, cw.want)
	}
	if err := faulty[dec].SetFaults(transport.Faults{}); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, time.Minute, nodes...)
	for _, n := range nodes {
		if got := wsCounter(t, n, "likes"); got != cw.want {
			t.Fatalf("%s reads %d after the heal, want %d", n.Name(), got, cw.want)
		}
	}
}

// counterWriters are a test's client replicas of one root counter, each
// with its own copy, writing through the real client path (JoinClient).
type counterWriters struct {
	t      *testing.T
	rnd    interface{ IntN(int) int }
	key    string
	copies []*crdt.Object
	first  []*crdt.Object // each writer's first delta
	last   *crdt.Object   // the last delta written
	nodes  []*Node        // where send tries a delta via refused as unseen
	want   int64          // the sum of every increment
}

func newCounterWriters(t *testing.T, rnd interface{ IntN(int) int }, key string, n int) *counterWriters {
	cw := &counterWriters{t: t, rnd: rnd, key: key, copies: make([]*crdt.Object, n), first: make([]*crdt.Object, n)}
	for i := range cw.copies {
		cw.copies[i] = crdt.NewObject()
	}
	return cw
}

// send sends writer i's delta d through via, and, if via has not yet
// received what d's context covers (the copy read another node; retryable
// unseen_dots), through the other nodes until one takes it.
func (cw *counterWriters) send(i int, via *Node, d *crdt.Object) error {
	err := via.JoinClient(context.Background(), writerID(i), cw.key, d)
	for _, n := range cw.nodes {
		if !errors.Is(err, crdt.ErrUnseenDots) {
			break
		}
		err = n.JoinClient(context.Background(), writerID(i), cw.key, d)
	}
	return err
}

// write has writer i add 1 to 5 through via.
func (cw *counterWriters) write(i int, via *Node) {
	t := cw.t
	t.Helper()
	by := int64(1 + cw.rnd.IntN(5))
	d, err := cw.copies[i].Apply(writerID(i), crdt.Timestamp{Wall: time.Now().UnixMilli()}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: by})
	if err == nil {
		err = cw.send(i, via, d)
	}
	if err != nil {
		t.Fatalf("writer %d via %s: %v", i, via.Name(), err)
	}
	if cw.first[i] == nil {
		cw.first[i] = d
	}
	cw.last = d
	cw.want += by
}

// faultyNodes opens three nodes, each on a fault-injecting transport over
// one in-memory network, with each test config changed by set.
func faultyNodes(t *testing.T, name string, seed int64, set func(*Config)) ([]*Node, map[*Node]*transport.Faulty) {
	t.Helper()
	var fs []*transport.Faulty
	nodes := threeNodesWith(t, name, set, func(i int, tr transport.Transport) transport.Transport {
		f := transport.NewFaulty(tr, seed+int64(i))
		t.Cleanup(func() { f.Close() })
		fs = append(fs, f)
		return f
	})
	faulty := map[*Node]*transport.Faulty{}
	for i, n := range nodes {
		faulty[n] = fs[i]
	}
	return nodes, faulty
}

// convergedTo waits for nodes to converge, checks that each reads want at
// key, and returns how many folds they made in all.
func convergedTo(t *testing.T, nodes []*Node, key string, want int64) (folds float64) {
	t.Helper()
	waitConverged(t, time.Minute, nodes...)
	for _, n := range nodes {
		if got := wsCounter(t, n, key); got != want {
			t.Fatalf("%s reads %d, want %d", n.Name(), got, want)
		}
		folds += foldsTotal(t, n)
	}
	return folds
}

// TestFoldChurn: writers write, go idle, are folded by the scheduler and
// come back, some after reading a node's state (so seeing their fold or
// not), some resending an old delta, while the network drops, duplicates
// and reorders messages. Once healed, every node converges to the exact
// sum. How many folds happen depends on timing; the test logs it and
// asserts only the sum.
func TestFoldChurn(t *testing.T) {
	const writers, steps = 30, 300
	seed := testkit.Seed(t)
	rnd := testkit.Rand(seed, 0)
	nodes, faulty := faultyNodes(t, "fc", int64(seed), func(c *Config) { c.FoldAfter = 60 * time.Millisecond })
	for _, f := range faulty {
		if err := f.SetFaults(transport.Faults{Drop: 0.1, Duplicate: 0.1, Reorder: 0.1}); err != nil {
			t.Fatal(err)
		}
	}
	cw := newCounterWriters(t, rnd, "likes", writers)
	cw.nodes = nodes
	sent := make([][]*crdt.Object, writers) // every delta each writer sent
	for step := range steps {
		i := rnd.IntN(writers)
		via := nodes[rnd.IntN(len(nodes))]
		switch r := rnd.IntN(10); {
		case r < 3: // read a node's state first, then write there
			o, err := via.Get("likes")
			if err != nil {
				t.Fatal(err)
			}
			if o.Type() != 0 {
				cw.copies[i].Join(o)
			}
		case r < 4 && len(sent[i]) > 0: // resend an old delta
			d := sent[i][rnd.IntN(len(sent[i]))]
			if err := cw.send(i, via, d); err != nil {
				t.Fatalf("step %d: resending writer %d's delta via %s: %v", step, i, via.Name(), err)
			}
			continue
		}
		cw.write(i, via)
		sent[i] = append(sent[i], cw.last)
		if step%25 == 24 {
			time.Sleep(150 * time.Millisecond) // writers go idle: the scheduler folds
		}
	}
	for _, f := range faulty {
		if err := f.SetFaults(transport.Faults{}); err != nil {
			t.Fatal(err)
		}
	}
	folds := convergedTo(t, nodes, "likes", cw.want)
	t.Logf("%d writers, %d steps, %v folds, sum %d", writers, steps, folds, cw.want)
}
