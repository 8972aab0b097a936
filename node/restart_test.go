// Restarts under load: a node closed and reopened mid-workload keeps what
// it acknowledged, and Apply on a closed node fails at once.

package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/testkit"
	"github.com/lattice-sync/lattice/transport"
)

// A node stopped mid-workload and reopened on its data directory restores
// its state and log position and catches up. It is cut off first, so the
// writes it acknowledged just before stopping are on its disk alone: the
// checkers then prove they survived the restart. SyncWrites is on, as in
// production: durability is the point here.
func TestRestartMidWorkload(t *testing.T) {
	seed := testSeed(t)
	start := time.Now()
	c := newTestCluster(t, 3, seed, func(_ int, cfg *Config) { cfg.SyncWrites = true })
	rng := newRand(seed, 0)
	victim := rng.IntN(3)
	name := c.names[victim]
	phases := []phase{
		{0.15, fmt.Sprintf("isolate %s", name), func() { c.isolate(name) }},
		{0.35, fmt.Sprintf("stop %s for 300ms, reopen it (still isolated)", name), func() { c.restart(victim, 300*time.Millisecond) }},
		{0.55, "lift cuts; drop 10%, duplicate 5%, reorder 5%", func() {
			c.isolate("")
			c.setFaults(transport.Faults{Drop: 0.1, Duplicate: 0.05, Reorder: 0.05})
		}},
		{0.70, fmt.Sprintf("stop %s for 200ms again, reopen it, connected", name), func() { c.restart(victim, 200*time.Millisecond) }},
	}
	ops, marks := c.workload(1200, 3, phases)
	c.healAndCheck(start, ops)
	// Writes the victim acknowledged while cut off, before its first stop,
	// were on its disk alone: the checkers above prove they came back.
	alone := 0
	for _, o := range ops {
		if o.Node == name && o.Outcome == testkit.OK && o.Inv > marks[0] && o.Ret < marks[1] {
			alone++
		}
	}
	t.Logf("%s acknowledged %d writes while cut off, before its first stop", name, alone)
	if alone == 0 {
		t.Errorf("%s acknowledged nothing while cut off: the test proved nothing about its disk", name)
	}
}

// Apply on a node that has been closed must fail with ErrClosed, not wait:
// its committer is gone, so a request queued after Close is never answered.
// (submit selects between queueing the request and the quit channel; once
// both are ready Go picks either, so about half the calls used to block
// until their context expired, forever under context.Background.)
func TestRestartApplyAfterCloseFails(t *testing.T) {
	n, err := Open(testConfig(t, "n0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	hung := 0
	for i := 0; i < 50; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := n.Apply(ctx, "c", crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1})
		cancel()
		switch {
		case errors.Is(err, ErrClosed):
		case errors.Is(err, context.DeadlineExceeded):
			hung++
		default:
			t.Fatalf("Apply after Close: %v", err)
		}
	}
	if hung > 0 {
		t.Fatalf("%d of 50 Applies after Close waited for their deadline instead of returning ErrClosed", hung)
	}
}
