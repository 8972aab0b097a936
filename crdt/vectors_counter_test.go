package crdt_test

// Counter vectors: gcounter and counter increments, decrements, concurrent
// and out-of-order delivery, and the 2^53-1 bound.

func vecCounterScenarios() []vecScenario {
	return []vecScenario{{
		name:        "gcounter-increments",
		description: "Increments from two replicas add up. An inc without \"by\" adds 1.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, opGInc1, "a1"),
			vAt("a", 1001, `{"type":"gcounter","op":"inc","by":4}`, "a2"),
			vAt("b", 1000, `{"type":"gcounter","op":"inc","by":2}`, "b1"),
			vDeliverAll("a1 a2", "b"), vDeliver("b1", "a"),
		),
		want: vSame(`7`, "ab"), converged: "ab",
	}, {
		name:        "gcounter-concurrent-three",
		description: "Three replicas increment concurrently; once every delta reaches everyone they agree on the sum.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"gcounter","op":"inc","by":2}`, "a1"),
			vAt("b", 1000, `{"type":"gcounter","op":"inc","by":3}`, "b1"),
			vAt("c", 1000, `{"type":"gcounter","op":"inc","by":5}`, "c1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ca"), vDeliver("c1", "ab"),
		),
		want: vSame(`10`, "abc"), converged: "abc",
	}, {
		name: "gcounter-out-of-order",
		description: "A counter entry holds its replica's running total, so a later delta counts everything before it " +
			"and an earlier delta arriving afterwards adds nothing. b gets a's deltas 3, 1, 2; c gets 2, 3; d gets 3 and 1 only " +
			"(it keeps both entries of a, and reads the latest).",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, opGInc1, "a1"),
			vAt("a", 1001, `{"type":"gcounter","op":"inc","by":2}`, "a2"),
			vAt("a", 1002, `{"type":"gcounter","op":"inc","by":3}`, "a3"),
			vDeliverAll("a3 a1 a2", "b"),
			vDeliverAll("a2 a3", "c"),
			vDeliverAll("a3 a1", "d"),
		),
		want: vSame(`6`, "abcd"), converged: "abc",
	}, {
		name:        "counter-inc-dec",
		description: "A PN-counter goes down as well as up; an inc with a negative by is a decrement.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc","by":5}`, "a1"),
			vAt("a", 1001, `{"type":"counter","op":"dec","by":2}`, "a2"),
			vAt("b", 1000, `{"type":"counter","op":"dec","by":4}`, "b1"),
			vAt("b", 1001, `{"type":"counter","op":"inc","by":-1}`, "b2"),
			vDeliverAll("a1 a2", "bc"), vDeliverAll("b1 b2", "ac"),
		),
		want: vSame(`-2`, "abc"), converged: "abc",
	}, {
		name: "counter-out-of-order-concurrent",
		description: "Two writers, deltas delivered in every order: c gets each writer's later delta first, d skips a's " +
			"first delta altogether (the second carries its total). All agree on (10-3)+(-1+4).",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc","by":10}`, "a1"),
			vAt("a", 1001, `{"type":"counter","op":"dec","by":3}`, "a2"),
			vAt("b", 1000, `{"type":"counter","op":"dec","by":1}`, "b1"),
			vAt("b", 1001, `{"type":"counter","op":"inc","by":4}`, "b2"),
			vDeliverAll("a2 b2 a1 b1", "c"),
			vDeliverAll("b2 a2", "d"),
			vDeliverAll("b1 b2", "a"), vDeliverAll("a1 a2", "b"),
		),
		want: vSame(`10`, "abcd"), converged: "abcd",
	}, {
		name:        "counter-duplicate-delivery",
		description: "Delivering a delta again is harmless: each is counted once however often it arrives.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc","by":3}`, "a1"),
			vDeliverAll("a1 a1 a1", "b"),
			vAt("a", 1001, `{"type":"counter","op":"inc","by":2}`, "a2"),
			vDeliverAll("a2 a2 a1 a2", "bc"),
			vAt("c", 1002, `{"type":"counter","op":"dec","by":1}`, "c1"),
			vDeliverAll("c1 c1", "ab"),
		),
		want: vSame(`4`, "abc"), converged: "abc",
	}, {
		name: "counter-gap-then-sync",
		description: "b misses a's second and fourth deltas, c gets nothing; a full-state sync from a repairs both. " +
			"d got the first and third only and is never repaired: it reads the third delta's running total.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc"}`, "a1"),
			vAt("a", 1001, `{"type":"counter","op":"inc"}`, "a2"),
			vAt("a", 1002, `{"type":"counter","op":"inc"}`, "a3"),
			vAt("a", 1003, `{"type":"counter","op":"dec","by":5}`, "a4"),
			vDeliverAll("a1 a3", "bd"),
			vAt("b", 1004, `{"type":"counter","op":"inc","by":10}`, "b1"),
			vDeliver("b1", "a"),
			vSync("a", "bc"),
		),
		want:      map[string]string{"a": `8`, "b": `8`, "c": `8`, "d": `3`},
		converged: "abc",
	}, {
		name:        "counter-inc-zero",
		description: "Incrementing by 0 counts nothing, but it is the key's first write, so it makes the key a counter that reads 0.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc","by":0}`, "a1"),
			vDeliver("a1", "b"),
			vFail("b", 1001, opSetAddX, "wrong_type"),
		),
		want: vSame(`0`, "ab"), converged: "ab",
	}}
}

// vecRangeScenarios come last so that the files before them keep their
// numbers.
func vecRangeScenarios() []vecScenario {
	return []vecScenario{{
		name:        "counter-sum-overflow-refused",
		description: "Each replica's total within 2^53-1 is not enough: the sum over replicas may not pass it either, so no implementation's value wraps.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc","by":9007199254740990}`, "a1"),
			vDeliver("a1", "b"),
			vFail("b", 1001, `{"type":"counter","op":"inc","by":2}`, "out_of_range"),
			vAt("b", 1002, `{"type":"counter","op":"inc","by":1}`, "b1"),
			vFail("b", 1003, `{"type":"counter","op":"inc","by":1}`, "out_of_range"),
			vAt("b", 1004, `{"type":"counter","op":"dec","by":5}`, "b2"),
			vDeliverAll("b1 b2", "a"),
		),
		want: vSame(`9007199254740986`, "ab"), converged: "ab",
	}}
}
