package lattice

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/node"
)

// TestWrongClusterRefused: a replica remembers the cluster id of the nodes
// it first synced with and refuses the nodes of another cluster, so that a
// directory reused against a new cluster never shows values that cluster
// does not hold, nor sends it the old cluster's state.
func TestWrongClusterRefused(t *testing.T) {
	first := newCluster(t, 1, func(c *node.Config) { c.ClusterID = "first" })
	second := newCluster(t, 1, func(c *node.Config) { c.ClusterID = "second" })
	dir := t.TempDir()

	c := openClient(t, Options{Dir: dir, URLs: first.urls(0)})
	must(t, c.Inc("votes", "", 5))
	mustSync(t, c, "with the first cluster")
	if got := c.Cluster(); got != "first" {
		t.Fatalf("Cluster() = %q, want first", got)
	}
	must(t, c.Close())

	var errs errorLog
	c = openClient(t, Options{Dir: dir, URLs: second.urls(0), OnError: &errs})
	if got := c.Cluster(); got != "first" {
		t.Fatalf("reopened: Cluster() = %q, want first (kept on disk)", got)
	}
	must(t, c.Inc("votes", "", 1)) // pending: it must not reach the second cluster
	err := c.Sync(5000)
	if !errors.Is(err, ErrWrongCluster) {
		t.Fatalf("Sync against another cluster: %v, want ErrWrongCluster", err)
	}
	eventually(t, 5*time.Second, "the refusal is reported", func() (bool, string) {
		errs.mu.Lock()
		defer errs.mu.Unlock()
		return slices.Contains(errs.errs, "wrong_cluster "), fmt.Sprint("errors so far: ", errs.errs)
	})
	if o, _ := second.nodes[0].node().Get("votes"); o.Type() != 0 {
		t.Fatalf("the second cluster got the replica's votes: %v", o.Value())
	}
	if c.Pending() != 1 {
		t.Fatalf("pending %d, want the 1 change kept for the first cluster", c.Pending())
	}
	must(t, c.Close())

	// A replica that never met a cluster id adopts the first it meets.
	fresh := openClient(t, Options{Dir: t.TempDir(), URLs: second.urls(0)})
	mustSync(t, fresh, "a new replica with the second cluster")
	if got := fresh.Cluster(); got != "second" {
		t.Fatalf("a new replica's Cluster() = %q, want second", got)
	}
}
