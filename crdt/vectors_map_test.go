package crdt_test

// Map vectors: fields of several types, nested maps, deletes against
// concurrent updates, and field type conflicts.

func vecMapScenarios() []vecScenario {
	return []vecScenario{{
		name:        "map-fields",
		description: "Three replicas write three fields of different types; the map holds all of them.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["title"],"value":"Plan"}`, "a1"),
			vAt("b", 1000, `{"type":"counter","op":"inc","path":["views"],"by":3}`, "b1"),
			vAt("c", 1000, `{"type":"set","op":"add","path":["tags"],"value":"urgent"}`, "c1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ca"), vDeliver("c1", "ab"),
		),
		want: vSame(`{"title":"Plan","views":3,"tags":["urgent"]}`, "abc"), converged: "abc",
	}, {
		name:        "map-nested-maps",
		description: "Maps in maps, four levels deep, with every leaf type under them.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["cards","c1","title"],"value":"Write spec"}`, "a1"),
			vAt("a", 1001, `{"type":"set","op":"add","path":["cards","c1","tags"],"value":"urgent"}`, "a2"),
			vAt("b", 1000, `{"type":"flag","op":"enable","path":["cards","c2","done"]}`, "b1"),
			vAt("b", 1001, `{"type":"mvreg","op":"set","path":["cards","c2","owner"],"value":"ann"}`, "b2"),
			vAt("c", 1000, `{"type":"counter","op":"dec","path":["board","lists","l1","wip"],"by":2}`, "c1"),
			vAt("c", 1001, `{"type":"gcounter","op":"inc","path":["board","views"]}`, "c2"),
			vDeliverAll("a1 a2", "bc"), vDeliverAll("b1 b2", "ca"), vDeliverAll("c1 c2", "ab"),
		),
		want: vSame(`{"cards":{"c1":{"title":"Write spec","tags":["urgent"]},"c2":{"done":true,"owner":["ann"]}},`+
			`"board":{"lists":{"l1":{"wip":-2}},"views":1}}`, "abc"),
		converged: "abc",
	}, {
		name: "map-delete-vs-concurrent-update",
		description: "b deletes card c1 while c concurrently retitles it. The update wins, so c1 survives, but only with " +
			"what b's delete did not see: the old title, tags and votes are gone, the new title stays.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["cards","c1","title"],"value":"Old"}`, "a1"),
			vAt("a", 1001, `{"type":"set","op":"add","path":["cards","c1","tags"],"value":"urgent"}`, "a2"),
			vAt("a", 1002, `{"type":"counter","op":"inc","path":["cards","c1","votes"],"by":2}`, "a3"),
			vAt("a", 1003, `{"type":"lww","op":"set","path":["cards","c2","title"],"value":"Other"}`, "a4"),
			vDeliverAll("a1 a2 a3 a4", "bcd"),
			vAt("b", 1100, `{"type":"map","op":"delete","path":["cards","c1"]}`, "b1"),
			vAt("c", 1100, `{"type":"lww","op":"set","path":["cards","c1","title"],"value":"New"}`, "c1"),
			vDeliverAll("b1 c1", "a"), vDeliver("c1", "b"), vDeliver("b1", "c"), vDeliverAll("c1 b1", "d"),
		),
		want:      vSame(`{"cards":{"c1":{"title":"New"},"c2":{"title":"Other"}}}`, "abcd"),
		converged: "abcd",
	}, {
		name: "map-delete-parent-vs-deep-update",
		description: "b deletes a whole subtree while c sets a flag deep inside it: only the flag, and the maps leading " +
			"to it, remain.",
		replicas: "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["lists","l1","cards","c1","title"],"value":"T"}`, "a1"),
			vAt("a", 1001, `{"type":"lww","op":"set","path":["lists","l2","name"],"value":"Done"}`, "a2"),
			vAt("a", 1002, `{"type":"lww","op":"set","path":["name"],"value":"Board"}`, "a3"),
			vDeliverAll("a1 a2 a3", "bc"),
			vAt("b", 1100, `{"type":"map","op":"delete","path":["lists"]}`, "b1"),
			vAt("c", 1100, `{"type":"flag","op":"enable","path":["lists","l1","cards","c1","done"]}`, "c1"),
			vDeliverAll("b1 c1", "a"), vDeliver("c1", "b"), vDeliver("b1", "c"),
		),
		want:      vSame(`{"lists":{"l1":{"cards":{"c1":{"done":true}}}},"name":"Board"}`, "abc"),
		converged: "abc",
	}, {
		name:        "map-delete-then-recreate",
		description: "A deleted field can be created again, even with another type; a replica that only syncs sees the end.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["x"],"value":"text"}`, "a1"),
			vAt("a", 1001, `{"type":"map","op":"delete","path":["x"]}`, "a2"),
			vAt("a", 1002, `{"type":"counter","op":"inc","path":["x"],"by":7}`, "a3"),
			vDeliverAll("a1 a2 a3", "b"),
			vSync("a", "c"),
		),
		want: vSame(`{"x":7}`, "abc"), converged: "abc",
	}, {
		name: "map-field-type-conflict",
		description: "a makes field x a register while b concurrently makes it a counter. Both are kept, and the field " +
			"reads as the lower type number (counter 2 < lww 5). Either side may go on writing its own type; a third " +
			"type is refused.",
		replicas: "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["x"],"value":"text"}`, "a1"),
			vAt("b", 1000, `{"type":"counter","op":"inc","path":["x"]}`, "b1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ca"),
			vAt("a", 1001, `{"type":"lww","op":"set","path":["x"],"value":"again"}`, "a2"),
			vAt("b", 1001, `{"type":"counter","op":"inc","path":["x"]}`, "b2"),
			vDeliver("a2", "bc"), vDeliver("b2", "ca"),
			vFail("c", 1002, `{"type":"flag","op":"enable","path":["x"]}`, "wrong_type"),
		),
		want: vSame(`{"x":2}`, "abc"), converged: "abc",
	}, {
		name:        "map-field-type-conflict-resolved",
		description: "After a type conflict on field x, a delete removes both versions and a new write starts afresh.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["x"],"value":"text"}`, "a1"),
			vAt("b", 1000, `{"type":"counter","op":"inc","path":["x"]}`, "b1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ca"),
			vAt("c", 1001, `{"type":"map","op":"delete","path":["x"]}`, "c1"),
			vAt("c", 1002, `{"type":"lww","op":"set","path":["x"],"value":"resolved"}`, "c2"),
			vDeliverAll("c1 c2", "ab"),
		),
		want: vSame(`{"x":"resolved"}`, "abc"), converged: "abc",
	}, {
		name: "root-type-conflict",
		description: "Two replicas create the key concurrently with different types: both states are kept, the key " +
			"reads as the lower type number (counter 2 < set 3), and each side can still write its own type.",
		replicas: "abc",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("b", 1000, `{"type":"counter","op":"inc","by":2}`, "b1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ca"),
			vAt("a", 1001, `{"type":"set","op":"add","value":"y"}`, "a2"),
			vAt("b", 1001, `{"type":"counter","op":"inc"}`, "b2"),
			vDeliver("a2", "bc"), vDeliver("b2", "ca"),
			vFail("c", 1002, `{"type":"flag","op":"enable"}`, "wrong_type"),
		),
		want: vSame(`3`, "abc"), converged: "abc",
	}, {
		name:        "map-set-field-add-wins",
		description: "A set inside a map keeps add-wins semantics: b's remove of urgent loses to c's concurrent add.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"set","op":"add","path":["tags"],"value":"urgent"}`, "a1"),
			vAt("a", 1000, `{"type":"set","op":"add","path":["tags"],"value":"later"}`, "a2"),
			vDeliverAll("a1 a2", "bc"),
			vAt("b", 1001, `{"type":"set","op":"remove","path":["tags"],"value":"urgent"}`, "b1"),
			vAt("b", 1001, `{"type":"set","op":"remove","path":["tags"],"value":"later"}`, "b2"),
			vAt("c", 1001, `{"type":"set","op":"add","path":["tags"],"value":"urgent"}`, "c1"),
			vDeliverAll("b1 b2 c1", "a"), vDeliver("c1", "b"), vDeliverAll("b2 b1", "c"),
		),
		want: vSame(`{"tags":["urgent"]}`, "abc"), converged: "abc",
	}, {
		name:        "map-flag-and-mvreg-fields",
		description: "Flags and multi-value registers behave inside a map as they do at the root.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"flag","op":"enable","path":["done"]}`, "a1"),
			vAt("a", 1000, `{"type":"mvreg","op":"set","path":["owner"],"value":"ann"}`, "a2"),
			vDeliverAll("a1 a2", "bc"),
			vAt("b", 1001, `{"type":"flag","op":"disable","path":["done"]}`, "b1"),
			vAt("b", 1001, `{"type":"mvreg","op":"set","path":["owner"],"value":"bob"}`, "b2"),
			vAt("c", 1001, `{"type":"mvreg","op":"set","path":["owner"],"value":"cat"}`, "c1"),
			vDeliverAll("b1 b2 c1", "a"), vDeliver("c1", "b"), vDeliverAll("b1 b2", "c"),
		),
		want: vSame(`{"owner":["bob","cat"]}`, "abc"), converged: "abc",
	}, {
		name: "map-delete-absent-noop",
		description: "Deleting a field that does not exist changes nothing, here or where its delta goes. Deleting " +
			"below a field that is not a map is a type error.",
		replicas: "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["title"],"value":"Plan"}`, "a1"),
			vAt("a", 1001, `{"type":"map","op":"delete","path":["missing"]}`, "a2"),
			vFail("a", 1001, `{"type":"map","op":"delete","path":["title","deeper"]}`, "wrong_type"),
			vDeliverAll("a2 a1 a2", "b"),
		),
		want: vSame(`{"title":"Plan"}`, "ab"), converged: "ab",
	}, {
		name:        "map-delete-every-field",
		description: "A map whose fields are all deleted is still a map, and reads as an empty object.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["title"],"value":"Plan"}`, "a1"),
			vAt("a", 1001, `{"type":"set","op":"add","path":["m","tags"],"value":1}`, "a2"),
			vAt("a", 1002, `{"type":"map","op":"delete","path":["title"]}`, "a3"),
			vAt("a", 1003, `{"type":"map","op":"delete","path":["m"]}`, "a4"),
			vDeliverAll("a4 a3 a2 a1", "b"),
			vFail("b", 1004, `{"type":"lww","op":"set","value":"root"}`, "wrong_type"),
		),
		want: vSame(`{}`, "ab"), converged: "ab",
	}}
}
