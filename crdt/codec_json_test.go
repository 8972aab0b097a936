package crdt_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
)

// Replicas in byte order a < b < c, so that expected text is easy to state.
var (
	cjA = uuid.MustParse("00000000-0000-4000-8000-00000000000a")
	cjB = uuid.MustParse("00000000-0000-4000-8000-00000000000b")
	cjC = uuid.MustParse("00000000-0000-4000-8000-00000000000c")
)

const (
	cjAText = `"00000000-0000-4000-8000-00000000000a"`
	cjBText = `"00000000-0000-4000-8000-00000000000b"`
)

// cjScalars are set elements and register values of every kind, chosen
// where number printing and string escaping differ between naive
// implementations.
var cjScalars = []crdt.Value{
	crdt.Null(), crdt.Bool(false), crdt.Bool(true),
	crdt.MustInt(0), crdt.MustInt(-1), crdt.MustInt(63), crdt.MustInt(64),
	crdt.MustInt(crdt.MaxSafeInt), crdt.MustInt(-crdt.MaxSafeInt),
	mustFloat(0.1), mustFloat(-2.5), mustFloat(1e21), mustFloat(1.5e-7), mustFloat(1e-6), mustFloat(math.MaxFloat64),
	crdt.String(""), crdt.String(`say "hi" \ bye`), crdt.String("\x00\x01\x1f\b\f\n\r\t"),
	crdt.String("line\u2028sep\u2029"), crdt.String("héllo wörld ✓ 😀"), crdt.String("</script>&"),
}

// cjApply applies op at r and fails the test on error.
func cjApply(t testing.TB, o *crdt.Object, r crdt.ReplicaID, wall int64, op crdt.Op) *crdt.Object {
	t.Helper()
	d, err := o.Apply(r, crdt.Timestamp{Wall: wall}, op)
	if err != nil {
		t.Fatalf("apply %+v: %v", op, err)
	}
	return d
}

