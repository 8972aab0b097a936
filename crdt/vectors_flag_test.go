package crdt_test

// Flag vectors: enable-wins flags under concurrent enable and disable.

func vecFlagScenarios() []vecScenario {
	return []vecScenario{{
		name:        "flag-enable-wins",
		description: "b disables while c concurrently enables: enable wins, because b's disable did not see c's enable.",
		replicas:    "abcd",
		steps: vecSteps(
			vAt("a", 1000, opEnable, "a1"),
			vDeliver("a1", "bcd"),
			vAt("b", 1001, opDisable, "b1"),
			vAt("c", 1001, opEnable, "c1"),
			vDeliverAll("b1 c1", "ad"), vDeliver("c1", "b"), vDeliver("b1", "c"),
		),
		want: vSame(`true`, "abcd"), converged: "abcd",
	}, {
		name:        "flag-disable-observed",
		description: "A disable that has seen every enable turns the flag off everywhere; the flag then reads false.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, opEnable, "a1"),
			vAt("b", 1000, opEnable, "b1"),
			vDeliver("a1", "b"),
			vAt("b", 1001, opDisable, "b2"),
			vDeliverAll("b2 b1", "a"), vDeliverAll("b2 a1 b1", "c"),
		),
		want: vSame(`false`, "abc"), converged: "abc",
	}, {
		name:        "flag-concurrent-disables",
		description: "Two replicas disable concurrently after seeing the enable: the flag is off.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, opEnable, "a1"),
			vDeliver("a1", "bc"),
			vAt("b", 1001, opDisable, "b1"),
			vAt("c", 1001, opDisable, "c1"),
			vDeliverAll("b1 c1", "a"), vDeliver("c1", "b"), vDeliver("b1", "c"),
		),
		want: vSame(`false`, "abc"), converged: "abc",
	}, {
		name:        "flag-disable-never-enabled",
		description: "Disabling a flag nobody enabled is a no-op that makes the key a flag; b's concurrent enable stands.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, opDisable, "a1"),
			vAt("b", 1000, opEnable, "b1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ac"),
		),
		want: vSame(`true`, "abc"), converged: "abc",
	}}
}
