package crdt_test

import (
	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
)

// Fold vectors (issue 13): a node folds a writer of a root counter into its
// fold replica (crdt.Fold), and the writer comes back having seen the fold
// or not. Every replica counts each increment once.

// vFold has replica at fold writer into at's fold replica.
func vFold(at, writer, delta string) vecStep {
	into := crdt.FoldReplica(uuid.MustParse(vecIDs[at]))
	return vecStep{At: at, Fold: writer, Into: into.String(), Delta: delta}
}

func vecFoldScenarios() []vecScenario {
	return []vecScenario{{
		name: "counter-fold-return-unseen",
		description: "Node a folds client b's entry (5) into its fold replica: b's entry becomes a base that adds nothing " +
			"and the fold replica's entry holds the 5. b never sees the fold and increments by 1, sending its running total 6: " +
			"where the base is known it adds 6-5. c gets b's return before the fold, a after it, and a gets b's first delta " +
			"again: all count 6.",
		replicas: "abc",
		steps: vecSteps(
			vAt("b", 1000, `{"type":"counter","op":"inc","by":5}`, "b1"),
			vDeliver("b1", "ac"),
			vFold("a", "b", "f1"),
			vAt("b", 1001, `{"type":"counter","op":"inc","by":1}`, "b2"),
			vDeliver("b2", "c"), vDeliver("f1", "c"),
			vDeliver("b2", "a"), vDeliver("b1", "a"),
		),
		want: vSame(`6`, "abc"), converged: "ac",
	}, {
		name: "counter-fold-return-seen",
		description: "Node a folds client b's entry (3); b receives the fold, so its copy holds its base, and increments by 2 " +
			"from it. c receives b's deltas and the fold in reverse order. All count 5 and converge.",
		replicas: "abc",
		steps: vecSteps(
			vAt("b", 1000, `{"type":"counter","op":"inc","by":3}`, "b1"),
			vDeliver("b1", "a"),
			vFold("a", "b", "f1"),
			vDeliver("f1", "b"),
			vAt("b", 1001, `{"type":"counter","op":"inc","by":2}`, "b2"),
			vDeliver("b2", "ac"), vDeliver("f1", "c"), vDeliver("b1", "c"),
			vAt("c", 1002, `{"type":"counter","op":"dec","by":1}`, "c1"),
			vDeliver("c1", "ab"),
		),
		want: vSame(`4`, "abc"), converged: "abc",
	}}
}
