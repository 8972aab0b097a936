package crdt_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/lattice-sync/lattice/crdt"
)

// TestClientRuleKeepsHonestWrites is the client rule as a property. Honest
// replicas (lawReplicas[0..2]) write through a receiver, as clients write
// through a node; a hostile replica (lawReplicas[3]) holding a valid token
// sends random well-formed deltas between their writes: other replicas'
// dots, contexts over dots that do not exist yet, resends with changed
// payloads, huge counts and timestamps. A reference receiver gets only the
// honest writes the receiver acknowledged. Afterwards the receiver holds
// every honest entry the reference holds, exactly, and no honest dot in
// its context that the reference lacks: nothing the hostile replica sent
// made an acknowledged write disappear or change, or blocked a later one.
//
// The hostile deltas never cover honest dots that exist: that is a remove,
// which any writer may do and the rule cannot and must not refuse.
func TestClientRuleKeepsHonestWrites(t *testing.T) {
	forEveryType(t, func(t *rapid.T, typ crdt.Type) {
		honest := lawReplicas[:3]
		hostile := lawReplicas[3]
		node, ref := crdt.NewObject(), crdt.NewObject()
		mine := crdt.NewObject() // the hostile replica's own writes
		now := int64(simStart)
		steps := rapid.IntRange(1, 40).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			now += rapid.Int64Range(0, 2000).Draw(t, "tick")
			rule := crdt.ClientRule{MaxWall: now + 60_000}
			if rapid.IntRange(0, 2).Draw(t, "who") > 0 {
				r := rapid.SampledFrom(honest).Draw(t, "honest")
				// An honest writer has read the acknowledged state.
				local := ref.Clone()
				op := fitList(local, fitText(local, genOp(typ, false).Draw(t, "op")))
				d, err := local.Apply(r, crdt.Timestamp{Wall: now}, op)
				if err != nil {
					continue
				}
				rule.Client = r
				if err := rule.Check(node, ptrMeta(node), d); err != nil {
					// The only refusal an honest write may meet is a
					// counter at its bound, which a hostile writer may
					// legitimately have pushed it to.
					if !errors.Is(err, crdt.ErrOutOfRange) {
						t.Fatalf("step %d: honest write of %s refused: %v", i, r, err)
					}
					continue
				}
				node.Join(d)
				ref.Join(d)
				continue
			}
			d := drawHostileDelta(t, typ, mine, ref, hostile, honest, now)
			rule.Client = hostile
			if err := rule.Check(node, ptrMeta(node), d); err != nil {
				continue
			}
			node.Join(d)
			if onlyOwn(d, hostile) {
				mine.Join(d)
			}
		}
		requireHonestIntact(t, node, ref, honest)
	})
}

// ptrMeta gives a rule check the object's meta; Check reads it only.
func ptrMeta(o *crdt.Object) *crdt.Meta {
	m := o.Meta()
	return &m
}

// onlyOwn reports whether every dot of d's entries and context is r's.
func onlyOwn(d *crdt.Object, r crdt.ReplicaID) bool {
	return slices.Equal(d.Replicas(), []crdt.ReplicaID{r})
}

