package crdt_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/lattice-sync/lattice/crdt"
)

// This file holds the generators the property tests share (replicas,
// values, operations and whole replication histories) and the lattice laws
// every type must obey.

// lawReplicas are fixed so that failures reproduce. Their listed order is
// not their byte order, so that a replica's index in a simulation says
// nothing about who wins a last-writer-wins tie.
var lawReplicas = []crdt.ReplicaID{
	uuid.MustParse("5c000000-0000-4000-8000-000000000001"),
	uuid.MustParse("0a000000-0000-4000-8000-000000000002"),
	uuid.MustParse("ff000000-0000-4000-8000-000000000003"),
	uuid.MustParse("33000000-0000-4000-8000-000000000004"),
	uuid.MustParse("c1000000-0000-4000-8000-000000000005"),
}

var allTypes = []crdt.Type{
	crdt.TypeGCounter, crdt.TypePNCounter, crdt.TypeORSet, crdt.TypeORMap,
	crdt.TypeLWW, crdt.TypeMVRegister, crdt.TypeEWFlag, crdt.TypeText, crdt.TypeList,
}

// leafTypes are the types a map field can end in.
var leafTypes = []crdt.Type{
	crdt.TypeGCounter, crdt.TypePNCounter, crdt.TypeORSet,
	crdt.TypeLWW, crdt.TypeMVRegister, crdt.TypeEWFlag, crdt.TypeText, crdt.TypeList,
}

// Field names are few so that replicas collide on them. Inner names are
// usually maps and leaf names usually one type each, so most operations
// succeed; a tenth of the draws ignore that, which is where the type
// clashes (a field that is a register here and a map there) come from.
var (
	innerFields = []string{"m", "n"}
	leafFields  = []string{"a", "b", "c", "d", "e", "f", "g", "h"}
)

func leafTypeOf(name string) crdt.Type {
	return leafTypes[slices.Index(leafFields, name)]
}

// simStart is the physical time simulations start at: 2023-11-14, so that a
// clock an hour behind is still far from zero.
const simStart = 1_700_000_000_000

// setElems is a small pool so that adds and removes meet on one element.
var setElems = []crdt.Value{
	crdt.Null(), crdt.Bool(false), crdt.Bool(true),
	crdt.MustInt(0), crdt.MustInt(63), crdt.MustInt(64), crdt.MustInt(-1),
	mustFloat(2.5), crdt.String(""), crdt.String("x"), crdt.String("y"),
}

func mustFloat(f float64) crdt.Value {
	v, err := crdt.Float(f)
	if err != nil {
		panic(err)
	}
	return v
}

// genValue draws scalars of every kind, around the encoding's boundaries
// (63 and 64 switch integer forms) and across the whole safe range.
func genValue() *rapid.Generator[crdt.Value] {
	return rapid.OneOf(
		rapid.SampledFrom(setElems),
		rapid.Map(rapid.Bool(), crdt.Bool),
		rapid.Map(rapid.Int64Range(-70, 70), crdt.MustInt),
		rapid.Map(rapid.Int64Range(-crdt.MaxSafeInt, crdt.MaxSafeInt), crdt.MustInt),
		rapid.Map(rapid.Float64Range(-1e300, 1e300), mustFloat),
		rapid.Map(rapid.StringN(0, 6, 24), crdt.String),
	)
}

