package crdt_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/lattice-sync/lattice/crdt"
)

// editor is one replica of a text, with the deltas it made so far.
type editor struct {
	t      rapid.TB
	id     crdt.ReplicaID
	o      *crdt.Object
	path   []string
	deltas []*crdt.Object
	lastOp crdt.Op
}

func newEditor(t rapid.TB, r int, path ...string) *editor {
	return &editor{t: t, id: lawReplicas[r], o: crdt.NewObject(), path: path}
}

func (e *editor) apply(op crdt.Op) *crdt.Object {
	e.t.Helper()
	op.Type, op.Path = crdt.TypeText, e.path
	e.lastOp = op
	d := e.apply0(e.o, op)
	e.deltas = append(e.deltas, d)
	return d
}

// apply0 applies op to o as this editor's replica.
func (e *editor) apply0(o *crdt.Object, op crdt.Op) *crdt.Object {
	e.t.Helper()
	d, err := o.Apply(e.id, crdt.Timestamp{Wall: simStart}, op)
	if err != nil {
		e.t.Fatalf("%v: %v", op, err)
	}
	return d
}

func (e *editor) insert(i int, s string) *crdt.Object {
	return e.apply(crdt.Op{Kind: crdt.OpInsert, Index: int64(i), Value: crdt.String(s)})
}

func (e *editor) delete(i, n int) *crdt.Object {
	return e.apply(crdt.Op{Kind: crdt.OpDelete, Index: int64(i), Count: int64(n)})
}

// typeForward types s one character at a time from index i, as a person
// does; typeBackward types it from its last character to its first, each
// at index i, as a person does who moves the cursor left after each key.
func (e *editor) typeForward(i int, s string) {
	for k, c := range []rune(s) {
		e.insert(i+k, string(c))
	}
}

func (e *editor) typeBackward(i int, s string) {
	rs := []rune(s)
	for k := len(rs) - 1; k >= 0; k-- {
		e.insert(i, string(rs[k]))
	}
}

func (e *editor) text() string { return e.o.Text(e.path...) }

// receive joins every delta of the others, through the wire.
func (e *editor) receive(others ...*editor) {
	for _, o := range others {
		for _, d := range o.deltas {
			e.o.Join(viaWire(e.t, d))
		}
	}
}

func TestTextEditsByCodePoint(t *testing.T) {
	a := newEditor(t, 0)
	a.insert(0, "héllo")
	a.insert(5, " wörld😀")
	a.insert(0, "¡")
	a.delete(2, 1) // é
	if got, want := a.text(), "¡hllo wörld😀"; got != want {
		t.Fatalf("text %q, want %q", got, want)
	}
	if got := a.o.Value(); got != "¡hllo wörld😀" {
		t.Fatalf("Value() = %#v", got)
	}
	a.delete(11, 1) // the emoji is one character
	a.insert(11, "!")
	if got, want := a.text(), "¡hllo wörld!"; got != want {
		t.Fatalf("text %q, want %q", got, want)
	}
}

func TestTextRefusals(t *testing.T) {
	o := crdt.NewObject()
	now := crdt.Timestamp{Wall: simStart}
	r := lawReplicas[0]
	if _, err := o.Apply(r, now, crdt.Op{Type: crdt.TypeText, Kind: crdt.OpInsert, Value: crdt.String("abc")}); err != nil {
		t.Fatal(err)
	}
	before := mustMarshal(t, o)
	cases := []struct {
		name string
		op   crdt.Op
		want error
	}{
		{"insert past the end", crdt.Op{Kind: crdt.OpInsert, Index: 4, Value: crdt.String("x")}, crdt.ErrInvalid},
		{"negative index", crdt.Op{Kind: crdt.OpInsert, Index: -1, Value: crdt.String("x")}, crdt.ErrInvalid},
		{"empty insert", crdt.Op{Kind: crdt.OpInsert, Value: crdt.String("")}, crdt.ErrInvalid},
		{"insert a number", crdt.Op{Kind: crdt.OpInsert, Value: crdt.MustInt(1)}, crdt.ErrInvalid},
		{"insert too long", crdt.Op{Kind: crdt.OpInsert, Value: crdt.String(strings.Repeat("x", crdt.MaxTextInsert+1))}, crdt.ErrLimit},
		{"delete past the end", crdt.Op{Kind: crdt.OpDelete, Index: 2, Count: 2}, crdt.ErrInvalid},
		{"delete nothing", crdt.Op{Kind: crdt.OpDelete, Index: 0, Count: 0}, crdt.ErrInvalid},
		{"set a text", crdt.Op{Kind: crdt.OpSet, Value: crdt.String("x")}, crdt.ErrInvalidOp},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.op.Type = crdt.TypeText
			d, err := o.Apply(r, now, c.op)
			if !errors.Is(err, c.want) || d != nil {
				t.Fatalf("got %v, %v; want %v", d, err, c.want)
			}
			if string(mustMarshal(t, o)) != string(before) {
				t.Fatalf("a refused op changed the state")
			}
		})
	}
	_, err := o.Apply(r, now, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Value: crdt.String("x")})
	if !errors.Is(err, crdt.ErrWrongType) {
		t.Fatalf("lww set on a text: %v", err)
	}
}

