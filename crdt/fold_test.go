package crdt_test

import (
	"errors"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/lattice-sync/lattice/crdt"
)

var (
	foldNodeX = lawReplicas[0]
	foldW     = lawReplicas[1]
	foldV     = lawReplicas[2]
)

func mustInc(t testing.TB, o *crdt.Object, r crdt.ReplicaID, by int64) *crdt.Object {
	t.Helper()
	d, err := o.Apply(r, crdt.Timestamp{Wall: simStart}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: by})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func wantValue(t testing.TB, what string, o *crdt.Object, want int64) {
	t.Helper()
	if got := o.Value(); got != want {
		t.Fatalf("%s: value %v, want %d", what, got, want)
	}
}

// TestFoldCountsOnce: a folded writer keeps the counter's value, leaves one
// base that adds nothing, and counts once when it writes again, whether
// its copy saw the fold or not, and whatever reaches the node first.
func TestFoldCountsOnce(t *testing.T) {
	node := crdt.NewObject()
	client := crdt.NewObject() // w's own copy
	node.Join(mustInc(t, client, foldW, 5))
	node.Join(mustInc(t, crdt.NewObject(), foldV, 2))
	fold, err := node.Fold(foldW, crdt.FoldReplica(foldNodeX))
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, "after the fold", node, 7)
	es, _ := node.ReplicaLeaf(crdt.Path{Root: crdt.TypePNCounter}.Key(), foldW)
	if !crdt.IsZeroed(es) {
		t.Fatalf("w's entries after the fold: %+v, want a base alone", es)
	}
	if _, err := node.Fold(foldW, crdt.FoldReplica(foldNodeX)); !errors.Is(err, crdt.ErrInvalidOp) {
		t.Fatalf("folding a zeroed writer again: %v, want ErrInvalidOp", err)
	}
	if _, err := node.Fold(lawReplicas[3], crdt.FoldReplica(foldNodeX)); !errors.Is(err, crdt.ErrInvalidOp) {
		t.Fatalf("folding an absent writer: %v, want ErrInvalidOp", err)
	}

	// Not seen: w's copy still holds its raw entry and sends totals of 6.
	unseen := client.Clone()
	back := mustInc(t, unseen, foldW, 1)
	n1 := node.Clone()
	n1.Join(back)
	n1.Join(back)
	wantValue(t, "a returning writer that missed the fold", n1, 8)
	// The same delta before the fold: the order does not matter.
	n2 := crdt.NewObject()
	n2.Join(mustInc(t, crdt.NewObject(), foldV, 2))
	n2.Join(mustInc(t, crdt.NewObject(), foldW, 5)) // the same entry w made
	n2.Join(back)
	n2.Join(fold)
	wantValue(t, "the return before the fold", n2, 8)
	requireSameT(t, "return then fold, fold then return", n1, n2)

	// Seen: w's copy joined the fold and continues from its base.
	seen := client.Clone()
	seen.Join(fold)
	again := mustInc(t, seen, foldW, 1)
	n3 := node.Clone()
	n3.Join(again)
	wantValue(t, "a returning writer that saw the fold", n3, 8)

	// A resend of the folded entry is a no-op.
	n4 := node.Clone()
	n4.Join(client)
	requireSameT(t, "resend of the folded entry", n4, node)

	// A second fold moves only what came after the first.
	if _, err := n1.Fold(foldW, crdt.FoldReplica(foldNodeX)); err != nil {
		t.Fatal(err)
	}
	wantValue(t, "after a second fold", n1, 8)
}

func requireSameT(t *testing.T, what string, a, b *crdt.Object) {
	t.Helper()
	if !a.Equal(b) {
		ja, _ := a.MarshalJSON()
		jb, _ := b.MarshalJSON()
		t.Fatalf("%s: states differ\n%s\n%s", what, ja, jb)
	}
}