// drawLeafOp draws an operation of a type that is not a map.
func drawLeafOp(t *rapid.T, typ crdt.Type) crdt.Op {
	op := crdt.Op{Type: typ}
	switch typ {
	case crdt.TypeGCounter:
		op.Kind, op.By = crdt.OpInc, rapid.Int64Range(0, 5).Draw(t, "by")
	case crdt.TypePNCounter:
		op.Kind = rapid.SampledFrom([]crdt.OpKind{crdt.OpInc, crdt.OpDec}).Draw(t, "kind")
		op.By = rapid.Int64Range(-3, 5).Draw(t, "by")
	case crdt.TypeORSet:
		op.Kind = rapid.SampledFrom([]crdt.OpKind{crdt.OpAdd, crdt.OpAdd, crdt.OpRemove}).Draw(t, "kind")
		op.Value = rapid.SampledFrom(setElems).Draw(t, "elem")
	case crdt.TypeLWW, crdt.TypeMVRegister:
		op.Kind, op.Value = crdt.OpSet, genValue().Draw(t, "value")
	case crdt.TypeEWFlag:
		op.Kind = rapid.SampledFrom([]crdt.OpKind{crdt.OpEnable, crdt.OpDisable}).Draw(t, "kind")
	case crdt.TypeText:
		// Positions are drawn unbounded and fitted to the text when the
		// operation runs (fitText), since the draw cannot see the state.
		op.Kind = rapid.SampledFrom([]crdt.OpKind{crdt.OpInsert, crdt.OpInsert, crdt.OpDelete}).Draw(t, "kind")
		op.Index = rapid.Int64Range(0, 1<<20).Draw(t, "index")
		op.Count = rapid.Int64Range(1, 4).Draw(t, "count")
		op.Value = crdt.String(rapid.SampledFrom(textRuns).Draw(t, "text"))
	case crdt.TypeList:
		// Fitted to the list when the operation runs, as for text (fitList).
		op.Kind = rapid.SampledFrom([]crdt.OpKind{crdt.OpInsert, crdt.OpInsert, crdt.OpDelete, crdt.OpMove}).Draw(t, "kind")
		op.Index = rapid.Int64Range(0, 1<<20).Draw(t, "index")
		op.To = rapid.Int64Range(0, 1<<20).Draw(t, "to")
		op.Count = rapid.Int64Range(1, 3).Draw(t, "count")
		if op.Kind == crdt.OpInsert && rapid.Bool().Draw(t, "map") {
			op.Map = map[string]crdt.Value{"t": genValue().Draw(t, "field")}
		} else if op.Kind == crdt.OpInsert {
			op.Value = genValue().Draw(t, "value")
		}
	}
	return op
}

// fitList fits a list operation's drawn indexes to the list it acts on in
// st, as fitText does; a delete or move on an empty list becomes an insert.
func fitList(st *crdt.Object, op crdt.Op) crdt.Op {
	if op.Type != crdt.TypeList {
		return op
	}
	n := int64(len(st.List(op.Path...)))
	if op.Kind != crdt.OpInsert && n == 0 {
		op.Kind = crdt.OpInsert
	}
	switch op.Kind {
	case crdt.OpInsert:
		op.Index %= n + 1
	case crdt.OpDelete:
		op.Index %= n
		op.Count = min(op.Count, n-op.Index)
	case crdt.OpMove:
		op.Index %= n
		op.To %= n
	}
	return op
}

// textRuns are what text inserts type: single characters (what typing
// makes), runs, and characters beyond the basic plane.
var textRuns = []string{"a", "b", "x", "é", "😀", "abc", "Hello", "wörld", "\n", "日本語"}

// fitText fits a text operation's drawn positions to the text it acts on
// in st: the index modulo the length plus one, the count to what follows
// it, and a delete on an empty text becomes an insert.
func fitText(st *crdt.Object, op crdt.Op) crdt.Op {
	if op.Type != crdt.TypeText {
		return op
	}
	n := int64(len([]rune(st.Text(op.Path...))))
	if op.Kind == crdt.OpDelete && n == 0 {
		op.Kind = crdt.OpInsert
	}
	if op.Kind == crdt.OpInsert {
		op.Index %= n + 1
		return op
	}
	op.Index %= n
	op.Count = min(op.Count, n-op.Index)
	return op
}