// exchange makes two editors join each other's deltas and checks they
// agree; it returns the common text.
func exchange(t *testing.T, eds ...*editor) string {
	t.Helper()
	for i, e := range eds {
		for j, o := range eds {
			if i != j {
				e.receive(o)
			}
		}
	}
	for _, e := range eds[1:] {
		requireSame(t, "replicas after exchange", eds[0].o, e.o)
	}
	return eds[0].text()
}

// requireOneOf fails unless got is one of the texts want.
func requireOneOf(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if got == w {
			return
		}
	}
	t.Fatalf("text %q, want one of %q", got, want)
}

// The interleaving examples of Weidner and Kleppmann's paper: concurrent
// runs typed at one place must end up one after the other, whichever way
// each was typed.
func TestFugueNoInterleaving(t *testing.T) {
	base := func() (*editor, *editor) {
		a, b := newEditor(t, 0), newEditor(t, 1)
		a.insert(0, "[]")
		b.receive(a)
		a.deltas = nil
		return a, b
	}
	t.Run("both forward", func(t *testing.T) {
		a, b := base()
		a.typeForward(1, "Hello")
		b.typeForward(1, "World")
		requireOneOf(t, exchange(t, a, b), "[HelloWorld]", "[WorldHello]")
	})
	t.Run("both backward", func(t *testing.T) {
		// RGA interleaves this one: "[HWeolrllod]".
		a, b := base()
		a.typeBackward(1, "Hello")
		b.typeBackward(1, "World")
		if a.text() != "[Hello]" || b.text() != "[World]" {
			t.Fatalf("local texts %q %q", a.text(), b.text())
		}
		requireOneOf(t, exchange(t, a, b), "[HelloWorld]", "[WorldHello]")
	})
	t.Run("forward and backward", func(t *testing.T) {
		a, b := base()
		a.typeForward(1, "Hello")
		b.typeBackward(1, "World")
		requireOneOf(t, exchange(t, a, b), "[HelloWorld]", "[WorldHello]")
	})
	t.Run("three replicas", func(t *testing.T) {
		a, b := base()
		c := newEditor(t, 2)
		c.o = b.o.Clone()
		a.typeForward(1, "milk ")
		b.typeBackward(1, "eggs ")
		c.typeForward(1, "bread ")
		got := exchange(t, a, b, c)
		for _, w := range []string{"milk ", "eggs ", "bread "} {
			if !strings.Contains(got, w) {
				t.Fatalf("text %q lost the run %q", got, w)
			}
		}
		if len([]rune(got)) != len("[milk eggs bread ]") {
			t.Fatalf("text %q has the wrong length", got)
		}
	})
	t.Run("runs typed in parts around a cursor move", func(t *testing.T) {
		// Each types a word, goes back to its start and types a prefix:
		// the paper's point that a replica's own insertions stay together.
		a, b := base()
		a.typeForward(1, "world")
		a.typeForward(1, "hello ")
		b.typeForward(1, "moon")
		b.typeForward(1, "good ")
		requireOneOf(t, exchange(t, a, b), "[hello worldgood moon]", "[good moonhello world]")
	})
	t.Run("pasted runs", func(t *testing.T) {
		a, b := base()
		a.insert(1, "Hello")
		b.insert(1, "World")
		requireOneOf(t, exchange(t, a, b), "[HelloWorld]", "[WorldHello]")
	})
}