// cjStates builds states covering every type, nested maps, set elements of
// every scalar kind, type conflicts, and contexts with clouds (deltas
// delivered out of order, removes).
func cjStates(t testing.TB) map[string]*crdt.Object {
	t.Helper()
	states := map[string]*crdt.Object{"empty": crdt.NewObject()}
	put := func(name string, o *crdt.Object) { states[name] = o }

	g := crdt.NewObject()
	cjApply(t, g, cjA, 1, crdt.Op{Type: crdt.TypeGCounter, Kind: crdt.OpInc, By: 5})
	g.Join(cjApply(t, crdt.NewObject(), cjB, 1, crdt.Op{Type: crdt.TypeGCounter, Kind: crdt.OpInc, By: 7}))
	put("gcounter", g)

	// A counter that received a replica's later delta before its earlier
	// one holds two entries of that replica and a context cloud.
	src := crdt.NewObject()
	d1 := cjApply(t, src, cjA, 1, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 3})
	cjApply(t, src, cjA, 1, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpDec, By: 1})
	d3 := cjApply(t, src, cjA, 1, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpDec, By: 10})
	pn := crdt.NewObject()
	pn.Join(d3)
	pn.Join(d1)
	put("counter-out-of-order", pn)
	put("counter", src)

	set := crdt.NewObject()
	for _, v := range cjScalars {
		cjApply(t, set, cjA, 1, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: v})
	}
	cjApply(t, set, cjB, 1, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("")})
	cjApply(t, set, cjB, 1, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpRemove, Value: crdt.Null()})
	put("set-scalars", set)

	lww := crdt.NewObject()
	for i, v := range cjScalars {
		cjApply(t, lww, cjA, int64(1000+i), crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Value: v})
	}
	lww.Join(cjApply(t, crdt.NewObject(), cjB, 5000, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Value: crdt.String("b")}))
	// Writing at a time it has already seen forces a logical component.
	cjApply(t, lww, cjC, 0, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Value: crdt.String("c")})
	put("lww", lww)

	mv := crdt.NewObject()
	cjApply(t, mv, cjA, 1, crdt.Op{Type: crdt.TypeMVRegister, Kind: crdt.OpSet, Value: mustFloat(0.1)})
	mv.Join(cjApply(t, crdt.NewObject(), cjB, 1, crdt.Op{Type: crdt.TypeMVRegister, Kind: crdt.OpSet, Value: crdt.String("x\u2028")}))
	mv.Join(cjApply(t, crdt.NewObject(), cjC, 1, crdt.Op{Type: crdt.TypeMVRegister, Kind: crdt.OpSet, Value: crdt.Null()}))
	put("mvreg", mv)

	flag := crdt.NewObject()
	cjApply(t, flag, cjA, 1, crdt.Op{Type: crdt.TypeEWFlag, Kind: crdt.OpEnable})
	flag.Join(cjApply(t, crdt.NewObject(), cjB, 1, crdt.Op{Type: crdt.TypeEWFlag, Kind: crdt.OpEnable}))
	put("flag", flag)
	off := flag.Clone()
	cjApply(t, off, cjC, 1, crdt.Op{Type: crdt.TypeEWFlag, Kind: crdt.OpDisable})
	put("flag-disabled", off)

	m := crdt.NewObject()
	for _, op := range []crdt.Op{
		{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"title"}, Value: crdt.String("Plan")},
		{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Path: []string{"cards", "c1", "tags"}, Value: crdt.String("urgent")},
		{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Path: []string{"cards", "c1", "tags"}, Value: crdt.MustInt(-70)},
		{Type: crdt.TypePNCounter, Kind: crdt.OpDec, Path: []string{"cards", "c1", "votes"}, By: 2},
		{Type: crdt.TypeGCounter, Kind: crdt.OpInc, Path: []string{"views"}, By: 9},
		{Type: crdt.TypeMVRegister, Kind: crdt.OpSet, Path: []string{"cards", "c2", "owner"}, Value: crdt.String("ann")},
		{Type: crdt.TypeEWFlag, Kind: crdt.OpEnable, Path: []string{"cards", "c2", "done"}},
		{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"", "é\"\n"}, Value: crdt.Bool(true)},
		{Type: crdt.TypeORMap, Kind: crdt.OpDelete, Path: []string{"cards", "c2"}},
	} {
		cjApply(t, m, cjA, 1000, op)
	}
	// Concurrent creation of one field name with two types keeps both.
	m.Join(cjApply(t, crdt.NewObject(), cjB, 1000, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"views"}, Value: crdt.MustInt(1)}))
	put("map-nested", m)

	deep := crdt.NewObject()
	path := make([]string, crdt.MaxDepth)
	for i := range path {
		path[i] = fmt.Sprintf("level%d", i)
	}
	cjApply(t, deep, cjA, 1, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Path: path, Value: crdt.String("bottom")})
	put("map-deepest", deep)

	// Two replicas creating the key with different types keep both.
	conflict := crdt.NewObject()
	cjApply(t, conflict, cjA, 1, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("s")})
	conflict.Join(cjApply(t, crdt.NewObject(), cjB, 1, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 2}))
	put("root-type-conflict", conflict)
	return states
}

// TestObjectJSONRoundTrip: decoding the encoding gives the same state (same
// binary encoding, same value), re-encoding gives the same text, and going
// JSON -> object -> binary -> object -> JSON changes nothing, so the two
// encodings describe one state.
func TestObjectJSONRoundTrip(t *testing.T) {
	for name, o := range cjStates(t) {
		t.Run(name, func(t *testing.T) {
			j := jsonOf(t, o)
			if !json.Valid(j) {
				t.Fatalf("not valid JSON: %s", j)
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, j); err != nil || !bytes.Equal(buf.Bytes(), j) {
				t.Fatalf("not compact JSON: %s", j)
			}
			back, err := crdt.UnmarshalObjectJSON(j)
			if err != nil {
				t.Fatalf("decoding %s: %v", j, err)
			}
			if again := jsonOf(t, back); !bytes.Equal(again, j) {
				t.Fatalf("re-encoding differs:\n%s\n%s", j, again)
			}
			if !bytes.Equal(mustMarshal(t, back), mustMarshal(t, o)) {
				t.Fatalf("decoded state differs from the original (binary)")
			}
			viaBinary, err := crdt.UnmarshalObject(mustMarshal(t, back))
			if err != nil {
				t.Fatalf("binary decoding: %v", err)
			}
			if again := jsonOf(t, viaBinary); !bytes.Equal(again, j) {
				t.Fatalf("JSON -> binary -> JSON differs:\n%s\n%s", j, again)
			}
			want, _ := json.Marshal(o.Value())
			got, _ := json.Marshal(back.Value())
			if !bytes.Equal(want, got) {
				t.Fatalf("value %s, want %s", got, want)
			}
			// encoding/json finds the methods, and replaces what was there.
			into := crdt.NewObject()
			cjApply(t, into, cjC, 1, crdt.Op{Type: crdt.TypeEWFlag, Kind: crdt.OpEnable})
			if err := json.Unmarshal(j, into); err != nil {
				t.Fatalf("json.Unmarshal: %v", err)
			}
			if !into.Equal(o) {
				t.Fatalf("json.Unmarshal kept old state: %s", jsonOf(t, into))
			}
		})
	}
}

