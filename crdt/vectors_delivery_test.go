package crdt_test

// Delivery vectors: duplicated, reordered and lost deltas over a mesh, state
// sync, relayed causal chains and a replica's own delta echoed back.

func vecDeliveryScenarios() []vecScenario {
	mixed := vecSteps(
		vAt("a", 1000, `{"type":"counter","op":"inc","path":["n"],"by":2}`, "a1"),
		vAt("a", 1001, `{"type":"set","op":"add","path":["s"],"value":"x"}`, "a2"),
		vAt("b", 1000, `{"type":"lww","op":"set","path":["t"],"value":"b"}`, "b1"),
		vAt("b", 1001, `{"type":"counter","op":"dec","path":["n"]}`, "b2"),
		vAt("c", 1000, `{"type":"set","op":"add","path":["s"],"value":"y"}`, "c1"),
		vAt("c", 1002, `{"type":"lww","op":"set","path":["t"],"value":"c"}`, "c2"),
		vAt("d", 1000, `{"type":"flag","op":"enable","path":["f"]}`, "d1"),
		vAt("d", 1001, `{"type":"set","op":"remove","path":["s"],"value":"x"}`, "d2"),
	)
	return []vecScenario{{
		name: "mesh-duplicates-reordered",
		description: "Four replicas write a shared map concurrently; every delta reaches every replica twice, in a " +
			"different order at each. They converge byte for byte.",
		replicas: "abcd",
		steps: vecSteps(mixed,
			vDeliverAll("b1 c2 d1 b2 c1 d2 b1 d2", "a"),
			vDeliverAll("d2 a2 c1 a1 d1 c2 a1 a2 c1", "b"),
			vDeliverAll("a1 b2 d2 b1 a2 d1 d1 b2", "c"),
			vDeliverAll("c2 c1 b2 b1 a2 a1 a1 c1", "d"),
		),
		want: vSame(`{"n":1,"s":["x","y"],"t":"c","f":true}`, "abcd"), converged: "abcd",
	}, {
		name: "mesh-lost-deltas-sync-repairs",
		description: "The same writes, but most deltas are lost: each replica gets a few. Full-state syncs along a " +
			"chain (a to b to c to d, then back) repair everything.",
		replicas: "abcd",
		steps: vecSteps(mixed,
			vDeliverAll("c2", "a"), vDeliverAll("d2", "b"), vDeliverAll("a1 b2", "c"),
			vSync("a", "b"), vSync("b", "c"), vSync("c", "d"), vSync("d", "c"), vSync("c", "b"), vSync("b", "a"),
		),
		want: vSame(`{"n":1,"s":["x","y"],"t":"c","f":true}`, "abcd"), converged: "abcd",
	}, {
		name:        "sync-empty",
		description: "Syncing an empty replica into another changes nothing; syncing into an empty one copies the state.",
		replicas:    "abc",
		steps: vecSteps(
			vSync("c", "a"),
			vAt("a", 1000, `{"type":"lww","op":"set","value":"v"}`, ""),
			vSync("c", "a"), vSync("a", "b"),
		),
		want:      map[string]string{"a": `"v"`, "b": `"v"`, "c": `null`},
		converged: "ab",
	}, {
		name: "relay-causal-chain",
		description: "b answers a's write and c answers b's, each seeing the previous; d receives the three deltas in " +
			"reverse order and still ends where the others do.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"mvreg","op":"set","path":["m"],"value":"a"}`, "a1"),
			vDeliver("a1", "b"),
			vAt("b", 1001, `{"type":"mvreg","op":"set","path":["m"],"value":"b"}`, "b1"),
			vDeliverAll("a1 b1", "c"),
			vAt("c", 1002, `{"type":"mvreg","op":"set","path":["m"],"value":"c"}`, "c1"),
			vDeliverAll("c1 b1 a1", "d"), vDeliverAll("b1 c1", "a"), vDeliver("c1", "b"),
		),
		want: vSame(`{"m":["c"]}`, "abcd"), converged: "abcd",
	}, {
		name: "own-delta-echo",
		description: "A replica receiving its own deltas back (an echo through a peer), old and new, is unchanged, and " +
			"its next write continues its own sequence.",
		replicas: "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc","by":2}`, "a1"),
			vAt("a", 1001, `{"type":"counter","op":"inc","by":3}`, "a2"),
			vDeliverAll("a2 a1 a2", "a"),
			vAt("a", 1002, `{"type":"counter","op":"inc","by":4}`, "a3"),
			vDeliverAll("a3 a1 a2", "b"),
		),
		want: vSame(`9`, "ab"), converged: "ab",
	}}
}