func TestTextDeleteAndConcurrentInsert(t *testing.T) {
	a, b := newEditor(t, 0), newEditor(t, 1)
	a.insert(0, "abc")
	b.receive(a)
	a.deltas = nil
	a.delete(1, 1)   // a removes b
	b.insert(2, "X") // b types after b
	b.delete(0, 1)   // and removes a's a, observed
	b.insert(0, "^") // at the start
	if got := exchange(t, a, b); got != "^Xc" {
		t.Fatalf("text %q, want %q", got, "^Xc")
	}
}

func TestTextOutOfOrderDelivery(t *testing.T) {
	a, b, c := newEditor(t, 0), newEditor(t, 1), newEditor(t, 2)
	a.insert(0, "ab")
	b.receive(a)
	b.insert(1, "X")
	// c gets b's insert before a's, which it was typed into: it waits.
	c.o.Join(viaWire(t, b.deltas[0]))
	if got := c.text(); got != "" {
		t.Fatalf("text %q before its parent arrived", got)
	}
	c.receive(a)
	if got := c.text(); got != "aXb" {
		t.Fatalf("text %q, want aXb", got)
	}
	requireSame(t, "b and c", b.o, c.o)
}

// pieces lists every text piece of o as "dot+len:value".
func pieces(o *crdt.Object) (leaves int, out []string) {
	_ = o.Range("", "", func(_ string, es []crdt.Entry) error {
		leaves++
		for _, e := range es {
			out = append(out, fmt.Sprintf("%d+%d:%s", e.Dot.Seq, e.Len, e.V))
		}
		return nil
	})
	return leaves, out
}

// Typing forwards is stored as one piece per block, and deleting inside a
// piece splits it around a deleted piece that keeps no characters.
func TestTextRunsStoredAsRuns(t *testing.T) {
	a := newEditor(t, 0)
	text := strings.Repeat("typing ", 100) // 700 characters, 700 inserts
	a.typeForward(0, text)
	leaves, ps := pieces(a.o)
	want := []string{
		fmt.Sprintf("1+256:%q", text[:256]),
		fmt.Sprintf("257+256:%q", text[256:512]),
		fmt.Sprintf("513+188:%q", text[512:]),
	}
	if leaves != 3 || fmt.Sprint(ps) != fmt.Sprint(want) {
		t.Fatalf("%d leaves, pieces %q", leaves, ps)
	}
	if n := len(mustMarshal(t, a.o)); n > len(text)+100 {
		t.Fatalf("%d characters typed one by one encode in %d bytes", len(text), n)
	}
	a.delete(300, 10)
	_, ps = pieces(a.o)
	want = []string{
		fmt.Sprintf("1+256:%q", text[:256]),
		fmt.Sprintf("257+44:%q", text[256:300]),
		"301+10:null",
		fmt.Sprintf("311+202:%q", text[310:512]),
		fmt.Sprintf("513+188:%q", text[512:]),
	}
	if fmt.Sprint(ps) != fmt.Sprint(want) {
		t.Fatalf("after a delete, pieces %q", ps)
	}
	a.delete(0, 680)
	if got := a.text(); got != text[690:] {
		t.Fatalf("text %q", got)
	}
	// 690 deleted characters cost a handful of bytes.
	if n := len(mustMarshal(t, a.o)); n > 100 {
		t.Fatalf("a text of 10 live characters encodes in %d bytes", n)
	}
}

// countingStore counts the leaves an operation writes.
type countingStore struct {
	crdt.Store
	writes, entries int
}

func (c *countingStore) SetLeaf(key string, es []crdt.Entry) error {
	c.writes++
	c.entries += len(es)
	return c.Store.SetLeaf(key, es)
}