// TestObjectJSONText pins the exact text, which the JavaScript client must
// produce byte for byte.
func TestObjectJSONText(t *testing.T) {
	set := crdt.NewObject()
	cjApply(t, set, cjA, 1, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("x")})
	set.Join(cjApply(t, crdt.NewObject(), cjB, 1, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.MustInt(1)}))

	lww := crdt.NewObject()
	cjApply(t, lww, cjB, 2000, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"title"}, Value: crdt.String("Plan")})
	cjApply(t, lww, cjA, 1000, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"title"}, Value: crdt.String("Later")})

	src := crdt.NewObject()
	cjApply(t, src, cjA, 1, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 3})
	cjApply(t, src, cjA, 1, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpDec, By: 1})
	d3 := cjApply(t, src, cjA, 1, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 2})
	pn := crdt.NewObject()
	pn.Join(d3)

	mv := crdt.NewObject()
	cjApply(t, mv, cjA, 1, crdt.Op{Type: crdt.TypeMVRegister, Kind: crdt.OpSet, Value: mustFloat(1e21)})
	empty := crdt.NewObject()

	for _, c := range []struct {
		name string
		o    *crdt.Object
		want string
	}{
		{"empty", empty, `{"types":[],"leaves":[],"ctx":{"vv":[],"cloud":[]}}`},
		// "x" (tag 0x05) sorts before 1 (one byte, 0x41): binary key order.
		{"set", set, `{"types":["set"],"leaves":[[["set","x"],[[` + cjAText + `,1]]],[["set",1],[[` + cjBText + `,1]]]],"ctx":{"vv":[[` + cjAText + `,1],[` + cjBText + `,1]],"cloud":[]}}`},
		// a's clock is behind b's write it has seen: its timestamp is bumped.
		{"lww", lww, `{"types":["map"],"leaves":[[["map",["title","lww"]],[[` + cjAText + `,1,2000,1,"Later"]]]],"ctx":{"vv":[[` + cjAText + `,1],[` + cjBText + `,1]],"cloud":[]}}`},
		// The cloud lists every out-of-order dot, leaf dots included.
		{"counter", pn, `{"types":["counter"],"leaves":[[["counter"],[[` + cjAText + `,3,5,1]]]],"ctx":{"vv":[],"cloud":[[` + cjAText + `,2],[` + cjAText + `,3]]}}`},
		{"mvreg", mv, `{"types":["mvreg"],"leaves":[[["mvreg"],[[` + cjAText + `,1,1e+21]]]],"ctx":{"vv":[[` + cjAText + `,1]],"cloud":[]}}`},
	} {
		if got := string(jsonOf(t, c.o)); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

// TestObjectJSONScalarText checks each scalar prints as JSON.stringify
// prints it, wherever it sits: as a set element in a path and as a
// register value.
func TestObjectJSONScalarText(t *testing.T) {
	want := []string{
		`null`, `false`, `true`, `0`, `-1`, `63`, `64`, `9007199254740991`, `-9007199254740991`,
		`0.1`, `-2.5`, `1e+21`, `1.5e-7`, `0.000001`, `1.7976931348623157e+308`,
		`""`, `"say \"hi\" \\ bye"`, `"\u0000\u0001\u001f\b\f\n\r\t"`,
		"\"line\u2028sep\u2029\"", `"héllo wörld ✓ 😀"`, `"</script>&"`,
	}
	for i, v := range cjScalars {
		set := crdt.NewObject()
		cjApply(t, set, cjA, 1, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: v})
		mv := crdt.NewObject()
		cjApply(t, mv, cjA, 1, crdt.Op{Type: crdt.TypeMVRegister, Kind: crdt.OpSet, Value: v})
		wantSet := `{"types":["set"],"leaves":[[["set",` + want[i] + `],[[` + cjAText + `,1]]]],"ctx":{"vv":[[` + cjAText + `,1]],"cloud":[]}}`
		wantMV := `{"types":["mvreg"],"leaves":[[["mvreg"],[[` + cjAText + `,1,` + want[i] + `]]]],"ctx":{"vv":[[` + cjAText + `,1]],"cloud":[]}}`
		if got := string(jsonOf(t, set)); got != wantSet {
			t.Errorf("set element %v:\n got %s\nwant %s", v, got, wantSet)
		}
		if got := string(jsonOf(t, mv)); got != wantMV {
			t.Errorf("register value %v:\n got %s\nwant %s", v, got, wantMV)
		}
	}
}

