package crdt_test

// Register vectors: last-writer-wins and multi-value registers.

func vecRegisterScenarios() []vecScenario {
	return []vecScenario{{
		name:        "lww-overwrite",
		description: "A later write replaces an earlier one, even when b receives them in reverse order.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","value":"v1"}`, "a1"),
			vAt("a", 2000, `{"type":"lww","op":"set","value":"v2"}`, "a2"),
			vDeliverAll("a2 a1", "b"),
		),
		want: vSame(`"v2"`, "ab"), converged: "ab",
	}, {
		name: "lww-clock-skew-causal",
		description: "b's wall clock is far behind (1000 against a's 10000). b has seen a's value and overwrites it: its " +
			"hybrid timestamp is bumped past a's (10000.1), so its write wins everywhere, whatever the order of arrival.",
		replicas: "abc",
		steps: vecSteps(
			vAt("a", 10000, `{"type":"lww","op":"set","value":"from a"}`, "a1"),
			vDeliver("a1", "b"),
			vAt("b", 1000, `{"type":"lww","op":"set","value":"from b"}`, "b1"),
			vDeliver("b1", "ac"), vDeliver("a1", "c"),
		),
		want: vSame(`"from b"`, "abc"), converged: "abc",
	}, {
		name: "lww-concurrent-timestamp-decides",
		description: "Concurrent writes are ordered by timestamp, not by arrival: a's write at 2000 beats b's at 1000 " +
			"at every replica.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 2000, `{"type":"lww","op":"set","value":"a"}`, "a1"),
			vAt("b", 1000, `{"type":"lww","op":"set","value":"b"}`, "b1"),
			vDeliverAll("a1 b1", "c"), vDeliverAll("b1 a1", "d"), vDeliver("b1", "a"), vDeliver("a1", "b"),
		),
		want: vSame(`"a"`, "abcd"), converged: "abcd",
	}, {
		name: "lww-tie-replica-id",
		description: "Concurrent writes with equal timestamps: the greater replica id (b over a, compared as bytes, " +
			"which is also their string order) wins everywhere.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","value":"a"}`, "a1"),
			vAt("b", 1000, `{"type":"lww","op":"set","value":"b"}`, "b1"),
			vDeliverAll("a1 b1", "c"), vDeliverAll("b1 a1", "d"), vDeliver("b1", "a"), vDeliver("a1", "b"),
		),
		want: vSame(`"b"`, "abcd"), converged: "abcd",
	}, {
		name:        "lww-tie-logical",
		description: "Equal wall times: the logical component decides before the replica id (a's 1000.5 beats b's 1000.3).",
		replicas:    "abc",
		steps: vecSteps(
			vAtL("a", 1000, 5, `{"type":"lww","op":"set","value":"a"}`, "a1"),
			vAtL("b", 1000, 3, `{"type":"lww","op":"set","value":"b"}`, "b1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ca"),
		),
		want: vSame(`"a"`, "abc"), converged: "abc",
	}, {
		name: "lww-fast-clock",
		description: "c's clock runs an hour fast. Its write races a's later (in real time) write, and being concurrent " +
			"they are ordered by timestamp, so c's wins: the known price of last-writer-wins. Once a has seen c's value " +
			"its next write is bumped past it and wins, however slow a's clock.",
		replicas: "abc",
		steps: vecSteps(
			vAt("c", 3601000, `{"type":"lww","op":"set","value":"fast"}`, "c1"),
			vAt("a", 2000, `{"type":"lww","op":"set","value":"slow"}`, "a1"),
			vDeliver("a1", "bc"), vDeliver("c1", "ab"),
			vAt("a", 2100, `{"type":"lww","op":"set","value":"fixed"}`, "a2"),
			vDeliver("a2", "bc"),
		),
		want: vSame(`"fixed"`, "abc"), converged: "abc",
	}, {
		name:        "lww-scalar-values",
		description: "Registers hold any scalar, null included; writing null is a write, not a delete.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["n"],"value":null}`, "a1"),
			vAt("a", 1000, `{"type":"lww","op":"set","path":["f"],"value":-0.5}`, "a2"),
			vAt("a", 1000, `{"type":"lww","op":"set","path":["b"],"value":false}`, "a3"),
			vAt("a", 1000, `{"type":"lww","op":"set","path":["i"],"value":9007199254740991}`, "a4"),
			vAt("a", 1000, `{"type":"lww","op":"set","path":["s"],"value":"tab\there"}`, "a5"),
			vDeliverAll("a5 a4 a3 a2 a1", "b"),
		),
		want:      vSame(`{"n":null,"f":-0.5,"b":false,"i":9007199254740991,"s":"tab\there"}`, "ab"),
		converged: "ab",
	}, {
		name: "mvreg-concurrent-kept-then-overwritten",
		description: "Concurrent writes to a multi-value register are all kept (read in canonical order); a write that " +
			"has seen them all replaces them.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"mvreg","op":"set","value":1}`, "a1"),
			vAt("b", 1000, `{"type":"mvreg","op":"set","value":2}`, "b1"),
			vDeliverAll("a1 b1", "c"),
			vAt("c", 1001, `{"type":"mvreg","op":"set","value":3}`, "c1"),
			vDeliverAll("c1 a1 b1", "d"),
			vDeliverAll("b1 c1", "a"), vDeliverAll("c1 a1", "b"),
		),
		want: vSame(`[3]`, "abcd"), converged: "abcd",
	}, {
		name:        "mvreg-concurrent-pending",
		description: "Two concurrent writes are both read, in canonical order, until someone overwrites them.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"mvreg","op":"set","value":"x"}`, "a1"),
			vAt("b", 1000, `{"type":"mvreg","op":"set","value":0.5}`, "b1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ac"),
		),
		want: vSame(`[0.5,"x"]`, "abc"), converged: "abc",
	}, {
		name:        "mvreg-same-value",
		description: "Concurrent writes of one value keep both dots but read as that value once.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"mvreg","op":"set","value":"x"}`, "a1"),
			vAt("b", 1000, `{"type":"mvreg","op":"set","value":"x"}`, "b1"),
			vDeliver("a1", "b"), vDeliver("b1", "a"),
		),
		want: vSame(`["x"]`, "ab"), converged: "ab",
	}, {
		name: "mvreg-partial-overwrite",
		description: "a overwrites the two values it has seen while d concurrently writes a third: a's write and d's are " +
			"kept, the overwritten ones are gone.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"mvreg","op":"set","value":1}`, "a1"),
			vAt("b", 1000, `{"type":"mvreg","op":"set","value":2}`, "b1"),
			vDeliver("b1", "a"),
			vAt("a", 1001, `{"type":"mvreg","op":"set","value":3}`, "a2"),
			vAt("d", 1001, `{"type":"mvreg","op":"set","value":4}`, "d1"),
			vDeliverAll("a1 b1 a2 d1", "c"), vDeliverAll("d1", "a"), vDeliverAll("a1 a2 d1", "b"), vDeliverAll("a2 b1", "d"),
		),
		want: vSame(`[3,4]`, "abcd"), converged: "abcd",
	}}
}