// TestFoldEncodings: a base survives both encodings, and version 2 readers
// of version 3 bytes get ErrVersion (an older build: simulated by the
// version check, which is the first byte).
func TestFoldEncodings(t *testing.T) {
	node := crdt.NewObject()
	node.Join(mustInc(t, crdt.NewObject(), foldW, 5))
	if _, err := node.Fold(foldW, crdt.FoldReplica(foldNodeX)); err != nil {
		t.Fatal(err)
	}
	b, err := node.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 3 {
		t.Fatalf("version byte %d, want 3", b[0])
	}
	d, err := crdt.UnmarshalObject(b)
	if err != nil {
		t.Fatal(err)
	}
	requireSameT(t, "binary round trip", d, node)
	j, _ := node.MarshalJSON()
	dj, err := crdt.UnmarshalObjectJSON(j)
	if err != nil {
		t.Fatal(err)
	}
	requireSameT(t, "JSON round trip", dj, node)
	// A writer's base and the raw entry it covers, sent together by hand,
	// read as the join would keep them.
	raw := fmt.Sprintf(`{"types":["counter"],"leaves":[[["counter"],[["%s",1,5,0],["%s",1,5,0,"base"],["%s",2,6,0]]]],"ctx":{"vv":[["%s",2]],"cloud":[]}}`, foldW, foldW, foldW, foldW)
	dr, err := crdt.UnmarshalObjectJSON([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, "hand-written base", dr, 1)
	if _, err := crdt.UnmarshalObjectJSON([]byte(fmt.Sprintf(`{"types":["counter"],"leaves":[[["counter"],[["%s",1,5,0,"based"]]]],"ctx":{"vv":[],"cloud":[]}}`, foldW))); !errors.Is(err, crdt.ErrInvalid) {
		t.Fatalf("a bad base mark: %v, want ErrInvalid", err)
	}
}

// TestClientRuleRefusesBases: a client never sends a base, its own
// included, and its new totals stay at or above its stored base.
func TestClientRuleRefusesBases(t *testing.T) {
	node := crdt.NewObject()
	client := crdt.NewObject()
	node.Join(mustInc(t, client, foldW, 5))
	node.Join(mustInc(t, crdt.NewObject(), foldV, 9))
	key := crdt.Path{Root: crdt.TypePNCounter}.Key()
	rule := crdt.ClientRule{Client: foldW, MaxWall: simStart + 60_000}
	for name, es := range map[string][]crdt.Entry{
		"own base":    {{Dot: crdt.Dot{Replica: foldW, Seq: 2}, P: 5, Base: true}},
		"base zeroes": {{Dot: crdt.Dot{Replica: foldW, Seq: 1}, P: 5, Base: true}},
	} {
		d := crdt.RawDelta(crdt.TypeSetOf(crdt.TypePNCounter), map[string][]crdt.Entry{key: es}, []crdt.Dot{es[0].Dot}, nil)
		if err := rule.Check(node, ptrMeta(node), d); !errors.Is(err, crdt.ErrClientBase) {
			t.Fatalf("%s: %v, want ErrClientBase", name, err)
		}
	}
	if _, err := node.Fold(foldW, crdt.FoldReplica(foldNodeX)); err != nil {
		t.Fatal(err)
	}
	// Below its base: the client would take back counts now in the fold entry.
	low := crdt.RawDelta(crdt.TypeSetOf(crdt.TypePNCounter), map[string][]crdt.Entry{key: {{Dot: crdt.Dot{Replica: foldW, Seq: 2}, P: 1}}}, []crdt.Dot{{Replica: foldW, Seq: 1}, {Replica: foldW, Seq: 2}}, nil)
	if err := rule.Check(node, ptrMeta(node), low); !errors.Is(err, crdt.ErrCounterBehind) {
		t.Fatalf("totals below the base: %v, want ErrCounterBehind", err)
	}
	// An honest return passes.
	if err := rule.Check(node, ptrMeta(node), mustInc(t, client, foldW, 1)); err != nil {
		t.Fatalf("an honest return: %v", err)
	}
}

// TestFoldConverges is the property of issue 13: clients increment at
// random, nodes fold writers at random (one decider per writer, the node
// its id picks), deltas, folds and states travel in any order with
// duplicates, and clients come back with and without having seen their
// fold. Every replica converges to the same state, whose value is exactly
// the sum of the increments, and the join laws hold between the states and
// deltas of the history.
func TestFoldConverges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nNodes := rapid.IntRange(2, 3).Draw(t, "nodes")
		nClients := rapid.IntRange(2, 5).Draw(t, "clients")
		nodes := make([]*crdt.Object, nNodes)
		nodeIDs := lawReplicas[:nNodes]
		for i := range nodes {
			nodes[i] = crdt.NewObject()
		}
		clientIDs := make([]crdt.ReplicaID, nClients)
		clients := make([]*crdt.Object, nClients)
		for i := range clients {
			clientIDs[i] = crdt.FoldReplica(lawReplicas[4]) // any id no node folds into
			clientIDs[i][0] = byte(i + 1)
			clients[i] = crdt.NewObject()
		}
		inbox := make([][]*crdt.Object, nNodes)
		var all []*crdt.Object
		var total int64
		send := func(d *crdt.Object, except int) {
			all = append(all, d)
			for j := range inbox {
				if j == except {
					continue
				}
				for k := rapid.IntRange(0, 2).Draw(t, "copies"); k > 0; k-- {
					inbox[j] = append(inbox[j], d)
				}
				if rapid.IntRange(0, 5).Draw(t, "lost") == 0 {
					continue
				}
				inbox[j] = append(inbox[j], d) // at least once, mostly
			}
		}
		steps := rapid.IntRange(5, 60).Draw(t, "steps")
		for s := 0; s < steps; s++ {
			switch rapid.IntRange(0, 5).Draw(t, "action") {
			case 0, 1: // a client writes through a node
				c := rapid.IntRange(0, nClients-1).Draw(t, "client")
				by := rapid.Int64Range(-3, 5).Draw(t, "by")
				d, err := clients[c].Apply(clientIDs[c], crdt.Timestamp{Wall: simStart}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: by})
				if err != nil {
					t.Fatal(err)
				}
				total += by
				n := rapid.IntRange(0, nNodes-1).Draw(t, "via")
				nodes[n].Join(d)
				send(d, n)
			case 2: // a node receives something
				n := rapid.IntRange(0, nNodes-1).Draw(t, "node")
				if len(inbox[n]) > 0 {
					k := rapid.IntRange(0, len(inbox[n])-1).Draw(t, "msg")
					nodes[n].Join(inbox[n][k])
					inbox[n] = append(inbox[n][:k], inbox[n][k+1:]...)
				}
			case 3: // the decider of a writer folds it
				c := rapid.IntRange(0, nClients-1).Draw(t, "folded")
				n := int(clientIDs[c][0]) % nNodes
				d, err := nodes[n].Fold(clientIDs[c], crdt.FoldReplica(nodeIDs[n]))
				if errors.Is(err, crdt.ErrInvalidOp) {
					continue // absent, or zeroed already
				}
				if err != nil {
					t.Fatal(err)
				}
				send(d, n)
			case 4: // a client reads a node's state (and so may see its fold)
				c := rapid.IntRange(0, nClients-1).Draw(t, "reader")
				n := rapid.IntRange(0, nNodes-1).Draw(t, "from")
				clients[c].Join(viaWire(t, nodes[n]))
			case 5: // anti-entropy between two nodes
				a := rapid.IntRange(0, nNodes-1).Draw(t, "a")
				b := rapid.IntRange(0, nNodes-1).Draw(t, "b")
				nodes[b].Join(viaWire(t, nodes[a]))
			}
		}
		for n := range nodes {
			for _, d := range all {
				nodes[n].Join(d)
			}
		}
		for n := 1; n < nNodes; n++ {
			requireSame(t, fmt.Sprintf("node %d and node 0", n), nodes[n], nodes[0])
		}
		// Clients converge too once they have every delta, in any order.
		for c := range clients {
			for _, k := range rapid.Permutation(seq(len(all))).Draw(t, "order") {
				clients[c].Join(all[k])
			}
			requireSame(t, fmt.Sprintf("client %d and node 0", c), clients[c], nodes[0])
		}
		if got := nodes[0].Value(); total != 0 && got != total || total == 0 && got != int64(0) && got != nil {
			t.Fatalf("value %v, want the %d counted", got, total)
		}
		// The laws, between states and deltas of the history.
		pool := append(append([]*crdt.Object{crdt.NewObject()}, nodes...), clients...)
		pool = append(pool, all...)
		a := rapid.SampledFrom(pool).Draw(t, "x")
		b := rapid.SampledFrom(pool).Draw(t, "y")
		c := rapid.SampledFrom(pool).Draw(t, "z")
		requireSame(t, "commutative", join(a, b), join(b, a))
		requireSame(t, "associative", join(join(a, b), c), join(a, join(b, c)))
		requireSame(t, "idempotent", join(a, a), a)
		requireSame(t, "binary round trip", viaWire(t, join(a, b)), join(a, b))
	})
}