// drawHostileDelta starts from a real write of the hostile replica (on its
// own history, so it covers no one else's dots) and then, maybe, forges it.
func drawHostileDelta(t *rapid.T, typ crdt.Type, mine, ref *crdt.Object, hostile crdt.ReplicaID, honest []crdt.ReplicaID, now int64) *crdt.Object {
	local := mine.Clone()
	op := fitList(local, fitText(local, genOp(typ, false).Draw(t, "hostile op")))
	base, err := local.Apply(hostile, crdt.Timestamp{Wall: now}, op)
	if err != nil {
		base = crdt.NewObject()
	}
	leaves := map[string][]crdt.Entry{}
	_ = crdt.Leaves(base, "", func(k string, es []crdt.Entry) error {
		leaves[k] = slices.Clone(es)
		return nil
	})
	// Also reach for leaves honest writers use.
	var honestKeys []string
	_ = crdt.Leaves(ref, "", func(k string, _ []crdt.Entry) error {
		honestKeys = append(honestKeys, k)
		return nil
	})
	refCtx := ref.Context()
	var ctx []crdt.Dot
	vv := crdt.VersionVector{}
	for _, d := range base.Context().Cloud() {
		ctx = append(ctx, d)
	}
	for r, s := range base.Context().VersionVector() {
		vv[r] = s
	}
	forge := rapid.IntRange(0, 6).Draw(t, "forge")
	pickHonest := func() (crdt.ReplicaID, uint64) {
		r := rapid.SampledFrom(honest).Draw(t, "victim")
		have := refCtx.Max(r)
		seq := rapid.OneOf(
			rapid.Uint64Range(1, have+1),
			rapid.Uint64Range(have+1, have+3),
			rapid.Just(uint64(crdt.MaxSeq)),
		).Draw(t, "victim seq")
		if seq == 0 {
			seq = 1
		}
		return r, seq
	}
	entry := func() crdt.Entry {
		e := crdt.Entry{
			P: rapid.OneOf(rapid.Uint64Range(0, 10), rapid.Uint64Range(0, crdt.MaxSafeInt)).Draw(t, "P"),
			N: rapid.OneOf(rapid.Just(uint64(0)), rapid.Uint64Range(0, crdt.MaxSafeInt)).Draw(t, "N"),
		}
		if rapid.Bool().Draw(t, "ahead") {
			e.TS = crdt.Timestamp{Wall: now + 10*365*24*3600*1000}
		} else {
			e.TS = crdt.Timestamp{Wall: now}
		}
		e.V = genValue().Draw(t, "V")
		return e
	}
	switch forge {
	case 0: // honest-looking: the hostile replica's own write
	case 1: // another replica's entry, under a dot that exists or not
		if len(honestKeys) == 0 {
			break
		}
		k := rapid.SampledFrom(honestKeys).Draw(t, "key")
		r, s := pickHonest()
		e := entry()
		e.Dot = crdt.Dot{Replica: r, Seq: s}
		leaves[k] = append(leaves[k], e)
		ctx = append(ctx, e.Dot)
	case 2: // a context over dots that do not exist yet
		r, _ := pickHonest()
		have := refCtx.Max(r)
		hi := rapid.OneOf(rapid.Uint64Range(have+1, have+3), rapid.Just(uint64(crdt.MaxSeq))).Draw(t, "future")
		if rapid.Bool().Draw(t, "as vv") {
			vv[r] = hi
		} else {
			ctx = append(ctx, crdt.Dot{Replica: r, Seq: hi})
		}
	case 3, 4: // the hostile replica's own entries with forged payloads
		for k, es := range leaves {
			for i := range es {
				e := entry()
				e.Dot = es[i].Dot
				if rapid.Bool().Draw(t, "keep payload") {
					e = es[i]
					e.P += rapid.Uint64Range(0, crdt.MaxSafeInt).Draw(t, "more")
				}
				es[i] = e
			}
			leaves[k] = es
		}
	case 5: // a resend of an own write already there, with another payload
		var own []crdt.Dot
		_ = crdt.Leaves(mine, "", func(_ string, es []crdt.Entry) error {
			for _, e := range es {
				own = append(own, e.Dot)
			}
			return nil
		})
		if len(own) == 0 || len(honestKeys) == 0 {
			break
		}
		e := entry()
		e.Dot = rapid.SampledFrom(own).Draw(t, "own dot")
		k := rapid.SampledFrom(honestKeys).Draw(t, "key")
		leaves[k] = append(leaves[k], e)
		ctx = append(ctx, e.Dot)
	case 6: // a type set that is not one type
		return crdt.RawDelta(crdt.TypeSetOf(typ)|crdt.TypeSetOf(crdt.TypeEWFlag), leaves, ctx, vv)
	}
	return crdt.RawDelta(base.Types(), leaves, ctx, vv)
}

