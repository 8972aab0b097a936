package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/transport"
)

// TestClientRuleOnACluster is the client rule's property on real nodes:
// three nodes replicating over the in-memory network, honest client
// replicas writing through any of them, and a hostile replica with a valid
// token sending random well-formed forgeries (other replicas' entries,
// contexts over future dots, own dots re-sent with other payloads, huge
// counts, timestamps years ahead) through any of them. A reference object
// gets only the honest writes the nodes acknowledged. After convergence,
// every node holds exactly the reference's honest entries and no honest
// dot beyond them in its context. crdt's TestClientRuleKeepsHonestWrites is
// the same property on the pure rule, with many more cases.
//
// One cluster serves every case (a fresh key and fresh replicas each), so
// the nodes' logs and replication are exercised across cases too. rapid
// prints its seed; -rapid.seed replays a case's draws.
func TestClientRuleOnACluster(t *testing.T) {
	mem := transport.NewMemNetwork()
	var nodes []*Node
	for _, name := range []string{"p1", "p2", "p3"} {
		cfg := testConfig(t, name)
		cfg.UnseenDotsWait = 100 * time.Millisecond // honest writers retry, as the clients do
		n, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		if err := n.Attach(mem.Add(name)); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	types := []crdt.Type{crdt.TypeGCounter, crdt.TypePNCounter, crdt.TypeORSet, crdt.TypeORMap,
		crdt.TypeLWW, crdt.TypeMVRegister, crdt.TypeEWFlag, crdt.TypeText, crdt.TypeList}
	cases := 0
	rapid.Check(t, func(rt *rapid.T) {
		cases++
		key := fmt.Sprintf("prop/%d", cases)
		typ := rapid.SampledFrom(types).Draw(rt, "type")
		// Replica ids are drawn, so that -rapid.seed replays a case exactly
		// (ids break last-writer-wins ties).
		salt := rapid.Uint64().Draw(rt, "id salt")
		id := func(name string) crdt.ReplicaID {
			u := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%d/%s", salt, name))
			u[6] = u[6]&0x0f | 0x40 // a client's version (4): version 5 ids are the nodes' fold replicas
			return u
		}
		honest := []crdt.ReplicaID{id("h1"), id("h2"), id("h3")}
		hostile := id("hostile")
		ref, mine := crdt.NewObject(), crdt.NewObject()
		type sent struct {
			r crdt.ReplicaID
			d *crdt.Object
		}
		var acked []sent
		ctx := context.Background()
		steps := rapid.IntRange(1, 12).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			// An index, not the *Node: rapid prints what it draws, and
			// printing a running node reads its fields racily.
			n := nodes[rapid.IntRange(0, len(nodes)-1).Draw(rt, "node")]
			now := time.Now().UnixMilli()
			if len(acked) > 0 && rapid.IntRange(0, 5).Draw(rt, "resend") == 0 {
				// An honest client whose ack was lost sends an old delta
				// again, whatever happened since: it must be acknowledged.
				a := rapid.SampledFrom(acked).Draw(rt, "acked")
				if err := joinRetrying(n, a.r, key, a.d); err != nil {
					rt.Fatalf("step %d: honest resend through %s refused: %v", i, n.Name(), err)
				}
				continue
			}
			if rapid.IntRange(0, 2).Draw(rt, "who") > 0 {
				r := rapid.SampledFrom(honest).Draw(rt, "honest")
				local := ref.Clone()
				d, err := local.Apply(r, crdt.Timestamp{Wall: now}, drawPropOpOn(rt, typ, local))
				if err != nil {
					continue
				}
				if err := joinRetrying(n, r, key, d); err != nil {
					if !errors.Is(err, crdt.ErrOutOfRange) {
						rt.Fatalf("step %d: honest write through %s refused: %v", i, n.Name(), err)
					}
					continue
				}
				ref.Join(d)
				acked = append(acked, sent{r, d})
				continue
			}
			d := drawForgery(rt, typ, mine, ref, hostile, honest, now)
			if d == nil {
				continue
			}
			err := n.JoinClient(ctx, hostile, key, d)
			if err == nil && slices.Equal(d.Replicas(), []crdt.ReplicaID{hostile}) {
				mine.Join(d)
			}
		}
		awaitKeyConverged(rt, nodes, key)
		for _, n := range nodes {
			o, err := n.Get(key)
			if err != nil {
				rt.Fatal(err)
			}
			if err := sameHonest(o, ref, honest); err != nil {
				rt.Fatalf("%s: %v", n.Name(), err)
			}
		}
	})
	t.Logf("%d cases on one 3-node cluster", cases)
}

// joinRetrying sends an honest client's delta as the clients do: again
// after unseen_dots (it read from a node further ahead), until the nodes
// converge; a loaded machine may take long, so the bound is generous.
func joinRetrying(n *Node, r crdt.ReplicaID, key string, d *crdt.Object) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := n.JoinClient(context.Background(), r, key, d)
		if !errors.Is(err, crdt.ErrUnseenDots) || time.Now().After(deadline) {
			return err
		}
	}
}

