package crdt_test

// Set vectors: observed-remove add and remove, concurrent and early removes.

func vecSetScenarios() []vecScenario {
	return []vecScenario{{
		name:        "set-add-remove",
		description: "Sequential adds and a remove at one replica, replayed at another.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("a", 1001, `{"type":"set","op":"add","value":"y"}`, "a2"),
			vAt("a", 1002, opSetRmX, "a3"),
			vDeliverAll("a1 a2 a3", "b"),
		),
		want: vSame(`["y"]`, "ab"), converged: "ab",
	}, {
		name: "set-concurrent-add-remove",
		description: "Add wins: b removes x while c concurrently adds x again. b's remove covers only the add it saw, " +
			"so c's add survives everywhere.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vDeliver("a1", "bcd"),
			vAt("b", 1001, opSetRmX, "b1"),
			vAt("c", 1001, opSetAddX, "c1"),
			vDeliver("b1", "acd"), vDeliver("c1", "abd"),
		),
		want: vSame(`["x"]`, "abcd"), converged: "abcd",
	}, {
		name: "set-remove-before-add-arrives",
		description: "b removes x before a's add of x reaches it: the remove observed nothing, so it is a no-op and the " +
			"add, arriving later, stands. Delivering the no-op delta changes nothing either.",
		replicas: "abc",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("b", 1001, opSetRmX, "b1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ac"),
		),
		want: vSame(`["x"]`, "abc"), converged: "abc",
	}, {
		name:        "set-observed-remove",
		description: "A remove that has seen the add removes it everywhere, whatever the order deltas arrive in at c.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vDeliver("a1", "b"),
			vAt("b", 1001, opSetRmX, "b1"),
			vDeliver("b1", "ac"), vDeliver("a1", "c"),
		),
		want: vSame(`[]`, "abc"), converged: "abc",
	}, {
		name:        "set-concurrent-removes",
		description: "Two replicas remove the same element concurrently; it is gone once, with no tombstone left in the leaves.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("a", 1001, `{"type":"set","op":"add","value":"y"}`, "a2"),
			vDeliverAll("a1 a2", "bc"),
			vAt("b", 1002, opSetRmX, "b1"),
			vAt("c", 1002, opSetRmX, "c1"),
			vDeliverAll("b1 c1", "a"), vDeliver("c1", "b"), vDeliver("b1", "c"),
		),
		want: vSame(`["y"]`, "abc"), converged: "abc",
	}, {
		name: "set-concurrent-adds-partial-remove",
		description: "a and b add x concurrently; c sees only a's add and removes x. b's add was not observed, so x stays, " +
			"held by b's dot alone.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("b", 1000, opSetAddX, "b1"),
			vDeliver("a1", "c"),
			vAt("c", 1001, opSetRmX, "c1"),
			vDeliverAll("c1 a1 b1", "d"), vDeliverAll("b1 c1", "a"), vDeliverAll("a1 c1", "b"), vDeliver("b1", "c"),
		),
		want: vSame(`["x"]`, "abcd"), converged: "abcd",
	}, {
		name: "set-scalar-kinds",
		description: "Elements of every scalar kind. 1 and 1.0 are one element. The set reads in canonical order, the " +
			"order of the elements' binary encodings: null, false, true, other integers (by zigzag varint bytes), floats (by " +
			"IEEE bits), strings (by length, then bytes), then the integers 0..127 (one-byte form).",
		replicas: "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"set","op":"add","value":"say \"hi\""}`, "s1"),
			vAt("a", 1000, `{"type":"set","op":"add","value":1}`, "s2"),
			vAt("a", 1000, `{"type":"set","op":"add","value":1.0}`, "s3"),
			vAt("a", 1000, `{"type":"set","op":"add","value":-100}`, "s4"),
			vAt("a", 1000, `{"type":"set","op":"add","value":128}`, "s5"),
			vAt("a", 1000, `{"type":"set","op":"add","value":-1}`, "s6"),
			vAt("a", 1000, `{"type":"set","op":"add","value":127}`, "s7"),
			vAt("a", 1000, `{"type":"set","op":"add","value":0}`, "s8"),
			vAt("a", 1000, `{"type":"set","op":"add","value":0.1}`, "s9"),
			vAt("a", 1000, `{"type":"set","op":"add","value":1e21}`, "s10"),
			vAt("a", 1000, `{"type":"set","op":"add","value":1.5e-7}`, "s11"),
			vAt("a", 1000, `{"type":"set","op":"add","value":""}`, "s12"),
			vAt("a", 1000, `{"type":"set","op":"add","value":"\u2028"}`, "s13"),
			vAt("a", 1000, `{"type":"set","op":"add","value":"é"}`, "s14"),
			vAt("a", 1000, `{"type":"set","op":"add","value":"x"}`, "s15"),
			vAt("a", 1000, `{"type":"set","op":"add","value":true}`, "s16"),
			vAt("a", 1000, `{"type":"set","op":"add","value":false}`, "s17"),
			vAt("a", 1000, `{"type":"set","op":"add","value":null}`, "s18"),
			vAt("a", 1000, `{"type":"set","op":"add","value":"</script>"}`, "s19"),
			vDeliverAll("s19 s18 s17 s16 s15 s14 s13 s12 s11 s10 s9 s8 s7 s6 s5 s4 s3 s2 s1", "b"),
		),
		want:      vSame(`[null,false,true,-1,128,-100,1.5e-7,0.1,1e21,"","x","é","\u2028","say \"hi\"","</script>",0,1,127]`, "ab"),
		converged: "ab",
	}, {
		name: "set-duplicates-and-gaps",
		description: "a adds x, adds y, removes x, adds z. b gets the fourth delta twice and the first; c gets only the " +
			"remove, and then the add it removes, which it must not resurrect. A sync from a repairs b and c. d got the " +
			"first and fourth deltas only and is never repaired.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("a", 1001, `{"type":"set","op":"add","value":"y"}`, "a2"),
			vAt("a", 1002, opSetRmX, "a3"),
			vAt("a", 1003, `{"type":"set","op":"add","value":"z"}`, "a4"),
			vDeliverAll("a4 a4 a1", "b"),
			vDeliverAll("a3 a1", "c"),
			vDeliverAll("a1 a4", "d"),
			vSync("a", "bc"),
		),
		want:      map[string]string{"a": `["y","z"]`, "b": `["y","z"]`, "c": `["y","z"]`, "d": `["x","z"]`},
		converged: "abc",
	}, {
		name:        "set-partition-sync-both-ways",
		description: "Two replicas edit offline, then exchange full states both ways and agree.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, ""),
			vAt("a", 1001, `{"type":"set","op":"add","value":"y"}`, ""),
			vSync("a", "b"),
			vAt("a", 1002, opSetRmX, ""),
			vAt("b", 1002, `{"type":"set","op":"remove","value":"y"}`, ""),
			vAt("b", 1003, `{"type":"set","op":"add","value":"z"}`, ""),
			vSync("a", "b"), vSync("b", "a"),
		),
		want: vSame(`["z"]`, "ab"), converged: "ab",
	}, {
		name:        "set-readd-after-remove",
		description: "An element removed and added again is present: the new add has a dot the remove never saw.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("a", 1001, opSetRmX, "a2"),
			vAt("a", 1002, opSetAddX, "a3"),
			vDeliverAll("a3 a2 a1", "b"), vDeliverAll("a1 a2", "c"),
		),
		want:      map[string]string{"a": `["x"]`, "b": `["x"]`, "c": `[]`},
		converged: "ab",
	}, {
		name: "set-remove-absent-noop",
		description: "Removing an element that is not there changes nothing but the type: c's remove on an empty key " +
			"makes it a set that reads [], and its delta leaves a's x alone.",
		replicas: "abc",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("a", 1001, `{"type":"set","op":"remove","value":"y"}`, "a2"),
			vAt("c", 1000, opSetRmX, "c1"),
			vDeliverAll("a1 a2", "b"),
			vDeliver("c1", "ab"),
		),
		want: map[string]string{"a": `["x"]`, "b": `["x"]`, "c": `[]`}, converged: "ab",
	}}
}