// requireHonestIntact compares the receiver's state with the reference on
// everything the honest replicas own.
func requireHonestIntact(t *rapid.T, node, ref *crdt.Object, honest []crdt.ReplicaID) {
	isHonest := func(r crdt.ReplicaID) bool { return slices.Contains(honest, r) }
	collect := func(o *crdt.Object) map[string][]crdt.Entry {
		out := map[string][]crdt.Entry{}
		_ = crdt.Leaves(o, "", func(k string, es []crdt.Entry) error {
			for _, e := range es {
				if isHonest(e.Dot.Replica) {
					out[k] = append(out[k], e)
				}
			}
			return nil
		})
		return out
	}
	got, want := collect(node), collect(ref)
	for k, es := range want {
		if !slices.EqualFunc(got[k], es, func(a, b crdt.Entry) bool {
			return a.Dot == b.Dot && a.P == b.P && a.N == b.N && a.TS == b.TS && a.V.Compare(b.V) == 0
		}) {
			t.Fatalf("leaf %q: honest entries %+v at the receiver, %+v acknowledged", k, got[k], es)
		}
	}
	for k, es := range got {
		if _, ok := want[k]; !ok {
			t.Fatalf("leaf %q: honest entries %+v at the receiver that no honest write made", k, es)
		}
	}
	nc, rc := node.Context(), ref.Context()
	for _, r := range honest {
		if nc.Max(r) != rc.Max(r) {
			t.Fatalf("the receiver's context claims %s up to %d; honest writes reached %d", r, nc.Max(r), rc.Max(r))
		}
	}
	if v, ok := node.Value().(int64); ok && (v > crdt.MaxSafeInt || v < -crdt.MaxSafeInt) {
		t.Fatalf("counter value %d is beyond ±2^53-1", v)
	}
}

// A text's readers pay for every character it ever held, so the rule caps
// what one delta and one replica may add (docs/protocol.md).
func TestClientRuleTextLimits(t *testing.T) {
	r := lawReplicas[0]
	rule := crdt.ClientRule{Client: r, MaxWall: simStart}
	local := crdt.NewObject()
	big := crdt.NewObject()
	for _, n := range []int{crdt.MaxTextInsert, 1} {
		d, err := local.Apply(r, crdt.Timestamp{Wall: simStart}, crdt.Op{Type: crdt.TypeText, Kind: crdt.OpInsert, Value: crdt.String(strings.Repeat("a", n))})
		if err != nil {
			t.Fatal(err)
		}
		big.Join(d)
	}
	if err := rule.Check(crdt.NewObject(), ptrMeta(crdt.NewObject()), big); !errors.Is(err, crdt.ErrLimit) {
		t.Fatalf("a delta of %d new characters: %v, want ErrLimit", crdt.MaxTextInsert+1, err)
	}
	far := fmt.Sprintf(`{"types":["text"],"leaves":[[["text",[%q,%d]],[[%q,%d,1,null,"a"]]]],"ctx":{"vv":[],"cloud":[]}}`,
		r, crdt.MaxTextSeq+1, r, crdt.MaxTextSeq+1)
	d, err := crdt.UnmarshalObjectJSON([]byte(far))
	if err != nil {
		t.Fatal(err)
	}
	if err := rule.Check(crdt.NewObject(), ptrMeta(crdt.NewObject()), d); !errors.Is(err, crdt.ErrLimit) {
		t.Fatalf("a character at seq %d: %v, want ErrLimit", crdt.MaxTextSeq+1, err)
	}
}