// cjDoc builds a JSON object from the three parts, so malformed inputs
// differ from a valid one in exactly one place.
func cjDoc(types, leaves, ctx string) string {
	return `{"types":` + types + `,"leaves":` + leaves + `,"ctx":` + ctx + `}`
}

const (
	cjU        = `"00000000-0000-4000-8000-00000000000a"`
	cjEmptyCtx = `{"vv":[],"cloud":[]}`
)

// cjLeafDoc is a document of one one-entry leaf.
func cjLeafDoc(path, rest string) string { return cjLeavesDoc(cjLeaf(path, rest)) }

// cjLeavesDoc is a document of the given leaves and an empty context.
func cjLeavesDoc(leaves ...string) string {
	return cjDoc(`[]`, `[`+strings.Join(leaves, ",")+`]`, cjEmptyCtx)
}

// cjLeaf is a one-entry leaf of path with entry fields after the replica.
func cjLeaf(path, rest string) string { return `[` + path + `,[[` + cjU + `,` + rest + `]]]` }

// TestObjectJSONMalformed: every malformed or oversized input is refused
// with an error wrapping ErrInvalid or ErrLimit, never a panic.
func TestObjectJSONMalformed(t *testing.T) {
	deep := `["map"` + strings.Repeat(`,["f","map"]`, crdt.MaxDepth) + `,["g","flag"]]`
	valid := cjLeafDoc(`["set","x"]`, `1`)
	type malformed struct {
		name, in string
		want     error
		says     string // part of the message, where the reason could be mistaken
	}
	cases := []malformed{
		{"empty", ``, crdt.ErrInvalid, ``},
		{"garbage", `garbage`, crdt.ErrInvalid, ``},
		{"truncated", valid[:len(valid)/2], crdt.ErrInvalid, ``},
		{"truncated at end", valid[:len(valid)-1], crdt.ErrInvalid, ``},
		{"array at top", `[]`, crdt.ErrInvalid, ``},
		{"null at top", `null`, crdt.ErrInvalid, ``},
		{"missing ctx", `{"types":[],"leaves":[]}`, crdt.ErrInvalid, `missing key "ctx"`},
		{"missing types", `{"leaves":[],"ctx":` + cjEmptyCtx + `}`, crdt.ErrInvalid, ``},
		{"missing cloud", cjDoc(`[]`, `[]`, `{"vv":[]}`), crdt.ErrInvalid, ``},
		{"unknown key", `{"types":[],"leaves":[],"ctx":` + cjEmptyCtx + `,"x":1}`, crdt.ErrInvalid, ``},
		{"key case", `{"Types":[],"leaves":[],"ctx":` + cjEmptyCtx + `}`, crdt.ErrInvalid, ``},
		{"repeated key", `{"types":[],"leaves":[],"leaves":[],"ctx":` + cjEmptyCtx + `}`, crdt.ErrInvalid, `repeated key`},
		{"leaves not array", cjDoc(`[]`, `{}`, cjEmptyCtx), crdt.ErrInvalid, ``},
		{"leaves null", cjDoc(`[]`, `null`, cjEmptyCtx), crdt.ErrInvalid, ``},
		{"ctx array", cjDoc(`[]`, `[]`, `[]`), crdt.ErrInvalid, ``},
		{"unknown type in set", cjDoc(`["widget"]`, `[]`, cjEmptyCtx), crdt.ErrInvalid, ``},
		{"type not a string", cjDoc(`[4]`, `[]`, cjEmptyCtx), crdt.ErrInvalid, ``},
		{"unknown root type", cjLeafDoc(`["widget"]`, `1`), crdt.ErrInvalid, ``},
		{"unknown field type", cjLeafDoc(`["map",["f","widget"]]`, `1`), crdt.ErrInvalid, ``},
		{"map leaf no field", cjLeafDoc(`["map"]`, `1`), crdt.ErrInvalid, `not a leaf`},
		{"nested map no field", cjLeafDoc(`["map",["f","map"]]`, `1`), crdt.ErrInvalid, `not a leaf`},
		{"set no element", cjLeafDoc(`["set"]`, `1`), crdt.ErrInvalid, `needs an element`},
		{"set element array", cjLeafDoc(`["set",["x"]]`, `1`), crdt.ErrInvalid, ``},
		{"set element object", cjLeafDoc(`["set",{}]`, `1`), crdt.ErrInvalid, ``},
		{"two set elements", cjLeafDoc(`["set","x","y"]`, `1`), crdt.ErrInvalid, ``},
		{"segment after flag", cjLeafDoc(`["flag","x"]`, `1`), crdt.ErrInvalid, `nothing may follow`},
		{"element in a map", cjLeafDoc(`["map",false]`, `1`), crdt.ErrInvalid, `want "["`},
		{"field of one", cjLeafDoc(`["map",["f"]]`, `1`), crdt.ErrInvalid, ``},
		{"field of three", cjLeafDoc(`["map",["f","flag","x"]]`, `1`), crdt.ErrInvalid, ``},
		{"field name number", cjLeafDoc(`["map",[1,"flag"]]`, `1`), crdt.ErrInvalid, ``},
		{"empty path", cjLeafDoc(`[]`, `1`), crdt.ErrInvalid, ``},
		{"path not array", cjLeafDoc(`"flag"`, `1`), crdt.ErrInvalid, ``},
		{"leaf without entries", cjDoc(`[]`, `[[["flag"],[]]]`, cjEmptyCtx), crdt.ErrInvalid, `no entries`},
		{"leaf of one", cjDoc(`[]`, `[[["flag"]]]`, cjEmptyCtx), crdt.ErrInvalid, ``},
		{"leaf of three", cjDoc(`[]`, `[[["flag"],[[`+cjU+`,1]],1]]`, cjEmptyCtx), crdt.ErrInvalid, ``},
		{"bad uuid", cjDoc(`[]`, `[[["flag"],[["not-a-uuid",1]]]]`, cjEmptyCtx), crdt.ErrInvalid, `not a lowercase UUID`},
		{"uppercase uuid", cjDoc(`[]`, `[[["flag"],[[`+strings.ToUpper(cjU)+`,1]]]]`, cjEmptyCtx), crdt.ErrInvalid, `not a lowercase UUID`},
		{"uuid without dashes", cjDoc(`[]`, `[[["flag"],[["000000000000400080000000000000a0",1]]]]`, cjEmptyCtx), crdt.ErrInvalid, ``},
		{"uuid number", cjDoc(`[]`, `[[["flag"],[[7,1]]]]`, cjEmptyCtx), crdt.ErrInvalid, ``},
		{"seq 0", cjLeafDoc(`["flag"]`, `0`), crdt.ErrInvalid, `seq 0`},
		{"seq negative", cjLeafDoc(`["flag"]`, `-1`), crdt.ErrInvalid, ``},
		{"seq fraction", cjLeafDoc(`["flag"]`, `1.5`), crdt.ErrInvalid, ``},
		{"seq exponent", cjLeafDoc(`["flag"]`, `1e3`), crdt.ErrInvalid, ``},
		{"seq string", cjLeafDoc(`["flag"]`, `"1"`), crdt.ErrInvalid, ``},
		{"seq beyond MaxSeq", cjLeafDoc(`["flag"]`, fmt.Sprint(crdt.MaxSeq+1)), crdt.ErrInvalid, ``},
		{"seq beyond uint64", cjLeafDoc(`["flag"]`, `99999999999999999999999`), crdt.ErrInvalid, ``},
		{"flag entry with data", cjLeafDoc(`["flag"]`, `1,2`), crdt.ErrInvalid, ``},
		{"counter entry short", cjLeafDoc(`["counter"]`, `1,2`), crdt.ErrInvalid, ``},
		{"counter beyond safe", cjLeafDoc(`["counter"]`, `1,9007199254740992,0`), crdt.ErrInvalid, ``},
		{"counter negative", cjLeafDoc(`["gcounter"]`, `1,-1,0`), crdt.ErrInvalid, ``},
		{"mvreg no value", cjLeafDoc(`["mvreg"]`, `1`), crdt.ErrInvalid, ``},
		{"mvreg array value", cjLeafDoc(`["mvreg"]`, `1,[1]`), crdt.ErrInvalid, ``},
		{"mvreg huge number", cjLeafDoc(`["mvreg"]`, `1,1e400`), crdt.ErrInvalid, ``},
		{"lww short", cjLeafDoc(`["lww"]`, `1,1000,0`), crdt.ErrInvalid, ``},
		{"lww long", cjLeafDoc(`["lww"]`, `1,1000,0,"v",1`), crdt.ErrInvalid, `want "]", got a number`},
		{"lww negative wall", cjLeafDoc(`["lww"]`, `1,-1,0,"v"`), crdt.ErrInvalid, ``},
		{"lww wall beyond safe", cjLeafDoc(`["lww"]`, `1,9007199254740992,0,"v"`), crdt.ErrInvalid, ``},
		{"lww logical overflow", cjLeafDoc(`["lww"]`, `1,0,4294967296,"v"`), crdt.ErrInvalid, ``},
		{"duplicate dot in leaf", cjDoc(`[]`, `[[["flag"],[[`+cjU+`,1],[`+cjU+`,1]]]]`, cjEmptyCtx), crdt.ErrInvalid, `appears twice`},
		{"duplicate dot across leaves", cjLeavesDoc(cjLeaf(`["set","x"]`, `1`), cjLeaf(`["set","y"]`, `1`)), crdt.ErrInvalid, `appears twice`},
		{"duplicate leaf", cjLeavesDoc(cjLeaf(`["set","x"]`, `1`), cjLeaf(`["set","x"]`, `2`)), crdt.ErrInvalid, `leaf set/"x" appears twice`},
		{"duplicate leaf by value", cjLeavesDoc(cjLeaf(`["set",1]`, `1`), cjLeaf(`["set",1.0]`, `2`)), crdt.ErrInvalid, `appears twice`},
		{"vv seq 0", cjDoc(`[]`, `[]`, `{"vv":[[`+cjU+`,0]],"cloud":[]}`), crdt.ErrInvalid, ``},
		{"vv duplicate", cjDoc(`[]`, `[]`, `{"vv":[[`+cjU+`,1],[`+cjU+`,2]],"cloud":[]}`), crdt.ErrInvalid, `appears twice`},
		{"vv triple", cjDoc(`[]`, `[]`, `{"vv":[[`+cjU+`,1,2]],"cloud":[]}`), crdt.ErrInvalid, ``},
		{"cloud bad uuid", cjDoc(`[]`, `[]`, `{"vv":[],"cloud":[["x",2]]}`), crdt.ErrInvalid, ``},
		{"ctx unknown key", cjDoc(`[]`, `[]`, `{"vv":[],"cloud":[],"dots":[]}`), crdt.ErrInvalid, ``},
		{"trailing garbage", valid + ` x`, crdt.ErrInvalid, `trailing`},
		{"trailing object", valid + valid, crdt.ErrInvalid, `trailing`},
		{"trailing brace", valid + `}`, crdt.ErrInvalid, `trailing`},
		{"invalid in string", cjLeafDoc(`["set","\x01"]`, `1`), crdt.ErrInvalid, ``},
		{"field name too long", cjLeafDoc(`["map",["`+strings.Repeat("f", crdt.MaxFieldName+1)+`","flag"]]`, `1`), crdt.ErrLimit, `field name of`},
		{"too deep", cjLeafDoc(deep, `1`), crdt.ErrLimit, `deeper than`},
		{"key too long", cjLeafDoc(`["set","`+strings.Repeat("k", crdt.MaxKeyLen)+`"]`, `1`), crdt.ErrLimit, `key of`},
		{"oversized", valid + strings.Repeat(" ", crdt.MaxEncodedSize), crdt.ErrLimit, ``},
	}
	for _, c := range cases {
		name, in, want := c.name, c.in, c.want
		o, err := crdt.UnmarshalObjectJSON([]byte(in))
		if err == nil {
			t.Errorf("%s: accepted, decoded as %s", name, jsonOf(t, o))
			continue
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: error %q does not wrap %q", name, err, want)
		}
		if !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: error %q does not say %q", name, err, c.says)
		}
		if o != nil {
			t.Errorf("%s: an object came back with the error", name)
		}
		var into crdt.Object
		if err := into.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("%s: the method accepted what the function refused", name)
		}
	}
	if testing.Verbose() {
		_, err := crdt.UnmarshalObjectJSON([]byte(cjLeavesDoc(cjLeaf(`["set","x"]`, `1`), cjLeaf(`["lww"]`, `0,5,0,"v"`))))
		t.Logf("a sample error says where: %v", err)
	}
}

