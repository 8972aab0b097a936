package crdt_test

import (
	"testing"

	"github.com/lattice-sync/lattice/crdt"
	"pgregory.net/rapid"
)

func TestTmpStats(t *testing.T) {
	for _, typ := range allTypes {
		n, ev, wr, leaves := 0, 0, 0, 0
		rapid.Check(t, func(rt *rapid.T) {
			w := drawHistory(rt, typ, true)
			n++
			ev += len(w.events)
			wr += w.wrong
			for _, s := range w.states {
				leaves += s.Len()
			}
		})
		t.Logf("%v: runs %d events/run %.1f wrong/run %.1f leaves/state %.1f", typ, n, float64(ev)/float64(n), float64(wr)/float64(n), float64(leaves)/float64(n)/4)
	}
	_ = crdt.Null
}
