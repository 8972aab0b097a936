package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	lattice "github.com/lattice-sync/lattice/clients/go"
	"github.com/lattice-sync/lattice/internal/testkit"
)

// binaryWriters are Go clients speaking the compact binary form (hello
// "binary2": multi-item frames, a per-session replica table) that increment
// counters on one node, so that a kill test covers the WebSocket write
// path as well as REST. Each increment is recorded in the history as
// acknowledged only once Sync saw a node acknowledge it (and every delta
// before it); an increment whose Sync failed is indeterminate, since the
// client joins it into its next pending delta.
type binaryWriters struct {
	stop    atomic.Bool
	wg      sync.WaitGroup
	clients []*lattice.Client
}

// startBinaryWriters opens n in-memory binary clients of node and starts
// one goroutine per client; writer numbers start at first, and writer i
// draws keys and amounts from its own generator seeded from seed and i.
func startBinaryWriters(ctx context.Context, seed int64, n, first int, h *history, node *testkit.Proc, keys []string) (*binaryWriters, error) {
	bw := &binaryWriters{}
	for i := range n {
		c, err := lattice.Open(&lattice.Options{URLs: node.URL("/v1/ws"), Binary: true, BackoffInitialMillis: 50, BackoffMaxMillis: 500})
		if err != nil {
			bw.halt()
			return nil, fmt.Errorf("binary writer %d: %w", first+i, err)
		}
		bw.clients = append(bw.clients, c)
		r := testkit.Rand(seed, uint64(1000+first+i))
		bw.wg.Go(func() {
			for !bw.stop.Load() && ctx.Err() == nil {
				key, by := keys[r.IntN(len(keys))], 1+r.Int64N(5)
				op := testkit.Op{Process: first + i, Node: node.Name, Field: key, Kind: testkit.Inc, By: by}
				_ = h.Do(op, func() (testkit.Outcome, error) {
					if err := c.Inc(key, "", by); err != nil {
						return testkit.Fail, err
					}
					if err := c.Sync(10_000); err != nil {
						return testkit.Info, err
					}
					return testkit.OK, nil
				})
			}
		})
	}
	return bw, nil
}

// binaryAcked counts the acknowledged writes of binary writers (numbered
// from 100 in the kill tests) in ops.
func binaryAcked(ops []testkit.Op) int {
	n := 0
	for _, o := range ops {
		if o.Process >= 100 && o.Outcome == testkit.OK {
			n++
		}
	}
	return n
}

// halt stops the writers and closes their clients, so that nothing they
// hold unacknowledged is sent after this (a restarted node must show only
// what it acknowledged before the kill, plus what was in flight).
func (bw *binaryWriters) halt() {
	bw.stop.Store(true)
	for _, c := range bw.clients {
		_ = c.Close()
	}
	bw.wg.Wait()
}