// drawPropOpOn draws an operation a client holding o makes: for a text,
// an insert or delete at a place the text has; for a list, an insert (a
// scalar or a map), delete or move, or a field write of an element.
func drawPropOpOn(t *rapid.T, typ crdt.Type, o *crdt.Object) crdt.Op {
	if typ == crdt.TypeList {
		return drawPropListOp(t, o)
	}
	if typ != crdt.TypeText {
		return drawPropOp(t, typ)
	}
	text, _ := o.Value().(string)
	n := int64(utf8.RuneCountInString(text))
	if n > 0 && rapid.IntRange(0, 2).Draw(t, "delete") == 0 {
		i := rapid.Int64Range(0, n-1).Draw(t, "at")
		return crdt.Op{Type: typ, Kind: crdt.OpDelete, Index: i, Count: rapid.Int64Range(1, n-i).Draw(t, "count")}
	}
	s := rapid.SampledFrom([]string{"a", "bc", "déf", "😀"}).Draw(t, "insert")
	return crdt.Op{Type: typ, Kind: crdt.OpInsert, Index: rapid.Int64Range(0, n).Draw(t, "at"), Value: crdt.String(s)}
}

func drawPropListOp(t *rapid.T, o *crdt.Object) crdt.Op {
	n := int64(len(o.List()))
	elem := crdt.String(rapid.SampledFrom([]string{"x", "y", "z"}).Draw(t, "elem"))
	kind := rapid.IntRange(0, 4).Draw(t, "list op")
	if n == 0 {
		kind = 0
	}
	switch kind {
	case 1:
		i := rapid.Int64Range(0, n-1).Draw(t, "at")
		return crdt.Op{Type: crdt.TypeList, Kind: crdt.OpDelete, Index: i, Count: rapid.Int64Range(1, n-i).Draw(t, "count")}
	case 2, 3:
		return crdt.Op{Type: crdt.TypeList, Kind: crdt.OpMove, Index: rapid.Int64Range(0, n-1).Draw(t, "from"), To: rapid.Int64Range(0, n-1).Draw(t, "to")}
	case 4: // fails with wrong_type on a scalar element: the caller skips it
		return crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"t"}, Item: &crdt.ItemRef{Index: rapid.Int64Range(0, n-1).Draw(t, "at")}, Value: elem}
	}
	op := crdt.Op{Type: crdt.TypeList, Kind: crdt.OpInsert, Index: rapid.Int64Range(0, n).Draw(t, "at"), Value: elem}
	if rapid.Bool().Draw(t, "map") {
		op.Map = map[string]crdt.Value{"t": elem}
	}
	return op
}

// drawPropOp draws an operation an honest client of an object of typ makes.
func drawPropOp(t *rapid.T, typ crdt.Type) crdt.Op {
	elem := crdt.String(rapid.SampledFrom([]string{"x", "y", "z"}).Draw(t, "elem"))
	switch typ {
	case crdt.TypeGCounter:
		return crdt.Op{Type: typ, Kind: crdt.OpInc, By: rapid.Int64Range(0, 5).Draw(t, "by")}
	case crdt.TypePNCounter:
		return crdt.Op{Type: typ, Kind: crdt.OpInc, By: rapid.Int64Range(-5, 5).Draw(t, "by")}
	case crdt.TypeORSet:
		k := rapid.SampledFrom([]crdt.OpKind{crdt.OpAdd, crdt.OpAdd, crdt.OpRemove}).Draw(t, "kind")
		return crdt.Op{Type: typ, Kind: k, Value: elem}
	case crdt.TypeORMap:
		f := rapid.SampledFrom([]string{"a", "b"}).Draw(t, "field")
		if rapid.IntRange(0, 3).Draw(t, "delete") == 0 {
			return crdt.Op{Type: crdt.TypeORMap, Kind: crdt.OpDelete, Path: []string{f}}
		}
		return crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{f}, Value: elem}
	case crdt.TypeLWW, crdt.TypeMVRegister:
		return crdt.Op{Type: typ, Kind: crdt.OpSet, Value: elem}
	}
	k := rapid.SampledFrom([]crdt.OpKind{crdt.OpEnable, crdt.OpDisable}).Draw(t, "kind")
	return crdt.Op{Type: typ, Kind: k}
}

