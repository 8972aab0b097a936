package crdt_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/lattice-sync/lattice/crdt"
)

// lister is one replica of a list, its clock ticking one millisecond per
// operation.
type lister struct {
	t    rapid.TB
	id   crdt.ReplicaID
	o    *crdt.Object
	path []string
	wall int64
}

func newLister(t rapid.TB, r int, path ...string) *lister {
	return &lister{t: t, id: lawReplicas[r], o: crdt.NewObject(), path: path, wall: simStart}
}

func (l *lister) do(op crdt.Op) *crdt.Object {
	l.t.Helper()
	if op.Type == 0 {
		op.Type = crdt.TypeList
	}
	if op.Path == nil {
		op.Path = l.path
	}
	l.wall++
	d, err := l.o.Apply(l.id, crdt.Timestamp{Wall: l.wall}, op)
	if err != nil {
		l.t.Fatalf("%+v: %v", op, err)
	}
	return viaWire(l.t, d)
}

func (l *lister) insert(i int, v any) *crdt.Object {
	op := crdt.Op{Kind: crdt.OpInsert, Index: int64(i)}
	if m, ok := v.(map[string]crdt.Value); ok {
		op.Map = m
	} else {
		op.Value, _ = crdt.ValueOf(v)
	}
	return l.do(op)
}

func (l *lister) delete(i, n int) *crdt.Object {
	return l.do(crdt.Op{Kind: crdt.OpDelete, Index: int64(i), Count: int64(n)})
}

func (l *lister) move(from, to int) *crdt.Object {
	return l.do(crdt.Op{Kind: crdt.OpMove, Index: int64(from), To: int64(to)})
}

func (l *lister) join(ds ...*crdt.Object) {
	for _, d := range ds {
		l.o.Join(d)
	}
}

func (l *lister) want(want ...any) {
	l.t.Helper()
	got := l.o.List(l.path...)
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		l.t.Fatalf("list %v, want %v", got, want)
	}
}

func TestListInsertDeleteMove(t *testing.T) {
	a := newLister(t, 0)
	for i, s := range []string{"a", "b", "c", "d"} {
		a.insert(i, s)
	}
	a.want("a", "b", "c", "d")
	a.move(0, 3)
	a.want("b", "c", "d", "a")
	a.move(3, 1)
	a.want("b", "a", "c", "d")
	a.delete(1, 2)
	a.want("b", "d")
	a.insert(1, int64(7))
	a.want("b", int64(7), "d")
	if v := a.o.Value(); !reflect.DeepEqual(v, []any{"b", int64(7), "d"}) {
		t.Fatalf("Value %v", v)
	}
	for _, op := range []crdt.Op{
		{Kind: crdt.OpInsert, Index: 4},
		{Kind: crdt.OpDelete, Index: 2, Count: 2},
		{Kind: crdt.OpMove, Index: 3, To: 0},
		{Kind: crdt.OpMove, Index: 0, To: 3},
	} {
		op.Type = crdt.TypeList
		if _, err := a.o.Apply(a.id, crdt.Timestamp{Wall: simStart}, op); !errors.Is(err, crdt.ErrOutOfRange) {
			t.Fatalf("%+v: %v, want out of range", op, err)
		}
	}
}

// Concurrent moves of one element: the later move wins everywhere, and the
// element shows once.
func TestListConcurrentMovesOneWins(t *testing.T) {
	a, b := newLister(t, 0), newLister(t, 1)
	b.join(a.insert(0, "x"), a.insert(1, "y"), a.insert(2, "z"))
	da := a.move(0, 2) // y z x
	b.wall += 10
	db := b.move(0, 1) // y x z, later
	a.join(db)
	b.join(da)
	a.want("y", "x", "z")
	b.want("y", "x", "z")
	requireSame(t, "after concurrent moves", a.o, b.o)
}

// A delete concurrent with a move of the same element wins; a field write
// concurrent with a move keeps both.
func TestListDeleteWinsOverMove(t *testing.T) {
	a, b := newLister(t, 0), newLister(t, 1)
	b.join(a.insert(0, "x"), a.insert(1, "y"))
	da := a.delete(0, 1)
	db := b.move(0, 1)
	a.join(db)
	b.join(da)
	a.want("y")
	b.want("y")
	requireSame(t, "after delete and move", a.o, b.o)
}

func TestListMapElementFieldWhileMoving(t *testing.T) {
	a, b := newLister(t, 0, "col"), newLister(t, 1, "col")
	b.join(a.insert(0, map[string]crdt.Value{"title": crdt.String("one")}), a.insert(1, "two"))
	da := a.move(0, 1)
	db := b.do(crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"col", "title"}, Item: &crdt.ItemRef{At: 1, Index: 0}, Value: crdt.String("ONE")})
	a.join(db)
	b.join(da)
	want := map[string]any{"col": []any{"two", map[string]any{"title": "ONE"}}}
	for _, l := range []*lister{a, b} {
		if v := l.o.Value(); !reflect.DeepEqual(v, want) {
			t.Fatalf("value %v, want %v", v, want)
		}
	}
	requireSame(t, "after move and field write", a.o, b.o)
	// A scalar element has no fields.
	_, err := b.o.Apply(b.id, crdt.Timestamp{Wall: simStart}, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"col", "title"}, Item: &crdt.ItemRef{At: 1, Index: 0}, Value: crdt.Null()})
	if !errors.Is(err, crdt.ErrWrongType) {
		t.Fatalf("field of a scalar element: %v", err)
	}
}