// TestObjectJSONLenient: what the decoder accepts beyond the canonical text
// (any order, whitespace, dots or types the sender left out of its
// metadata) decodes to the canonical state, and the context ends up holding
// every leaf dot.
func TestObjectJSONLenient(t *testing.T) {
	b := `"00000000-0000-4000-8000-00000000000b"`
	canonical := `{"types":["set"],"leaves":[[["set","x"],[[` + cjU + `,1],[` + b + `,3]]],[["set",1],[[` + cjU + `,2]]]],"ctx":{"vv":[[` + cjU + `,2]],"cloud":[[` + b + `,3],[` + b + `,5]]}}`
	for name, in := range map[string]string{
		"canonical": canonical,
		"reordered": `{ "ctx": {"cloud": [[` + b + `,5]], "vv": [[` + cjU + `,1]]},
			"leaves": [ [["set",1.0],[[` + cjU + `,2]]], [["set","x"],[[` + b + `,3],[` + cjU + `,1]]] ],
			"types": ["set","set"] }`,
		"leaf dots and types left out": `{"types":[],"leaves":[[["set",1],[[` + cjU + `,2]]],[["set","x"],[[` + cjU + `,1],[` + b + `,3]]]],"ctx":{"vv":[],"cloud":[[` + b + `,5]]}}`,
		"cloud covered by vv":          `{"types":["set"],"leaves":[[["set","x"],[[` + cjU + `,1],[` + b + `,3]]],[["set",1],[[` + cjU + `,2]]]],"ctx":{"vv":[[` + cjU + `,2]],"cloud":[[` + cjU + `,1],[` + cjU + `,2],[` + b + `,5],[` + b + `,5]]}}`,
	} {
		o, err := crdt.UnmarshalObjectJSON([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := string(jsonOf(t, o)); got != canonical {
			t.Errorf("%s:\n got %s\nwant %s", name, got, canonical)
		}
	}
	// A cloud that fills the gap up to the vector folds into it.
	o, err := crdt.UnmarshalObjectJSON([]byte(cjDoc(`[]`, `[]`, `{"vv":[[`+cjU+`,1]],"cloud":[[`+cjU+`,3],[`+cjU+`,2],[`+cjU+`,5]]}`)))
	if err != nil {
		t.Fatal(err)
	}
	if want := cjDoc(`[]`, `[]`, `{"vv":[[`+cjU+`,3]],"cloud":[[`+cjU+`,5]]}`); string(jsonOf(t, o)) != want {
		t.Errorf("context not compacted:\n got %s\nwant %s", jsonOf(t, o), want)
	}
	ctx := o.Context()
	for seq, want := range map[uint64]bool{1: true, 2: true, 3: true, 4: false, 5: true, 6: false} {
		if got := ctx.Contains(crdt.Dot{Replica: cjA, Seq: seq}); got != want {
			t.Errorf("context contains a:%d = %v, want %v", seq, got, want)
		}
	}
}

// TestObjectJSONDeltaCarriesRemoval: a delta in JSON, decoded and joined,
// removes what the original delta removes; the JSON path loses nothing
// that join needs.
func TestObjectJSONDeltaCarriesRemoval(t *testing.T) {
	a := crdt.NewObject()
	cjApply(t, a, cjA, 1, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("x")})
	cjApply(t, a, cjA, 1, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("y")})
	b := a.Clone()
	rm := cjApply(t, a, cjA, 1, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpRemove, Value: crdt.String("x")})
	wire, err := crdt.UnmarshalObjectJSON(jsonOf(t, rm))
	if err != nil {
		t.Fatal(err)
	}
	b.Join(wire)
	if got, _ := json.Marshal(b.Value()); string(got) != `["y"]` {
		t.Fatalf("after the remove delta: %s, want [\"y\"]", got)
	}
	if !b.Equal(a) {
		t.Fatalf("states differ:\n%s\n%s", jsonOf(t, a), jsonOf(t, b))
	}
}