// drawOp draws an operation on an object of type typ: for a map, a write
// to a field up to three levels down, or a delete.
func drawOp(t *rapid.T, typ crdt.Type) crdt.Op {
	if typ != crdt.TypeORMap {
		return drawLeafOp(t, typ)
	}
	clash := rapid.IntRange(0, 9).Draw(t, "clash") == 0
	depth := rapid.IntRange(1, 3).Draw(t, "depth")
	path := make([]string, depth)
	for i := range path {
		names := innerFields
		if i == depth-1 {
			names = leafFields
		}
		if clash {
			names = append(slices.Clone(innerFields), leafFields...)
		}
		path[i] = rapid.SampledFrom(names).Draw(t, "field")
	}
	if rapid.IntRange(0, 4).Draw(t, "delete") == 0 {
		return crdt.Op{Type: crdt.TypeORMap, Kind: crdt.OpDelete, Path: path}
	}
	var lt crdt.Type
	if clash {
		lt = rapid.SampledFrom(leafTypes).Draw(t, "type")
	} else {
		lt = leafTypeOf(path[depth-1])
	}
	op := drawLeafOp(t, lt)
	op.Path = path
	return op
}

// genOp draws operations for an object of type typ; when foreign, one draw
// in twenty is of any type, which must fail with ErrWrongType unless it
// happens to be the object's first write.
func genOp(typ crdt.Type, foreign bool) *rapid.Generator[crdt.Op] {
	return rapid.Custom(func(t *rapid.T) crdt.Op {
		if foreign && rapid.IntRange(0, 19).Draw(t, "foreign") == 0 {
			return drawOp(t, rapid.SampledFrom(allTypes).Draw(t, "other"))
		}
		return drawOp(t, typ)
	})
}

// event is one successful mutation in a simulated history.
type event struct {
	origin int
	op     crdt.Op
	now    crdt.Timestamp // the origin's clock reading, carried with the delta
	before *crdt.Object   // the origin's state just before
	after  *crdt.Object   // and just after
	delta  *crdt.Object
	seen   map[int]bool // the events whose deltas the origin had joined, its own included
}

// world simulates replicas of one object exchanging deltas over a network
// that drops, duplicates and reorders. It keeps its own record of which
// events each replica has seen, independent of the causal contexts, so the
// reference models can be checked against it.
type world struct {
	reps   []crdt.ReplicaID
	states []*crdt.Object
	clocks []crdt.Clock
	skew   []int64 // ms each replica's physical clock is off by
	pt     int64   // true physical time
	events []*event
	seen   []map[int]bool
	inbox  [][]int // per replica, event indices sent but not yet delivered
	lost   [][]int // per replica, event indices the network dropped
	wrong  int     // operations refused with ErrWrongType
}

// newWorld draws 3 to 5 replicas whose clocks are up to an hour apart.
func newWorld(t *rapid.T) *world {
	n := rapid.IntRange(3, 5).Draw(t, "replicas")
	w := &world{
		reps:   lawReplicas[:n],
		clocks: make([]crdt.Clock, n),
		pt:     simStart,
		inbox:  make([][]int, n),
		lost:   make([][]int, n),
	}
	for i := 0; i < n; i++ {
		w.states = append(w.states, crdt.NewObject())
		w.skew = append(w.skew, rapid.Int64Range(-3_600_000, 3_600_000).Draw(t, "skew"))
		w.seen = append(w.seen, map[int]bool{})
	}
	return w
}

