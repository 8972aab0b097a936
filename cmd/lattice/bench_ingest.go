package main

// Scenario 1, durable ingest: acknowledged client writes per second through
// the whole path (WebSocket in, join, Badger with group commit and sync on,
// ack), against raw Badger transactions of 100 entries with sync on.

import (
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/node"
)

func benchIngest(env *benchEnv) ([]row, error) {
	var frameBytes int
	lattice := func() (float64, error) {
		rate, fb, err := ingestLattice(env)
		frameBytes = fb
		return rate, err
	}
	base := func() (float64, error) { return ingestBadger(env, frameBytes) }
	l, b, err := repeat(env, lattice, base)
	if err != nil {
		return nil, err
	}
	return []row{{
		Metric: "acknowledged writes per second, sync on", Lattice: l, Base: b, Unit: "/s",
		BaseName: "raw Badger, txns of 100, sync on", Target: ">= 0.7",
		Note: fmt.Sprintf("Lattice: %s map sets (binary client deltas, each client writing its own key) from %d WebSocket clients pipelining up to 64 each, into one node with the defaults (SyncWrites, MaxBatch 512), timed from the first send to the last ack. Baseline: the same number of entries (key 21 B, value %d B, the size of a client frame) written by one goroutine in Badger transactions of 100 with SyncWrites, the node's Badger options otherwise.",
			groupThousands(int64(env.sizes.IngestWrites)), env.sizes.IngestClients, frameBytes),
	}}, nil
}

// ingestLattice returns acknowledged writes per second and the mean
// client frame size.
func ingestLattice(env *benchEnv) (float64, int, error) {
	bn, err := startBenchNode(env.nodeConfig("ingest"), nil)
	if err != nil {
		return 0, 0, err
	}
	defer bn.close()
	nc := env.sizes.IngestClients
	per := env.sizes.IngestWrites / nc
	clients := make([]*wsClient, nc)
	frames := make([][][]byte, nc)
	var clk clientClock
	total := 0
	for i := range clients {
		c, err := dialClient(bn.url, true, true, nil)
		if err != nil {
			return 0, 0, err
		}
		defer c.close()
		clients[i] = c
		key := fmt.Sprintf("ingest/%03d", i)
		for k := 0; k < per; k++ {
			f, err := c.setFrame(uint64(k+1), key, fmt.Sprintf("f%d", k%100), int64(k), clk.now())
			if err != nil {
				return 0, 0, err
			}
			frames[i] = append(frames[i], f)
			total += len(f)
		}
	}
	const window = 64
	var wg sync.WaitGroup
	errs := make(chan error, nc)
	start := time.Now()
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent, acked := 0, 0
			for acked < per {
				for sent < per && sent-acked < window {
					if err := c.send(websocket.BinaryMessage, frames[i][sent]); err != nil {
						errs <- err
						return
					}
					sent++
				}
				select {
				case <-c.ackCh:
					acked++
				case <-time.After(30 * time.Second):
					errs <- fmt.Errorf("client %d: no ack after %d of %d (errors %d)", i, acked, per, c.errs.Load())
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	n := per * nc
	if commits := counterValue(bn.n, "lattice_commits_total"); commits > 0 {
		fmt.Fprintf(env.out, "     lattice: %d writes in %.2f s, %.0f commits, %.1f writes per commit\n", n, el.Seconds(), commits, float64(n)/commits)
	}
	return float64(n) / el.Seconds(), total / n, nil
}

// counterValue reads one of a node's unlabelled counters.
func counterValue(n *node.Node, name string) float64 {
	mfs, err := n.Metrics().Registry().Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// ingestBadger writes as many entries in transactions of 100, sync on.
func ingestBadger(env *benchEnv, valueSize int) (float64, error) {
	dir := filepath.Join(env.dir, fmt.Sprintf("badger-%d", time.Now().UnixNano()))
	db, err := badger.Open(badger.DefaultOptions(dir).WithSyncWrites(true).WithLogger(nil).WithNumVersionsToKeep(1))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	n := env.sizes.IngestWrites / env.sizes.IngestClients * env.sizes.IngestClients
	val := make([]byte, max(valueSize, 1))
	for i := range val {
		val[i] = byte(i)
	}
	start := time.Now()
	for i := 0; i < n; i += 100 {
		txn := db.NewTransaction(true)
		for j := i; j < min(i+100, n); j++ {
			if err := txn.Set(fmt.Appendf(nil, "ingest/%03d/%010d", j%100, j), val); err != nil {
				txn.Discard()
				return 0, err
			}
		}
		if err := txn.Commit(); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