// Concurrent inserts at one place do not interleave: each replica's run
// stays whole, as in the text.
func TestListConcurrentRunsNotInterleaved(t *testing.T) {
	a, b := newLister(t, 0), newLister(t, 1)
	var da, db []*crdt.Object
	for i, s := range []string{"a1", "a2", "a3"} {
		da = append(da, a.insert(i, s))
	}
	for i, s := range []string{"b1", "b2", "b3"} {
		db = append(db, b.insert(i, s))
	}
	a.join(db...)
	b.join(da...)
	requireSame(t, "after concurrent runs", a.o, b.o)
	got := a.o.List()
	if !reflect.DeepEqual(got, []any{"a1", "a2", "a3", "b1", "b2", "b3"}) && !reflect.DeepEqual(got, []any{"b1", "b2", "b3", "a1", "a2", "a3"}) {
		t.Fatalf("interleaved: %v", got)
	}
}

func TestListOpJSON(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{`{"type":"list","op":"insert","index":0,"value":"x"}`, ""},
		{`{"type":"list","op":"insert","index":2,"value":{"t":"x","n":1}}`, `{"type":"list","op":"insert","index":2,"value":{"n":1,"t":"x"}}`},
		{`{"type":"list","op":"delete","path":["col"],"index":1,"count":2}`, ""},
		{`{"type":"list","op":"move","from":3,"to":0}`, ""},
		{`{"type":"lww","op":"set","path":["col",2,"title"],"value":"y"}`, ""},
		{`{"type":"map","op":"delete","path":[0,"title"]}`, ""},
	} {
		var op crdt.Op
		if err := json.Unmarshal([]byte(c.in), &op); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		b, _ := json.Marshal(op)
		want := c.out
		if want == "" {
			want = c.in
		}
		var got, exp any
		_ = json.Unmarshal(b, &got)
		_ = json.Unmarshal([]byte(want), &exp)
		if !reflect.DeepEqual(got, exp) || (c.out != "" && !json.Valid(b)) {
			t.Fatalf("%s: round trip %s", c.in, b)
		}
	}
	for _, in := range []string{
		`{"type":"list","op":"move","index":3,"to":0}`,
		`{"type":"list","op":"insert","value":1}`,
		`{"type":"list","op":"insert","index":-1,"value":1}`,
		`{"type":"list","op":"insert","index":0,"value":[1]}`,
		`{"type":"list","op":"insert","index":0,"value":{"a":{"b":1}}}`,
		`{"type":"list","op":"delete","index":0,"count":0}`,
		`{"type":"lww","op":"set","path":["col",2],"value":"y"}`,
		`{"type":"lww","op":"set","path":[1,2,"a"],"value":"y"}`,
		`{"type":"lww","op":"set","path":["a"],"value":"y","to":1}`,
		`{"type":"set","op":"add","value":{"a":1}}`,
		`{"type":"list","op":"add","value":1}`,
	} {
		var op crdt.Op
		if err := json.Unmarshal([]byte(in), &op); err == nil {
			t.Fatalf("%s: accepted as %+v", in, op)
		}
	}
}

// Random concurrent list operations on 3 replicas (insert, delete, move
// and a field write of a map element), delivered in any order, converge to
// equal lists and equal states.
func TestListRandomConcurrentConverges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ls := []*lister{newLister(t, 0), newLister(t, 1), newLister(t, 2)}
		var deltas []*crdt.Object
		n := rapid.IntRange(1, 40).Draw(t, "ops")
		for k := 0; k < n; k++ {
			l := ls[rapid.IntRange(0, 2).Draw(t, "at")]
			// Deliver some of what others made first.
			for _, d := range deltas {
				if rapid.IntRange(0, 2).Draw(t, "deliver") == 0 {
					requireListEdits(t, l.o, d)
				}
			}
			if op, ok := drawListOp(t, l.o, nil); ok {
				deltas = append(deltas, l.do(op))
			}
		}
		for _, l := range ls {
			l.join(deltas...)
		}
		for _, l := range ls[1:] {
			requireSame(t, "converged", ls[0].o, l.o)
			if !reflect.DeepEqual(ls[0].o.Value(), l.o.Value()) {
				t.Fatalf("values differ: %v and %v", ls[0].o.Value(), l.o.Value())
			}
		}
	})
}