// do applies op at replica i and sends the delta to every other replica:
// once, twice, or not at all.
func (w *world) do(t *rapid.T, i int, op crdt.Op) {
	st := w.states[i]
	op = fitList(st, fitText(st, op))
	before := st.Clone()
	beforeBytes := mustMarshal(t, st)
	now := w.clocks[i].Now(w.pt + w.skew[i])
	delta, err := st.Apply(w.reps[i], now, op)
	if errors.Is(err, crdt.ErrWrongType) {
		w.wrong++
		if delta != nil {
			t.Fatalf("%v failed with %v but returned a delta", op, err)
		}
		if !bytes.Equal(mustMarshal(t, st), beforeBytes) {
			t.Fatalf("%v failed with %v but changed the state", op, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("apply %+v at replica %d: %v", op, i, err)
	}
	w.emit(t, i, op, now, before, delta)
}

// fold has the decider of writer k (replica k+1, so that one replica folds
// each writer, in sequence) fold k's entry of a root counter, as a node
// folds a retired client (fold.go). The event's op is an increment by 0:
// a fold changes no value.
func (w *world) fold(t *rapid.T, k int) {
	i := (k + 1) % len(w.states)
	st := w.states[i]
	typ := st.Type()
	if typ != crdt.TypeGCounter && typ != crdt.TypePNCounter {
		return
	}
	before := st.Clone()
	delta, err := st.Fold(w.reps[k], crdt.FoldReplica(w.reps[i]))
	if errors.Is(err, crdt.ErrInvalidOp) {
		return // nothing of k's to fold, or folded already
	}
	if err != nil {
		t.Fatalf("fold of replica %d at replica %d: %v", k, i, err)
	}
	now := w.clocks[i].Now(w.pt + w.skew[i])
	w.emit(t, i, crdt.Op{Type: typ, Kind: crdt.OpInc}, now, before, delta)
}

// emit records the event of replica i that made delta from before and
// sends the delta to every other replica: once, twice, or not at all.
func (w *world) emit(t *rapid.T, i int, op crdt.Op, now crdt.Timestamp, before, delta *crdt.Object) {
	st := w.states[i]
	id := len(w.events)
	w.events = append(w.events, &event{
		origin: i, op: op, now: now, before: before, after: st.Clone(), delta: delta,
		seen: cloneSeen(w.seen[i]),
	})
	w.seen[i][id] = true
	for j := range w.states {
		if j == i {
			continue
		}
		switch rapid.IntRange(0, 9).Draw(t, "fate") {
		case 0:
			w.lost[j] = append(w.lost[j], id)
		case 1:
			w.inbox[j] = append(w.inbox[j], id, id)
		default:
			w.inbox[j] = append(w.inbox[j], id)
		}
	}
}

func cloneSeen(m map[int]bool) map[int]bool {
	c := make(map[int]bool, len(m))
	for k := range m {
		c[k] = true
	}
	return c
}

// deliver joins event id's delta, as it arrives off the wire, into replica
// j. Half the time j also folds the sender's clock into its own; the other
// half it does not (the delta came through a third party that did not pass
// the clock on), and only the register's own rule keeps a later write
// from losing to one it has seen.
func (w *world) deliver(t *rapid.T, j, id int) {
	ev := w.events[id]
	if rapid.Bool().Draw(t, "clock") {
		w.clocks[j].Update(w.pt+w.skew[j], ev.now)
	}
	w.states[j].Join(viaWire(t, ev.delta))
	w.seen[j][id] = true
}

// deliverOne delivers a random pending message, which is what reorders them.
func (w *world) deliverOne(t *rapid.T) bool {
	var busy []int
	for j, q := range w.inbox {
		if len(q) > 0 {
			busy = append(busy, j)
		}
	}
	if len(busy) == 0 {
		return false
	}
	j := rapid.SampledFrom(busy).Draw(t, "to")
	k := rapid.IntRange(0, len(w.inbox[j])-1).Draw(t, "msg")
	id := w.inbox[j][k]
	w.inbox[j] = slices.Delete(w.inbox[j], k, k+1)
	w.deliver(t, j, id)
	return true
}

// run interleaves minOps to maxOps operations drawn from gen with
// deliveries, while time moves on by a few milliseconds a step.
func (w *world) run(t *rapid.T, gen *rapid.Generator[crdt.Op], minOps, maxOps int) {
	ops := rapid.IntRange(minOps, maxOps).Draw(t, "ops")
	for done := 0; done < ops; {
		w.pt += rapid.Int64Range(0, 3).Draw(t, "tick")
		if rapid.IntRange(0, 2).Draw(t, "step") == 0 && w.deliverOne(t) {
			continue
		}
		w.do(t, rapid.IntRange(0, len(w.states)-1).Draw(t, "at"), gen.Draw(t, "op"))
		done++
		if rapid.IntRange(0, 5).Draw(t, "fold") == 0 {
			w.fold(t, rapid.IntRange(0, len(w.states)-1).Draw(t, "folded"))
		}
	}
}

// flush delivers everything still in flight, in random order.
func (w *world) flush(t *rapid.T) {
	for w.deliverOne(t) {
	}
}

// redeliverLost sends every dropped delta again, in random order: the
// delta-interval repair, which resends deltas instead of states.
func (w *world) redeliverLost(t *rapid.T) {
	for j := range w.lost {
		w.inbox[j] = append(w.inbox[j], w.lost[j]...)
		w.lost[j] = nil
	}
	w.flush(t)
}

// antiEntropy makes every replica join every other's full state: around a
// ring in a random order, twice, which is enough for the last replica of
// the first lap to hold everything and the second lap to hand it on.
func (w *world) antiEntropy(t *rapid.T) {
	n := len(w.states)
	ring := rapid.Permutation(seq(n)).Draw(t, "ring")
	for k := 0; k < 2*n-1; k++ {
		from, to := ring[k%n], ring[(k+1)%n]
		w.states[to].Join(viaWire(t, w.states[from]))
		for id := range w.seen[from] {
			w.seen[to][id] = true
		}
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// lattice returns every state and delta the history produced: all of them
// are elements of the type's lattice, so the laws must hold between any.
func (w *world) lattice() []*crdt.Object {
	out := []*crdt.Object{crdt.NewObject()}
	out = append(out, w.states...)
	for _, ev := range w.events {
		out = append(out, ev.before, ev.delta)
	}
	return out
}

// drawHistory runs a history of one type with deliveries still pending.
func drawHistory(t *rapid.T, typ crdt.Type, foreign bool) *world {
	w := newWorld(t)
	w.run(t, genOp(typ, foreign), 4, 40)
	return w
}

func mustMarshal(t rapid.TB, o *crdt.Object) []byte {
	t.Helper()
	b, err := o.MarshalBinary()
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// viaWire is what a replica receives when o is sent: its decoded encoding.
func viaWire(t rapid.TB, o *crdt.Object) *crdt.Object {
	t.Helper()
	d, err := crdt.UnmarshalObject(mustMarshal(t, o))
	if err != nil {
		t.Fatalf("decoding an encoded state: %v", err)
	}
	return d
}

func join(a, b *crdt.Object) *crdt.Object {
	c := a.Clone()
	c.Join(b)
	return c
}

// requireSame compares states by their canonical encoding, the definition
// of equal state, and their JSON form where the package has one.
func requireSame(t rapid.TB, what string, a, b *crdt.Object) {
	t.Helper()
	ab, bb := mustMarshal(t, a), mustMarshal(t, b)
	if !bytes.Equal(ab, bb) {
		t.Fatalf("%s: states differ\n a: %x\n    %v\n b: %x\n    %v", what, ab, a.Value(), bb, b.Value())
	}
	if !reflect.DeepEqual(a.Value(), b.Value()) {
		t.Fatalf("%s: equal encodings, different values %v and %v", what, a.Value(), b.Value())
	}
	if ja, jb := jsonOf(t, a), jsonOf(t, b); !bytes.Equal(ja, jb) {
		t.Fatalf("%s: JSON differs:\n%s\n%s", what, ja, jb)
	}
}

// jsonOf is the object's own JSON encoding if it has one, nil otherwise.
func jsonOf(t rapid.TB, o *crdt.Object) []byte {
	t.Helper()
	m, ok := any(o).(json.Marshaler)
	if !ok {
		return nil
	}
	b, err := m.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON: %v", err)
	}
	return b
}

// forEachType runs a property once per type.
func forEveryType(t *testing.T, prop func(t *rapid.T, typ crdt.Type)) {
	for _, typ := range allTypes {
		t.Run(typ.String(), func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) { prop(rt, typ) })
		})
	}
}

func TestJoinIsASemilattice(t *testing.T) {
	forEveryType(t, func(t *rapid.T, typ crdt.Type) {
		w := drawHistory(t, typ, true)
		elems := w.lattice()
		pick := rapid.SampledFrom(elems)
		a, b, c := pick.Draw(t, "a"), pick.Draw(t, "b"), pick.Draw(t, "c")
		bBefore := mustMarshal(t, b)
		ab := join(a, b)
		if !bytes.Equal(mustMarshal(t, b), bBefore) {
			t.Fatalf("Join changed its argument")
		}
		requireSame(t, "a⊔b = b⊔a", ab, join(b, a))
		requireSame(t, "(a⊔b)⊔c = a⊔(b⊔c)", join(ab, c), join(a, join(b, c)))
		requireSame(t, "a⊔a = a", join(a, a), a)
		requireSame(t, "(a⊔b)⊔b = a⊔b", join(ab, b), ab)
	})
}

func TestDeltaMutators(t *testing.T) {
	forEveryType(t, func(t *rapid.T, typ crdt.Type) {
		w := drawHistory(t, typ, true)
		for _, ev := range w.events {
			requireSame(t, "before⊔delta = after", join(ev.before, ev.delta), ev.after)
			requireSame(t, "inflation: after⊔before = after", join(ev.after, ev.before), ev.after)
			// A delta received elsewhere, again and again, and a state
			// that receives it: every replica's state is a valid target.
			y := w.states[rapid.IntRange(0, len(w.states)-1).Draw(t, "other")]
			once := join(y, ev.delta)
			requireSame(t, "y⊔d⊔d = y⊔d", join(once, ev.delta), once)
			requireSame(t, "inflation: (y⊔d)⊔y = y⊔d", join(once, y), once)
		}
	})
}

// TestWrongTypeChangesNothing pins down the cases the histories only hit at
// random: every refusal must wrap ErrWrongType and leave the state alone.
func TestWrongTypeChangesNothing(t *testing.T) {
	r := lawReplicas[0]
	now := crdt.Timestamp{Wall: simStart}
	lww := func(path ...string) crdt.Op {
		return crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: path, Value: crdt.MustInt(1)}
	}
	cases := []struct {
		name  string
		setup []crdt.Op
		op    crdt.Op
	}{
		{"inc a set", []crdt.Op{{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("x")}},
			crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1}},
		{"gcounter as counter", []crdt.Op{{Type: crdt.TypeGCounter, Kind: crdt.OpInc, By: 1}},
			crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpDec, By: 1}},
		{"map field as register", []crdt.Op{lww("a")}, lww()},
		{"register as map", []crdt.Op{lww()}, lww("a")},
		{"field of another type", []crdt.Op{lww("a")},
			crdt.Op{Type: crdt.TypeEWFlag, Kind: crdt.OpEnable, Path: []string{"a"}}},
		{"leaf field as inner map", []crdt.Op{lww("a")}, lww("a", "b")},
		{"inner map as leaf field", []crdt.Op{lww("a", "b")}, lww("a")},
		{"removed set stays a set", []crdt.Op{
			{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("x")},
			{Type: crdt.TypeORSet, Kind: crdt.OpRemove, Value: crdt.String("x")},
		}, crdt.Op{Type: crdt.TypeEWFlag, Kind: crdt.OpEnable}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := crdt.NewObject()
			for _, op := range c.setup {
				if _, err := o.Apply(r, now, op); err != nil {
					t.Fatalf("setup %v: %v", op, err)
				}
			}
			before := mustMarshal(t, o)
			d, err := o.Apply(r, now, c.op)
			if !errors.Is(err, crdt.ErrWrongType) {
				t.Fatalf("got %v, %v; want ErrWrongType", d, err)
			}
			if !bytes.Equal(mustMarshal(t, o), before) {
				t.Fatalf("a refused op changed the state")
			}
		})
	}
}