// An edit of a large text writes the one or two blocks its dots fall in,
// however long the text: what lets the node's store (a key per leaf) keep
// a 100,000-character text.
func TestTextEditWritesBoundedLeaves(t *testing.T) {
	a := newEditor(t, 0)
	chunk := strings.Repeat("0123456789", 1000)
	for i := 0; i < 10; i++ {
		a.insert(i*len(chunk), chunk)
	}
	if n := len([]rune(a.text())); n != 100_000 {
		t.Fatalf("text of %d characters", n)
	}
	b := newEditor(t, 1)
	b.o = a.o.Clone()
	for _, op := range []crdt.Op{
		{Type: crdt.TypeText, Kind: crdt.OpInsert, Index: 50_000, Value: crdt.String("x")},
		{Type: crdt.TypeText, Kind: crdt.OpInsert, Index: 70_000, Value: crdt.String(strings.Repeat("y", 300))},
		{Type: crdt.TypeText, Kind: crdt.OpDelete, Index: 10, Count: 1},
		{Type: crdt.TypeText, Kind: crdt.OpDelete, Index: 90_000, Count: 3},
	} {
		st := &countingStore{Store: b.o}
		m := b.o.Meta()
		if _, err := crdt.Apply(st, &m, b.id, crdt.Timestamp{Wall: simStart}, op); err != nil {
			t.Fatal(err)
		}
		b.o.SetMeta(m)
		if st.writes > 2 || st.entries > 6 {
			t.Fatalf("%v wrote %d leaves with %d entries", op, st.writes, st.entries)
		}
	}
	if n := len([]rune(b.o.Text())); n != 100_000+1+300-4 {
		t.Fatalf("text of %d characters after the edits", n)
	}
}

// TestTextRandomEditsConverge: three replicas edit concurrently at random
// places, deltas travel in random order with duplicates, and every
// replica's own edit does exactly what it asked locally; after everything
// is delivered all three hold the same text and state.
func TestTextRandomEditsConverge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		eds := []*editor{newEditor(t, 0, "note"), newEditor(t, 1, "note"), newEditor(t, 2, "note")}
		var inbox [3][]*crdt.Object
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for s := 0; s < steps; s++ {
			i := rapid.IntRange(0, 2).Draw(t, "at")
			e := eds[i]
			if len(inbox[i]) > 0 && rapid.Bool().Draw(t, "deliver") {
				k := rapid.IntRange(0, len(inbox[i])-1).Draw(t, "msg")
				e.o.Join(viaWire(t, inbox[i][k]))
				if rapid.IntRange(0, 4).Draw(t, "keep") != 0 {
					inbox[i] = append(inbox[i][:k], inbox[i][k+1:]...)
				}
				continue
			}
			before := []rune(e.text())
			fresh := e.o.Clone() // no cached index: the same edit, computed from the leaves
			var d *crdt.Object
			var want string
			if len(before) > 0 && rapid.IntRange(0, 2).Draw(t, "del") == 0 {
				at := rapid.IntRange(0, len(before)-1).Draw(t, "index")
				n := rapid.IntRange(1, min(3, len(before)-at)).Draw(t, "count")
				d = e.delete(at, n)
				want = string(before[:at]) + string(before[at+n:])
			} else {
				at := rapid.IntRange(0, len(before)).Draw(t, "index")
				v := rapid.SampledFrom(textRuns).Draw(t, "text")
				d = e.insert(at, v)
				want = string(before[:at]) + v + string(before[at:])
			}
			if got := e.text(); got != want {
				t.Fatalf("replica %d: local edit gave %q, want %q", i, got, want)
			}
			fd := e.apply0(fresh, e.lastOp)
			requireSame(t, "delta with the cached index and without", d, fd)
			for j := range inbox {
				if j != i {
					inbox[j] = append(inbox[j], d)
				}
			}
		}
		for i, e := range eds {
			for _, d := range inbox[i] {
				e.o.Join(viaWire(t, d))
			}
		}
		for _, e := range eds[1:] {
			requireSame(t, "replicas after delivery", eds[0].o, e.o)
			if e.text() != eds[0].text() {
				t.Fatalf("texts %q and %q", eds[0].text(), e.text())
			}
		}
	})
}