// TestFoldKeepsTheBound: the sum a write is held to counts a folded
// writer's share, not its raw totals: a folded writer near 2^53-1 may still
// count up to it, and not past it.
func TestFoldKeepsTheBound(t *testing.T) {
	client := crdt.NewObject()
	mustInc(t, client, foldW, crdt.MaxSafeInt-1)
	node := client.Clone()
	f, err := node.Fold(foldW, crdt.FoldReplica(foldNodeX))
	if err != nil {
		t.Fatal(err)
	}
	client.Join(f)
	mustInc(t, client, foldW, 1)
	wantValue(t, "at the bound", client, crdt.MaxSafeInt)
	if _, err := client.Apply(foldW, crdt.Timestamp{Wall: simStart}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1}); !errors.Is(err, crdt.ErrOutOfRange) {
		t.Fatalf("past the bound: %v, want ErrOutOfRange", err)
	}
}

// TestSplitZeroed: taking zeroed writers out of a state keeps its value,
// and putting them back gives the state again. The hot part alone is not a
// repair between nodes: where the fold was lost, it drops the writer's raw
// entry without giving its base, and the writer's return counts twice.
func TestSplitZeroed(t *testing.T) {
	client := crdt.NewObject()
	lost := crdt.NewObject() // a node that never gets the fold delta
	node := crdt.NewObject()
	b1 := mustInc(t, client, foldW, 5)
	node.Join(b1)
	lost.Join(b1)
	node.Join(mustInc(t, crdt.NewObject(), foldV, 2))
	if _, err := node.Fold(foldW, crdt.FoldReplica(foldNodeX)); err != nil {
		t.Fatal(err)
	}
	hot := node.Clone()
	cold := hot.SplitZeroed()
	if len(cold) != 1 || cold[0].Base.Dot.Replica != foldW || !cold[0].Base.Base {
		t.Fatalf("zeroed writers %+v, want w's base", cold)
	}
	wantValue(t, "the hot part", hot, 7)
	back := hot.Clone()
	for _, z := range cold {
		if err := back.SetReplicaLeaf(z.Key, z.Base.Dot.Replica, []crdt.Entry{z.Base}); err != nil {
			t.Fatal(err)
		}
	}
	requireSameT(t, "split and put back", back, node)

	ret := mustInc(t, client, foldW, 1) // w never saw its fold
	whole := lost.Clone()
	whole.Join(node)
	whole.Join(ret)
	wantValue(t, "repair with the bases, then the return", whole, 8)
	hotOnly := lost.Clone()
	hotOnly.Join(hot)
	hotOnly.Join(ret)
	wantValue(t, "repair without the bases, then the return (the hazard)", hotOnly, 13)
}

func TestClientBaseIsForged(t *testing.T) {
	node := crdt.NewObject()
	node.Join(mustInc(t, crdt.NewObject(), foldW, 5))
	key := crdt.Path{Root: crdt.TypePNCounter}.Key()
	d := crdt.RawDelta(crdt.TypeSetOf(crdt.TypePNCounter), map[string][]crdt.Entry{key: {{Dot: crdt.Dot{Replica: foldW, Seq: 1}, P: 5, Base: true}}}, []crdt.Dot{{Replica: foldW, Seq: 1}}, nil)
	err := crdt.ClientRule{Client: foldW, MaxWall: simStart}.Check(node, ptrMeta(node), d)
	if !errors.Is(err, crdt.ErrClientBase) || !errors.Is(err, crdt.ErrForgedDot) {
		t.Fatalf("a client's base: %v, want ErrClientBase and ErrForgedDot", err)
	}
}
