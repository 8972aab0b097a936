package crdt_test

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"pgregory.net/rapid"

	"github.com/lattice-sync/lattice/crdt"
)

// applyEdits applies edits to s by code points, and checks the UTF-16
// positions say the same.
func applyEdits(t *rapid.T, s string, edits []crdt.TextEdit) string {
	rs := []rune(s)
	for _, e := range edits {
		u := utf16.Encode(rs)
		if got := len(utf16.Decode(u[:e.Index16])); got != e.Index {
			t.Fatalf("edit %+v: UTF-16 index %d is code point %d", e, e.Index16, got)
		}
		if got := len(utf16.Decode(u[e.Index16 : e.Index16+e.Delete16])); got != e.Delete {
			t.Fatalf("edit %+v: UTF-16 delete %d is %d code points", e, e.Delete16, got)
		}
		rs = slices.Concat(rs[:e.Index], []rune(e.Insert), rs[e.Index+e.Delete:])
	}
	return string(rs)
}

// TestTextChangesReplay: whatever a join or an edit does to the texts of an
// object, the changes it reports turn each text before into the text after.
func TestTextChangesReplay(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		fields := [][]string{{"a"}, {"m", "b"}}
		eds := []*editor{newEditor(t, 0), newEditor(t, 1), newEditor(t, 2)}
		var all []*crdt.Object
		for step := rapid.IntRange(1, 50).Draw(t, "steps"); step > 0; step-- {
			e := rapid.SampledFrom(eds).Draw(t, "at")
			snap := crdt.SnapshotTexts(e.o)
			before := map[string]string{}
			for _, f := range fields {
				before[strings.Join(f, "/")] = e.o.Text(f...)
			}
			if len(all) > 0 && rapid.Bool().Draw(t, "join") {
				e.o.Join(viaWire(t, rapid.SampledFrom(all).Draw(t, "delta")))
			} else {
				e.path = rapid.SampledFrom(fields).Draw(t, "field")
				op := fitText(e.o, crdt.Op{
					Type: crdt.TypeText, Path: e.path,
					Kind:  rapid.SampledFrom([]crdt.OpKind{crdt.OpInsert, crdt.OpDelete}).Draw(t, "kind"),
					Index: rapid.Int64Range(0, 100).Draw(t, "index"), Count: rapid.Int64Range(1, 4).Draw(t, "count"),
					Value: crdt.String(rapid.SampledFrom(textRuns).Draw(t, "text")),
				})
				all = append(all, e.apply(op))
			}
			changed := map[string]bool{}
			for _, ch := range snap.Changes(e.o) {
				k := strings.Join(ch.Path, "/")
				changed[k] = true
				if got, want := applyEdits(t, before[k], ch.Edits), e.o.Text(ch.Path...); got != want {
					t.Fatalf("%s: edits %+v turn %q into %q, want %q", k, ch.Edits, before[k], got, want)
				}
			}
			for k, s := range before {
				if !changed[k] && e.o.Text(strings.Split(k, "/")...) != s {
					t.Fatalf("%s changed from %q to %q without a change reported", k, s, e.o.Text(strings.Split(k, "/")...))
				}
			}
		}
	})
}

func TestTextChangesOfConcurrentTyping(t *testing.T) {
	a, b := newEditor(t, 0), newEditor(t, 1)
	a.insert(0, "[]")
	b.receive(a)
	a.deltas = nil
	a.typeForward(1, "Hi😀")
	b.delete(0, 1)
	snap := crdt.SnapshotTexts(b.o)
	b.receive(a)
	got := snap.Changes(b.o)
	want := []crdt.TextChange{{Path: []string{}, Edits: []crdt.TextEdit{{Index: 0, Insert: "Hi😀", Index16: 0}}}}
	if len(got) != 1 || !slices.Equal(got[0].Edits, want[0].Edits) || len(got[0].Path) != 0 {
		t.Fatalf("changes %+v, want %+v", got, want)
	}
	if b.text() != "Hi😀]" {
		t.Fatalf("text %q", b.text())
	}
}

func TestTextAnchorsFollowEdits(t *testing.T) {
	a, b := newEditor(t, 0, "note"), newEditor(t, 1, "note")
	a.insert(0, "hello world")
	b.receive(a)
	cursor := a.o.TextAnchor(6, "note") // before "world"
	if got := a.o.AnchorIndex(cursor, "note"); got != 6 {
		t.Fatalf("anchor at %d, want 6", got)
	}
	b.insert(0, ">> ")
	a.receive(b)
	if got := a.o.AnchorIndex(cursor, "note"); got != 9 {
		t.Fatalf("after text typed before it: %d, want 9", got)
	}
	a.delete(7, 2) // the anchor's character goes
	if got := a.o.AnchorIndex(cursor, "note"); got != 7 {
		t.Fatalf("a deleted anchor: %d, want 7", got)
	}
	if a.o.TextAnchor(0, "note") != (crdt.Dot{}) || a.o.AnchorIndex(crdt.Dot{}, "note") != 0 {
		t.Fatal("the start")
	}
}