// Writes that each keep a counter within 2^53-1 on nodes that cannot see
// each other may together pass it. After that the counter refuses what
// raises the passed sum, and takes what does not: a resend, a decrement.
func TestClientRuleCounterPastBoundTogether(t *testing.T) {
	a, b := lawReplicas[0], lawReplicas[1]
	now := crdt.Timestamp{Wall: simStart}
	inc := func(r crdt.ReplicaID, o *crdt.Object, by int64) *crdt.Object {
		d, err := o.Apply(r, now, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: by})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	onA, onB := crdt.NewObject(), crdt.NewObject()
	da := inc(a, onA, crdt.MaxSafeInt-5)
	db := inc(b, onB, 10)
	node := crdt.NewObject()
	node.Join(da)
	node.Join(db) // replication joins both: the sum of increments has passed the bound
	rule := crdt.ClientRule{Client: b, MaxWall: simStart + 60_000}
	if err := rule.Check(node, ptrMeta(node), db); err != nil {
		t.Fatalf("a resend: %v", err)
	}
	dec, err := onB.Apply(b, now, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpDec, By: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := rule.Check(node, ptrMeta(node), dec); err != nil {
		t.Fatalf("a decrement: %v", err)
	}
	more := inc(b, onB, 1)
	if err := rule.Check(node, ptrMeta(node), more); !errors.Is(err, crdt.ErrOutOfRange) {
		t.Fatalf("an increment past the bound: %v, want ErrOutOfRange", err)
	}
	if _, err := node.Apply(a, now, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpDec, By: 1}); err != nil {
		t.Fatalf("a node's decrement: %v", err)
	}
	if _, err := node.Apply(a, now, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1}); !errors.Is(err, crdt.ErrOutOfRange) {
		t.Fatalf("a node's increment past the bound: %v, want ErrOutOfRange", err)
	}
}

