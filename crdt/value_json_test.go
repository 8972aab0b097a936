package crdt_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/lattice-sync/lattice/crdt"
)

// TestAppendValueJSON: for every type, the JSON AppendValueJSON writes,
// once encoding/json has compacted it as it compacts any raw message (its
// HTML-safe escapes), is byte for byte json.Marshal of Value, on states of
// random histories with concurrent writers (nested maps, texts, lists,
// empty objects).
func TestAppendValueJSON(t *testing.T) {
	forEveryType(t, func(t *rapid.T, typ crdt.Type) {
		w := drawHistory(t, typ, true)
		for i, o := range w.lattice() {
			want, err := json.Marshal(o.Value())
			if err != nil {
				t.Fatal(err)
			}
			raw := o.AppendValueJSON(nil)
			got, err := json.Marshal(json.RawMessage(raw))
			if err != nil {
				t.Fatalf("state %d: AppendValueJSON wrote invalid JSON %s: %v", i, raw, err)
			}
			if string(got) != string(want) {
				t.Fatalf("state %d:\n AppendValueJSON %s\n json.Marshal    %s", i, raw, want)
			}
		}
	})
}

// Strings that encoding/json and JSON.stringify escape differently, and
// maps whose field order by key differs from order by name.
func TestAppendValueJSONStrings(t *testing.T) {
	o := crdt.NewObject()
	r := lawReplicas[0]
	names := []string{"b", "a", "ab", "<&>", "\u2028", "é", "Z", "a\x00", "long-field-name-" + fmt.Sprint(12345)}
	vals := []string{"<script>", "a&b", "line\u2028sep", "\x01\x1f\"\\", "😀", ""}
	for i, n := range names {
		op := crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{n}, Value: crdt.String(vals[i%len(vals)])}
		if _, err := o.Apply(r, crdt.Timestamp{Wall: simStart + int64(i)}, op); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := json.Marshal(o.Value())
	got, err := json.Marshal(json.RawMessage(o.AppendValueJSON(nil)))
	if err != nil || string(got) != string(want) {
		t.Fatalf("got %s (%v)\nwant %s", got, err, want)
	}
}

// TestKeptValueJSON: an object that keeps its map fields' JSON
// (KeepValueJSON) renders what one that does not renders, after every
// delta of a random history joined into it in turn and after local writes
// (Apply), for every type: a field's JSON is rendered again whenever one of
// its leaves changed.
func TestKeptValueJSON(t *testing.T) {
	forEveryType(t, func(t *rapid.T, typ crdt.Type) {
		w := drawHistory(t, typ, true)
		kept := crdt.NewObject()
		kept.KeepValueJSON()
		check := func(what string) {
			t.Helper()
			got, want := kept.AppendValueJSON(nil), kept.Clone().AppendValueJSON(nil)
			if string(got) != string(want) {
				t.Fatalf("%s:\n kept    %s\n renders %s", what, got, want)
			}
		}
		check("empty")
		for i, ev := range w.events {
			kept.Join(ev.delta)
			if rapid.Bool().Draw(t, fmt.Sprintf("render%d", i)) {
				check(fmt.Sprintf("after delta %d", i))
			}
		}
		check("after every delta")
		for i, st := range w.states {
			kept.Join(st)
			check(fmt.Sprintf("after state %d", i))
		}
		for i, op := range rapid.SliceOfN(genOp(typ, false), 0, 8).Draw(t, "local") {
			if _, err := kept.Apply(lawReplicas[0], crdt.Timestamp{Wall: simStart + int64(1000+i)}, op); err == nil {
				check(fmt.Sprintf("after local op %d (%v)", i, op))
			}
		}
	})
}