// drawForgery starts from a real write of the hostile replica on its own
// history (so it covers nobody else's dots, which would be a legitimate
// remove) and forges it through its JSON form, where every entry is a list
// [replica, seq, payload...] whatever the type.
func drawForgery(t *rapid.T, typ crdt.Type, mine, ref *crdt.Object, hostile crdt.ReplicaID, honest []crdt.ReplicaID, now int64) *crdt.Object {
	local := mine.Clone()
	base, err := local.Apply(hostile, crdt.Timestamp{Wall: now}, drawPropOpOn(t, typ, local))
	if err != nil {
		return nil
	}
	var d, r struct {
		Types  []string        `json:"types"`
		Leaves [][2]any        `json:"leaves"`
		Ctx    json.RawMessage `json:"ctx"`
	}
	decode := func(o *crdt.Object, v any) {
		b, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	decode(base, &d)
	decode(ref, &r)
	var ctx struct {
		VV    [][2]any `json:"vv"`
		Cloud [][2]any `json:"cloud"`
	}
	_ = json.Unmarshal(d.Ctx, &ctx)
	victim := rapid.SampledFrom(honest).Draw(t, "victim")
	vctx := ref.Context()
	future := vctx.Max(victim) + rapid.OneOf(rapid.Uint64Range(1, 3), rapid.Just(uint64(crdt.MaxSeq)-vctx.Max(victim))).Draw(t, "ahead")
	// forge rewrites the payload numbers of an entry list, keeping the dot.
	forge := func(e []any) []any {
		out := slices.Clone(e)
		for i := 2; i < len(out); i++ {
			if _, isNum := out[i].(float64); isNum {
				out[i] = rapid.SampledFrom([]float64{0, 1, 900, float64(crdt.MaxSafeInt), float64(now + 10*365*24*3600*1000)}).Draw(t, "payload")
			}
		}
		return out
	}
	switch rapid.IntRange(0, 4).Draw(t, "forgery") {
	case 0: // none: an honest-looking write of its own
	case 1: // another replica's entry, as stored or changed, or under a future dot
		if len(r.Leaves) == 0 {
			return nil
		}
		leaf := rapid.SampledFrom(r.Leaves).Draw(t, "leaf")
		es, _ := leaf[1].([]any)
		if len(es) == 0 {
			return nil
		}
		e := forge(rapid.SampledFrom(es).Draw(t, "entry").([]any))
		if rapid.Bool().Draw(t, "future dot") {
			e[0], e[1] = victim.String(), float64(future)
		}
		d.Leaves = append(d.Leaves, [2]any{leaf[0], []any{e}})
	case 2: // a context over the victim's future
		if rapid.Bool().Draw(t, "in vv") {
			ctx.VV = append(ctx.VV, [2]any{victim.String(), future})
		} else {
			ctx.Cloud = append(ctx.Cloud, [2]any{victim.String(), future})
		}
	case 3: // its own entries with forged payloads
		for i, leaf := range d.Leaves {
			es, _ := leaf[1].([]any)
			for j := range es {
				es[j] = forge(es[j].([]any))
			}
			d.Leaves[i][1] = es
		}
	case 4: // a resend of an own write already stored, with another payload
		var own [][2]any
		decode(mine, &r)
		for _, leaf := range r.Leaves {
			es, _ := leaf[1].([]any)
			for _, e := range es {
				own = append(own, [2]any{leaf[0], e})
			}
		}
		if len(own) == 0 {
			return nil
		}
		pick := rapid.SampledFrom(own).Draw(t, "own")
		d.Leaves = append(d.Leaves, [2]any{pick[0], []any{forge(pick[1].([]any))}})
	}
	ctxJSON, _ := json.Marshal(ctx)
	d.Ctx = ctxJSON
	text, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	o, err := crdt.UnmarshalObjectJSON(text)
	if err != nil {
		return nil // a forgery the decoder already refuses
	}
	return o
}

// sameHonest compares o with the reference on everything the honest
// replicas own: their entries, leaf by leaf, and how far the context
// claims to have seen them.
func sameHonest(o, ref *crdt.Object, honest []crdt.ReplicaID) error {
	collect := func(x *crdt.Object) map[string][]crdt.Entry {
		out := map[string][]crdt.Entry{}
		_ = crdt.Leaves(x, "", func(k string, es []crdt.Entry) error {
			for _, e := range es {
				if slices.Contains(honest, e.Dot.Replica) {
					out[k] = append(out[k], e)
				}
			}
			return nil
		})
		return out
	}
	got, want := collect(o), collect(ref)
	same := func(a, b crdt.Entry) bool {
		return a.Dot == b.Dot && a.P == b.P && a.N == b.N && a.TS == b.TS && a.V.Compare(b.V) == 0
	}
	for k, es := range want {
		if !slices.EqualFunc(got[k], es, same) {
			return fmt.Errorf("leaf %q holds honest entries %+v; acknowledged %+v", k, got[k], es)
		}
	}
	for k, es := range got {
		if _, ok := want[k]; !ok {
			return fmt.Errorf("leaf %q holds honest entries %+v no honest write made", k, es)
		}
	}
	oc, rc := o.Context(), ref.Context()
	for _, r := range honest {
		if oc.Max(r) != rc.Max(r) {
			return fmt.Errorf("the context claims %s up to %d; its writes reached %d", r, oc.Max(r), rc.Max(r))
		}
	}
	return nil
}

// awaitKeyConverged waits until every node holds the same state of key.
// The deadline is for a machine under any load: replication of a handful
// of deltas over the in-memory network takes milliseconds.
func awaitKeyConverged(t *rapid.T, nodes []*Node, key string) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var first string
		same := true
		for i, n := range nodes {
			o, err := n.Get(key)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := o.MarshalBinary()
			if i == 0 {
				first = string(b)
			} else if string(b) != first {
				same = false
			}
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not converge", key)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