// A list's entries: a new one puts its element at a position its writer
// minted; a resent one is what is stored; a delta adds at most
// MaxListInsert elements and positions; and a position never holds a value.
func TestClientRuleList(t *testing.T) {
	a, b := lawReplicas[0], lawReplicas[1]
	rule := crdt.ClientRule{Client: b, MaxWall: simStart + 60_000}
	node := crdt.NewObject()
	ins, err := node.Apply(a, crdt.Timestamp{Wall: simStart}, crdt.Op{Type: crdt.TypeList, Kind: crdt.OpInsert, Value: crdt.String("x")})
	if err != nil {
		t.Fatal(err)
	}
	// b moves a's element honestly: accepted.
	mine := node.Clone()
	mv, err := mine.Apply(b, crdt.Timestamp{Wall: simStart + 1}, crdt.Op{Type: crdt.TypeList, Kind: crdt.OpMove, Index: 0, To: 0})
	if err != nil {
		t.Fatal(err)
	}
	if err := rule.Check(node, ptrMeta(node), mv); err != nil {
		t.Fatalf("honest move: %v", err)
	}
	own, err := node.Apply(b, crdt.Timestamp{Wall: simStart + 2}, crdt.Op{Type: crdt.TypeList, Kind: crdt.OpInsert, Value: crdt.String("q")})
	if err != nil {
		t.Fatal(err)
	}
	if err := rule.Check(node, ptrMeta(node), own); err != nil {
		t.Fatalf("b's insert resent as it was: %v", err)
	}
	item := fmt.Sprintf(`["list",[%q,2,"lww"]]`, a)
	for _, c := range []struct {
		name, delta string
		want        error
	}{
		{"an entry at a's position", fmt.Sprintf(`{"types":["list"],"leaves":[[%s,[[%q,12,%d,0,[%q,1],null]]]],"ctx":{"vv":[],"cloud":[]}}`, item, b, simStart, a), crdt.ErrForgedDot},
		{"a's insert sent by b", string(mustJSON(t, ins)), crdt.ErrForgedDot},
		{"b's insert resent with another value", strings.Replace(string(mustJSON(t, own)), `"q"`, `"r"`, 1), crdt.ErrForgedDot},
		{"an entry from the future", fmt.Sprintf(`{"types":["list"],"leaves":[[["list",[%q,1]],[[%q,7,1,[%q,1,"right"],null]]],[%s,[[%q,8,%d,0,[%q,7],null]]]],"ctx":{"vv":[],"cloud":[]}}`, b, b, a, item, b, simStart+3_600_000, b), crdt.ErrInvalid},
		{"a position after one not received", fmt.Sprintf(`{"types":["list"],"leaves":[[["list",[%q,1]],[[%q,9,1,[%q,9,"right"],null]]]],"ctx":{"vv":[],"cloud":[]}}`, b, b, a), crdt.ErrUnseenDots},
	} {
		d, err := crdt.UnmarshalObjectJSON([]byte(c.delta))
		if err == nil {
			err = rule.Check(node, ptrMeta(node), d)
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// A position holding a value does not decode.
	live := fmt.Sprintf(`{"types":["list"],"leaves":[[["list",[%q,1]],[[%q,1,1,null,"v"]]]],"ctx":{"vv":[],"cloud":[]}}`, b, b)
	if _, err := crdt.UnmarshalObjectJSON([]byte(live)); !errors.Is(err, crdt.ErrInvalid) {
		t.Errorf("a position with a value: %v", err)
	}
	// Too many elements in one delta.
	big := crdt.NewObject()
	local := crdt.NewObject()
	for i := 0; i <= crdt.MaxListInsert/2; i++ {
		d, err := local.Apply(b, crdt.Timestamp{Wall: simStart}, crdt.Op{Type: crdt.TypeList, Kind: crdt.OpInsert, Value: crdt.MustInt(int64(i))})
		if err != nil {
			t.Fatal(err)
		}
		big.Join(d)
	}
	if err := rule.Check(crdt.NewObject(), ptrMeta(crdt.NewObject()), big); !errors.Is(err, crdt.ErrLimit) {
		t.Fatalf("a delta of %d new elements: %v, want ErrLimit", crdt.MaxListInsert/2+1, err)
	}
}

func mustJSON(t *testing.T, o *crdt.Object) []byte {
	t.Helper()
	b, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestClientRuleFieldDeleteThenIncrement: a client's pending delete of a
// map field and a later increment of a counter in it, joined into one
// delta as an offline client joins its pending deltas, is accepted: the
// increment starts from zero because the delete removed the client's old
// entry, which the delta's context covers. A counter at the top of an
// object has no delete, so there the same lower totals are refused.
func TestClientRuleFieldDeleteThenIncrement(t *testing.T) {
	a := lawReplicas[0]
	now := crdt.Timestamp{Wall: simStart}
	rule := crdt.ClientRule{Client: a, MaxWall: simStart + 60_000}
	apply := func(o *crdt.Object, op crdt.Op) *crdt.Object {
		t.Helper()
		d, err := o.Apply(a, now, op)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	votes := crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 2, Path: []string{"card", "votes"}}
	client := crdt.NewObject()
	first := apply(client, votes)
	node := crdt.NewObject()
	if err := rule.Check(node, ptrMeta(node), first); err != nil {
		t.Fatal(err)
	}
	node.Join(first)
	pending := apply(client, crdt.Op{Type: crdt.TypeORMap, Kind: crdt.OpDelete, Path: []string{"card"}})
	votes.By = 1
	pending.Join(apply(client, votes))
	if err := rule.Check(node, ptrMeta(node), pending); err != nil {
		t.Fatalf("a field delete and a later increment in one delta: %v", err)
	}
	node.Join(pending)
	if !node.Equal(client) {
		t.Fatalf("node %v, client %v", node.Value(), client.Value())
	}

	// At the top of an object: totals that go down are refused, whatever
	// the context covers.
	top := crdt.NewObject()
	d := apply(top, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 5})
	node = crdt.NewObject()
	node.Join(d)
	// Another copy of a (its store lost) counts 1 then 2 under a's first
	// two dots; its second delta covers the first and totals 2 < 5.
	lower := crdt.NewObject()
	apply(lower, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1})
	second := apply(lower, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1})
	if err := rule.Check(node, ptrMeta(node), second); !errors.Is(err, crdt.ErrCounterBehind) {
		t.Fatalf("lower totals at the top of an object: %v, want ErrCounterBehind", err)
	}
}
