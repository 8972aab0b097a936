package crdt_test

import (
	"fmt"
	"strings"
)

// Text vectors: Fugue's order, deletes, blocks and the op checks, which the
// JavaScript client must replay to the byte.

// vType types s one character at a time at replica r from index i
// (forwards), or each character at index i from the last (backwards),
// naming the deltas prefix1, prefix2, ...
func vType(r string, wall int64, i int, s string, backwards bool, prefix string) []vecStep {
	var out []vecStep
	rs := []rune(s)
	for k := range rs {
		at, c := i+k, rs[k]
		if backwards {
			at, c = i, rs[len(rs)-1-k]
		}
		op := fmt.Sprintf(`{"type":"text","op":"insert","index":%d,"value":%q}`, at, string(c))
		out = append(out, vAt(r, wall+int64(k), op, fmt.Sprintf("%s%d", prefix, k+1)))
	}
	return out
}

// vDeltas names prefix1 .. prefixN.
func vDeltas(prefix string, n int) string {
	var names []string
	for k := 1; k <= n; k++ {
		names = append(names, fmt.Sprintf("%s%d", prefix, k))
	}
	return strings.Join(names, " ")
}

func vecTextScenarios() []vecScenario {
	ins := func(i int, s string, path ...string) string {
		p := ""
		if len(path) > 0 {
			p = fmt.Sprintf(`,"path":["%s"]`, strings.Join(path, `","`))
		}
		return fmt.Sprintf(`{"type":"text","op":"insert"%s,"index":%d,"value":%q}`, p, i, s)
	}
	del := func(i, n int, path ...string) string {
		p := ""
		if len(path) > 0 {
			p = fmt.Sprintf(`,"path":["%s"]`, strings.Join(path, `","`))
		}
		return fmt.Sprintf(`{"type":"text","op":"delete"%s,"index":%d,"count":%d}`, p, i, n)
	}
	return []vecScenario{{
		name: "text-concurrent-typing-not-interleaved",
		description: "a types Hello forwards and b types World backwards (each character at the same index) into [] " +
			"concurrently. Fugue keeps each run whole: [HelloWorld], a's run first since its replica id is lower.",
		replicas: "ab",
		steps: vecSteps(
			vAt("a", 1000, ins(0, "[]"), "a0"),
			vDeliver("a0", "b"),
			vType("a", 1001, 1, "Hello", false, "a"),
			vType("b", 1001, 1, "World", true, "b"),
			vDeliverAll(vDeltas("b", 5), "a"),
			vDeliverAll(vDeltas("a", 5), "b"),
		),
		want: vSame(`"[HelloWorld]"`, "ab"), converged: "ab",
	}, {
		name: "text-delete-and-concurrent-insert",
		description: "a deletes b from abc while b types X after it: the delete covers only what a saw, X is placed " +
			"after the deleted b, and the deleted b keeps its place but not its character.",
		replicas: "abc",
		steps: vecSteps(
			vAt("a", 1000, ins(0, "abc"), "a1"),
			vDeliver("a1", "bc"),
			vAt("a", 1001, del(1, 1), "a2"),
			vAt("b", 1001, ins(2, "X"), "b1"),
			vDeliver("a2", "bc"), vDeliver("b1", "ac"),
		),
		want: vSame(`"aXc"`, "abc"), converged: "abc",
	}, {
		name: "text-parent-arrives-late",
		description: "c receives b's X, typed into a's text, before a's text itself: X waits unseen, then appears in " +
			"its place when its parent arrives.",
		replicas: "abc",
		steps: vecSteps(
			vAt("a", 1000, ins(0, "ab"), "a1"),
			vDeliver("a1", "b"),
			vAt("b", 1001, ins(1, "X"), "b1"),
			vDeliver("b1", "c"),
			vDeliver("a1", "c"), vDeliver("b1", "a"),
		),
		want: vSame(`"aXb"`, "abc"), converged: "abc",
	}, {
		name: "text-map-field-code-points",
		description: "A text as a map field, indexed by code points: the emoji is one character. A concurrent delete " +
			"of the field removes what it saw; b's insert, unseen, survives.",
		replicas: "ab",
		steps: vecSteps(
			vAt("a", 1000, ins(0, "héllo😀", "note"), "a1"),
			vAt("a", 1001, del(5, 1, "note"), "a2"),
			vAt("a", 1002, ins(5, "!", "note"), "a3"),
			vAt("a", 1003, `{"type":"lww","op":"set","path":["title"],"value":"Plan"}`, "a4"),
			vDeliverAll("a1 a2 a3 a4", "b"),
			vAt("a", 1004, `{"type":"map","op":"delete","path":["note"]}`, "a5"),
			vAt("b", 1004, ins(6, "?", "note"), "b1"),
			vDeliver("a5", "b"), vDeliver("b1", "a"),
		),
		want: vSame(`{"note":"?","title":"Plan"}`, "ab"), converged: "ab",
	}, {
		name: "text-blocks-and-range-delete",
		description: "A 300-character insert spans two blocks (sequences 1-256 and 257-300); a delete across the " +
			"boundary leaves a deleted piece in each.",
		replicas: "ab",
		steps: vecSteps(
			vAt("a", 1000, ins(0, strings.Repeat("0123456789", 30)), "a1"),
			vDeliver("a1", "b"),
			vAt("b", 1001, del(250, 10), "b1"),
			vAt("a", 1001, ins(300, "!"), "a2"),
			vDeliver("b1", "a"), vDeliver("a2", "b"),
		),
		want:      vSame(fmt.Sprintf("%q", strings.Repeat("0123456789", 25)+strings.Repeat("0123456789", 5)[10:]+"!"), "ab"),
		converged: "ab",
	}, {
		name:        "text-invalid-ops",
		description: "Text operations that fail and change nothing: positions beyond the end, empty or non-string inserts, a zero count, a missing index, an op text lacks, and another type on a text.",
		replicas:    "a",
		steps: vecSteps(
			vAt("a", 1000, ins(0, "abc"), "a1"),
			vFail("a", 1001, ins(4, "x"), "invalid"),
			vFail("a", 1001, del(2, 2), "invalid"),
			vFail("a", 1001, `{"type":"text","op":"insert","index":0,"value":""}`, "invalid"),
			vFail("a", 1001, `{"type":"text","op":"insert","index":0,"value":7}`, "invalid"),
			vFail("a", 1001, `{"type":"text","op":"insert","index":-1,"value":"x"}`, "invalid"),
			vFail("a", 1001, `{"type":"text","op":"insert","value":"x"}`, "invalid"),
			vFail("a", 1001, `{"type":"text","op":"delete","index":0,"count":0}`, "invalid"),
			vFail("a", 1001, `{"type":"text","op":"insert","index":0.5,"value":"x"}`, "invalid"),
			vFail("a", 1001, `{"type":"text","op":"set","index":0,"value":"x"}`, "invalid_op"),
			vFail("a", 1001, `{"type":"lww","op":"set","value":"x"}`, "wrong_type"),
		),
		want: vSame(`"abc"`, "a"),
	}}
}
