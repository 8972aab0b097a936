package crdt_test

import "fmt"

// List vectors: Fugue order of elements, moves that race, delete against
// move, map elements written by index, and the op checks; the JavaScript
// client replays them to the byte.

func vecListScenarios() []vecScenario {
	ins := func(i int, v string) string {
		return fmt.Sprintf(`{"type":"list","op":"insert","index":%d,"value":%s}`, i, v)
	}
	mv := func(from, to int) string {
		return fmt.Sprintf(`{"type":"list","op":"move","from":%d,"to":%d}`, from, to)
	}
	del := func(i, n int) string {
		return fmt.Sprintf(`{"type":"list","op":"delete","index":%d,"count":%d}`, i, n)
	}
	return []vecScenario{{
		name: "list-insert-move-delete",
		description: "Inserts at the end and the start, a move to the end and back, a delete of two: the list reads " +
			"as an array would. A moved element leaves its old position behind, holding nothing.",
		replicas: "ab",
		steps: vecSteps(
			vAt("a", 1000, ins(0, `"b"`), "a1"),
			vAt("a", 1001, ins(1, `"c"`), "a2"),
			vAt("a", 1002, ins(0, `"a"`), "a3"),
			vAt("a", 1003, mv(0, 2), "a4"),
			vAt("a", 1004, mv(2, 1), "a5"),
			vAt("a", 1005, ins(3, `7`), "a6"),
			vAt("a", 1006, del(2, 1), "a7"),
			vDeliverAll("a1 a2 a3 a4 a5 a6 a7", "b"),
		),
		want: vSame(`["b","a",7]`, "ab"), converged: "ab",
	}, {
		name: "list-concurrent-moves-one-wins",
		description: "a and b move x concurrently, b later on the hybrid clock: b's move wins on both, and x shows " +
			"once. The losing entry stays until a later move of x covers it.",
		replicas: "ab",
		steps: vecSteps(
			vAt("a", 1000, ins(0, `"x"`), "a1"),
			vAt("a", 1001, ins(1, `"y"`), "a2"),
			vAt("a", 1002, ins(2, `"z"`), "a3"),
			vDeliverAll("a1 a2 a3", "b"),
			vAt("a", 1003, mv(0, 2), "a4"),
			vAt("b", 1010, mv(0, 1), "b1"),
			vDeliver("a4", "b"), vDeliver("b1", "a"),
		),
		want: vSame(`["y","x","z"]`, "ab"), converged: "ab",
	}, {
		name: "list-delete-wins-over-move",
		description: "a deletes x while b moves it: the delete covers the element's insert, and b's move entry, " +
			"which the delete did not see, places nothing. y survives; z, inserted by b after the moved x, " +
			"keeps its place.",
		replicas: "ab",
		steps: vecSteps(
			vAt("a", 1000, ins(0, `"x"`), "a1"),
			vAt("a", 1001, ins(1, `"y"`), "a2"),
			vDeliverAll("a1 a2", "b"),
			vAt("a", 1002, del(0, 1), "a3"),
			vAt("b", 1002, mv(0, 1), "b1"),
			vAt("b", 1003, ins(2, `"z"`), "b2"),
			vDeliver("a3", "b"), vDeliverAll("b1 b2", "a"),
		),
		want: vSame(`["y","z"]`, "ab"), converged: "ab",
	}, {
		name: "list-map-element-field-while-moved",
		description: "A kanban column: cards are map elements. b renames card 0 by its index while a moves it to " +
			"the end; both take effect, since the field is addressed by the element's id, not its index.",
		replicas: "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"list","op":"insert","path":["todo"],"index":0,"value":{"title":"one","n":1}}`, "a1"),
			vAt("a", 1001, `{"type":"list","op":"insert","path":["todo"],"index":1,"value":{"title":"two"}}`, "a2"),
			vDeliverAll("a1 a2", "b"),
			vAt("a", 1002, `{"type":"list","op":"move","path":["todo"],"from":0,"to":1}`, "a3"),
			vAt("b", 1002, `{"type":"lww","op":"set","path":["todo",0,"title"],"value":"ONE"}`, "b1"),
			vDeliver("a3", "b"), vDeliver("b1", "a"),
		),
		want: vSame(`{"todo":[{"title":"two"},{"n":1,"title":"ONE"}]}`, "ab"), converged: "ab",
	}, {
		name:        "list-concurrent-inserts-not-interleaved",
		description: "a and b each insert a run of three at the end concurrently: Fugue keeps each run whole.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, ins(0, `"a1"`), "a1"), vAt("a", 1001, ins(1, `"a2"`), "a2"), vAt("a", 1002, ins(2, `"a3"`), "a3"),
			vAt("b", 1000, ins(0, `"b1"`), "b1"), vAt("b", 1001, ins(1, `"b2"`), "b2"), vAt("b", 1002, ins(2, `"b3"`), "b3"),
			vDeliverAll("b1 b2 b3", "a"), vDeliverAll("a1 a2 a3", "b"),
		),
		want: vSame(`["a1","a2","a3","b1","b2","b3"]`, "ab"), converged: "ab",
	}, {
		name: "list-invalid-ops",
		description: "List operations that fail and change nothing: indexes beyond the end (out_of_range), a move " +
			"without from, a nested object value, a field of a scalar element, and another type on a list.",
		replicas: "a",
		steps: vecSteps(
			vAt("a", 1000, ins(0, `"x"`), "a1"),
			vFail("a", 1001, ins(2, `"y"`), "out_of_range"),
			vFail("a", 1001, del(0, 2), "out_of_range"),
			vFail("a", 1001, mv(0, 1), "out_of_range"),
			vFail("a", 1001, `{"type":"list","op":"move","index":0,"to":0}`, "invalid"),
			vFail("a", 1001, `{"type":"list","op":"insert","index":0,"value":{"a":{"b":1}}}`, "invalid"),
			vFail("a", 1001, `{"type":"list","op":"insert","index":0}`, "invalid"),
			vFail("a", 1001, `{"type":"lww","op":"set","path":[0,"title"],"value":"t"}`, "wrong_type"),
			vFail("a", 1001, `{"type":"list","op":"add","index":0,"value":1}`, "invalid_op"),
			vFail("a", 1001, `{"type":"text","op":"insert","index":0,"value":"x"}`, "wrong_type"),
		),
		want: vSame(`["x"]`, "a"),
	}}
}
