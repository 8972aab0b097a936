package main

// Scenario 1, durable ingest: acknowledged client writes per second through
// the whole path (WebSocket in, join, Badger with group commit and sync on,
// ack), against raw Badger transactions of 100 entries with sync on.

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/node"
)

func benchIngest(env *benchEnv) ([]row, error) {
	var frameBytes int
	var ws, base, rest []float64
	for i := 0; i < env.reps; i++ {
		rate, fb, err := ingestLattice(env)
		if err != nil {
			return nil, err
		}
		ws, frameBytes = append(ws, rate), fb
		if rate, err = ingestBadger(env, frameBytes); err != nil {
			return nil, err
		}
		base = append(base, rate)
		if rate, err = ingestREST(env); err != nil {
			return nil, fmt.Errorf("REST: %w", err)
		}
		rest = append(rest, rate)
	}
	l := median(ws)
	nc := env.sizes.RESTClients
	return []row{{
		Metric: "acknowledged writes per second, sync on", Lattice: l, Base: median(base), Unit: "/s",
		BaseName: "raw Badger, txns of 100, sync on", Target: ">= 0.7",
		Note: fmt.Sprintf("Lattice: %s map sets (binary client deltas, each client writing its own key) from %d WebSocket clients pipelining up to 64 each, into one node with the defaults (SyncWrites, MaxBatch 512), timed from the first send to the last ack. Baseline: the same number of entries (key 21 B, value %d B, the size of a client frame) written by one goroutine in Badger transactions of 100 with SyncWrites, the node's Badger options otherwise.",
			groupThousands(int64(env.sizes.IngestWrites)), env.sizes.IngestClients, frameBytes),
	}, {
		Metric: fmt.Sprintf("REST: acknowledged writes per second, %d keep-alive clients", nc), Lattice: median(rest), Base: l, Unit: "/s",
		BaseName: "WebSocket ingest, the row above", Target: ">= 0.5",
		Note: fmt.Sprintf("%s map sets (POST /v1/objects/{key} {\"type\":\"lww\",\"op\":\"set\",\"path\":[field],\"value\":n}, each client writing its own key, one request at a time, each answered with the object's value) from %d Go HTTP/1.1 clients on keep-alive connections, into one node serving the whole API as lattice serve does (defaults, sync on), timed from the first request to the last answer; the repetitions alternate with the WebSocket ones.",
			groupThousands(int64(env.sizes.IngestWrites/nc*nc)), nc),
	}}, nil
}

// ingestREST returns acknowledged REST writes per second.
func ingestREST(env *benchEnv) (float64, error) {
	bn, err := startRESTNode(env.nodeConfig("rest"))
	if err != nil {
		return 0, err
	}
	defer bn.close()
	nc := env.sizes.RESTClients
	per := env.sizes.IngestWrites / nc
	tr := &http.Transport{MaxIdleConns: nc, MaxIdleConnsPerHost: nc, MaxConnsPerHost: nc, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, nc)
	start := time.Now()
	for i := 0; i < nc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := fmt.Sprintf("%s/v1/objects/rest/%03d", bn.url, i)
			for k := 0; k < per; k++ {
				body := fmt.Sprintf(`{"type":"lww","op":"set","path":["f%d"],"value":%d}`, k%100, k)
				resp, err := hc.Post(url, "application/json", strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil {
					errs <- err
					return
				}
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("client %d: POST answered %s", i, resp.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	if commits := counterValue(bn.n, "lattice_commits_total"); commits > 0 {
		fmt.Fprintf(env.out, "     REST: %d writes in %.2f s, %.0f commits, %.1f writes per commit\n", per*nc, el.Seconds(), commits, float64(per*nc)/commits)
	}
	return float64(per*nc) / el.Seconds(), nil
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
