package lattice

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
)

type errorLog struct {
	mu   sync.Mutex
	errs []string
}

func (l *errorLog) OnError(code, message, key string) {
	l.mu.Lock()
	l.errs = append(l.errs, code+" "+key)
	l.mu.Unlock()
}

// TestRefusedDeltaLeavesPending: an offline edit that turns out to be of
// the wrong type for what the cluster holds is refused by the node; the
// client drops it from the pending list, reports it with its key, and
// still syncs everything else.
func TestRefusedDeltaLeavesPending(t *testing.T) {
	cl := newCluster(t, 1, nil)
	if _, err := cl.nodes[0].node().Apply(context.Background(), "typed", crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("x")}); err != nil {
		t.Fatal(err)
	}
	var errs errorLog
	c := openClient(t, Options{URLs: cl.urls(0), Offline: true, OnError: &errs})
	must(t, c.Inc("typed", "", 1)) // this replica knows nothing of "typed" yet
	must(t, c.Inc("fine", "", 1))
	c.SetOffline(false)
	mustSync(t, c, "after the refusal")
	eventually(t, 5*time.Second, "the refusal is reported", func() (bool, string) {
		errs.mu.Lock()
		defer errs.mu.Unlock()
		return slices.Contains(errs.errs, "wrong_type typed"), fmt.Sprint("errors so far: ", errs.errs)
	})
	if o, _ := cl.nodes[0].node().Get("fine"); o.Value() != int64(1) {
		t.Errorf("fine = %v on the node", o.Value())
	}
}
