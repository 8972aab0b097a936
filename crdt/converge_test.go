package crdt_test

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/lattice-sync/lattice/crdt"
)

// drawConvergingWorld runs a history of a random type over a network that
// drops, duplicates and reorders, then delivers what is still in flight.
func drawConvergingWorld(t *rapid.T) *world {
	typ := rapid.SampledFrom(allTypes).Draw(t, "type")
	w := newWorld(t)
	w.run(t, genOp(typ, true), 4, 40)
	w.flush(t)
	return w
}

// requireConverged checks that every replica holds the same state, and
// that this state is the join of every delta ever made: nothing was lost
// and nothing was invented.
func requireConverged(t *rapid.T, w *world) {
	t.Helper()
	for i := 1; i < len(w.states); i++ {
		requireSame(t, "replica 0 and another", w.states[0], w.states[i])
	}
	all := crdt.NewObject()
	for _, ev := range w.events {
		all.Join(ev.delta)
	}
	requireSame(t, "converged state and the join of all deltas", w.states[0], all)
}

func TestConvergenceByAntiEntropy(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawConvergingWorld(t)
		w.antiEntropy(t)
		requireConverged(t, w)
	})
}

func TestConvergenceByDeltaInterval(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawConvergingWorld(t)
		w.redeliverLost(t)
		requireConverged(t, w)
	})
}

// TestDivergesWithoutRepair guards the two tests above against passing
// vacuously: the simulated network must lose enough for replicas to differ
// before the repair, in a good share of the histories.
func TestDivergesWithoutRepair(t *testing.T) {
	runs, diverged := 0, 0
	rapid.Check(t, func(t *rapid.T) {
		w := drawConvergingWorld(t)
		runs++
		for i := 1; i < len(w.states); i++ {
			if !w.states[0].Equal(w.states[i]) {
				diverged++
				return
			}
		}
	})
	if diverged*4 < runs {
		t.Fatalf("only %d of %d histories diverged before repair", diverged, runs)
	}
	t.Logf("%d of %d histories diverged before repair", diverged, runs)
}