// drawListOp draws a list operation that fits the list at path in o:
// insert (a scalar or a map), delete, move, or set a field of a map
// element. It reports false when the list is empty and the draw is not an
// insert.
func drawListOp(t *rapid.T, o *crdt.Object, path []string) (crdt.Op, bool) {
	n := len(o.List(path...))
	op := crdt.Op{Type: crdt.TypeList, Path: path}
	kind := rapid.IntRange(0, 4).Draw(t, "kind")
	if n == 0 {
		kind = 0
	}
	switch kind {
	case 0:
		op.Kind, op.Index = crdt.OpInsert, int64(rapid.IntRange(0, n).Draw(t, "index"))
		if rapid.Bool().Draw(t, "map") {
			op.Map = map[string]crdt.Value{"t": genValue().Draw(t, "field")}
		} else {
			op.Value = genValue().Draw(t, "value")
		}
	case 1:
		i := rapid.IntRange(0, n-1).Draw(t, "index")
		op.Kind, op.Index, op.Count = crdt.OpDelete, int64(i), int64(rapid.IntRange(1, n-i).Draw(t, "count"))
	case 2, 3:
		op.Kind, op.Index, op.To = crdt.OpMove, int64(rapid.IntRange(0, n-1).Draw(t, "from")), int64(rapid.IntRange(0, n-1).Draw(t, "to"))
	default:
		i := rapid.IntRange(0, n-1).Draw(t, "index")
		if _, ok := o.List(path...)[i].(map[string]any); !ok {
			return crdt.Op{}, false
		}
		p := append(append([]string{}, path...), "t")
		return crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: p, Item: &crdt.ItemRef{At: len(path), Index: int64(i)}, Value: genValue().Draw(t, "field")}, true
	}
	return op, true
}

// requireListEdits joins d into o and checks that the list change events
// (crdt.ListSnapshot.Changes), applied to the list as it was, give the
// list as it is.
func requireListEdits(t *rapid.T, o, d *crdt.Object) {
	before := o.List()
	snap := crdt.SnapshotLists(o)
	o.Join(d)
	after := o.List()
	var edits []crdt.ListEdit
	for _, c := range snap.Changes(o) {
		if len(c.Path) == 0 {
			edits = append(edits, c.Edits...)
		}
	}
	got := applyListEdits(t, jsonValues(t, before), edits)
	if want := jsonValues(t, after); !reflect.DeepEqual(got, want) {
		t.Fatalf("edits %+v turn %v into %v, want %v", edits, before, got, want)
	}
}

func jsonValues(t *rapid.T, vs []any) []string {
	out := []string{}
	for _, v := range vs {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// applyListEdits applies edits as an app would, to values as JSON.
func applyListEdits(t *rapid.T, vs []string, edits []crdt.ListEdit) []string {
	for _, e := range edits {
		b, _ := json.Marshal(e)
		var j struct {
			Op                     string
			Index, Count, From, To int
			Value                  json.RawMessage
		}
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatal(err)
		}
		var v string
		if j.Value != nil {
			var x any
			_ = json.Unmarshal(j.Value, &x)
			c, _ := json.Marshal(x)
			v = string(c)
		}
		switch j.Op {
		case "insert":
			vs = slices.Insert(vs, j.Index, v)
		case "delete":
			vs = slices.Delete(vs, j.Index, j.Index+j.Count)
		case "move":
			x := vs[j.From]
			vs = slices.Insert(slices.Delete(vs, j.From, j.From+1), j.To, x)
		case "set":
			vs[j.Index] = v
		default:
			t.Fatalf("unknown edit %s", b)
		}
	}
	return vs
}

// A change event says what happened in as few steps as it can: one move,
// one delete of a run, one insert, a set for a map element's field.
func TestListChangeEvents(t *testing.T) {
	a := newLister(t, 0)
	for i, s := range []string{"a", "b", "c", "d"} {
		a.insert(i, s)
	}
	a.insert(4, map[string]crdt.Value{"t": crdt.String("x")})
	for _, c := range []struct {
		do   func()
		want string
	}{
		{func() { a.move(0, 3) }, `[{"path":[],"edits":[{"op":"move","from":0,"to":3}]}]`},
		{func() { a.delete(0, 2) }, `[{"path":[],"edits":[{"op":"delete","index":0,"count":2}]}]`},
		{func() { a.insert(1, int64(5)) }, `[{"path":[],"edits":[{"op":"insert","index":1,"value":5}]}]`},
		{func() {
			a.do(crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"t"}, Item: &crdt.ItemRef{Index: 3}, Value: crdt.String("y")})
		}, `[{"path":[],"edits":[{"op":"set","index":3,"value":{"t":"y"}}]}]`},
	} {
		snap := crdt.SnapshotLists(a.o)
		c.do()
		b, _ := json.Marshal(snap.Changes(a.o))
		if string(b) != c.want {
			t.Fatalf("changes %s, want %s", b, c.want)
		}
	}
}
