package crdt_test

// Failure vectors: wrong-type and invalid operations, which every
// implementation refuses with the same error code, the state unchanged.

func vecFailureScenarios() []vecScenario {
	return []vecScenario{{
		name:        "wrong-type-root",
		description: "A key is fixed to the type of its first write: operations of other types fail and change nothing.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc"}`, "a1"),
			vFail("a", 1001, opSetAddX, "wrong_type"),
			vFail("a", 1001, `{"type":"lww","op":"set","value":1}`, "wrong_type"),
			vFail("a", 1001, `{"type":"gcounter","op":"inc"}`, "wrong_type"),
			vFail("a", 1001, `{"type":"lww","op":"set","path":["f"],"value":1}`, "wrong_type"),
			vDeliver("a1", "b"),
			vFail("b", 1001, `{"type":"map","op":"delete","path":["f"]}`, "wrong_type"),
		),
		want: vSame(`1`, "ab"), converged: "ab",
	}, {
		name:        "wrong-type-field",
		description: "A map field keeps its type: a counter op on a register field, or using it as a map, fails.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["title"],"value":"Plan"}`, "a1"),
			vFail("a", 1001, `{"type":"counter","op":"inc","path":["title"]}`, "wrong_type"),
			vFail("a", 1001, `{"type":"set","op":"add","path":["title","x"],"value":1}`, "wrong_type"),
			vDeliver("a1", "b"),
			vFail("b", 1001, `{"type":"flag","op":"enable","path":["title"]}`, "wrong_type"),
		),
		want: vSame(`{"title":"Plan"}`, "ab"), converged: "ab",
	}, {
		name: "wrong-type-after-remove",
		description: "Removing every element leaves no leaves but the key stays a set: it reads [] and refuses " +
			"other types.",
		replicas: "ab",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("a", 1001, opSetRmX, "a2"),
			vFail("a", 1002, `{"type":"counter","op":"inc"}`, "wrong_type"),
			vDeliverAll("a2 a1", "b"),
			vFail("b", 1002, opEnable, "wrong_type"),
		),
		want: vSame(`[]`, "ab"), converged: "ab",
	}, {
		name: "invalid-ops",
		description: "Operations a type does not have (invalid_op) or malformed ones (invalid) fail before touching " +
			"state, whether decoding or applying them finds the fault.",
		replicas: "a",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","value":"keep"}`, ""),
			vFail("a", 1001, `{"type":"lww","op":"inc"}`, "invalid_op"),
			vFail("a", 1001, `{"type":"lww","op":"explode","value":1}`, "invalid_op"),
			vFail("a", 1001, `{"type":"gcounter","op":"dec","by":1}`, "invalid_op"),
			vFail("a", 1001, `{"type":"gcounter","op":"inc","by":-1}`, "invalid_op"),
			vFail("a", 1001, `{"type":"map","op":"delete"}`, "invalid_op"),
			vFail("a", 1001, `{"type":"map","op":"set","path":["x"],"value":1}`, "invalid_op"),
			vFail("a", 1001, `{"type":"widget","op":"set","value":1}`, "invalid"),
			vFail("a", 1001, `{"type":"lww","op":"set"}`, "invalid"),
			vFail("a", 1001, `{"type":"lww","op":"set","value":[1]}`, "invalid"),
			vFail("a", 1001, `{"type":"counter","op":"inc","by":9007199254740992}`, "invalid"),
			vFail("a", 1001, `{"type":"counter","op":"inc","by":1.5}`, "invalid"),
		),
		want: vSame(`"keep"`, "a"),
	}, {
		name:        "counter-overflow-refused",
		description: "A counter's running total may not pass 2^53-1, the largest integer every client reads exactly.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc","by":9007199254740990}`, "a1"),
			vFail("a", 1001, `{"type":"counter","op":"inc","by":2}`, "out_of_range"),
			vAt("a", 1002, `{"type":"counter","op":"inc","by":1}`, "a2"),
			vDeliverAll("a2 a1", "b"),
		),
		want: vSame(`9007199254740991`, "ab"), converged: "ab",
	}}
}