// FuzzUnmarshalJSON: decoding never panics, and whatever decodes is a
// valid state: its encoding decodes again to an equal state, its JSON text
// is stable, its binary encoding decodes, and its context holds its dots.
func FuzzUnmarshalJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := crdt.UnmarshalObjectJSON(data)
		if err != nil {
			if !errors.Is(err, crdt.ErrInvalid) && !errors.Is(err, crdt.ErrLimit) {
				t.Fatalf("error wraps neither ErrInvalid nor ErrLimit: %v", err)
			}
			return
		}
		j := jsonOf(t, o)
		again, err := crdt.UnmarshalObjectJSON(j)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", j, err)
		}
		if !bytes.Equal(mustMarshal(t, again), mustMarshal(t, o)) {
			t.Fatalf("re-decoded state differs:\n%s\n%s", j, jsonOf(t, again))
		}
		if j2 := jsonOf(t, again); !bytes.Equal(j, j2) {
			t.Fatalf("JSON not stable:\n%s\n%s", j, j2)
		}
		viaBinary, err := crdt.UnmarshalObject(mustMarshal(t, o))
		if err != nil {
			t.Fatalf("binary of a decoded state does not decode: %v\n%s", err, j)
		}
		if j2 := jsonOf(t, viaBinary); !bytes.Equal(j, j2) {
			t.Fatalf("JSON -> binary -> JSON differs:\n%s\n%s", j, j2)
		}
		ctx := o.Context()
		_ = crdt.Leaves(o, "", func(key string, es []crdt.Entry) error {
			for _, e := range es {
				if !ctx.Contains(e.Dot) {
					t.Fatalf("leaf dot %s missing from the context", e.Dot)
				}
			}
			return nil
		})
		if _, err := json.Marshal(o.Value()); err != nil {
			t.Fatalf("value does not marshal: %v", err)
		}
	})
}

// FuzzOpJSON: decoding an operation never panics; what decodes is valid
// and survives a round trip unchanged.
func FuzzOpJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var op crdt.Op
		if err := op.UnmarshalJSON(data); err != nil {
			return
		}
		if err := op.Validate(); err != nil {
			t.Fatalf("decoded op %+v is invalid: %v", op, err)
		}
		b, err := op.MarshalJSON()
		if err != nil {
			t.Fatalf("marshal %+v: %v", op, err)
		}
		var back crdt.Op
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("decoding %s: %v", b, err)
		}
		if back.Type != op.Type || back.Kind != op.Kind || back.Value != op.Value || back.By != op.By ||
			!slices.Equal(back.Path, op.Path) {
			t.Fatalf("round trip changed the op:\n%+v\n%+v\n(%s)", op, back, b)
		}
	})
}
