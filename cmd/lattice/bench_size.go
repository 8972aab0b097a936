package main

// Scenario 3, size against Yjs: the workload of crdt/size_test.go (three
// replicas make 10,003 last-writer-wins sets of small integers, 0..99, on
// 102 fields of one map, each set delivered everywhere as it is made, a
// millisecond apart), played in Lattice and in Yjs.

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/frames"
	"github.com/lattice-sync/lattice/internal/protocol"
)

type sizeWrite struct {
	replica int
	field   string
	value   int64
}

// sizeWorkload is the workload played in Lattice: every set's delta, its
// one-item batch as peers and clients carry it, and the converged state.
type sizeWorkload struct {
	writes   []sizeWrite
	replicas []crdt.ReplicaID
	deltas   []*crdt.Object
	clocks   []crdt.Timestamp
	batches  [][]byte // crdt.Batch{Clock, one item "m": delta}
	state    *crdt.Object
}

// The workload's replicas: fixed, so the figures repeat exactly.
var sizeReplicas = []crdt.ReplicaID{
	uuid.MustParse("6f1c1a52-3b0e-4c55-9a7e-1d2f3a4b5c01"),
	uuid.MustParse("6f1c1a52-3b0e-4c55-9a7e-1d2f3a4b5c02"),
	uuid.MustParse("6f1c1a52-3b0e-4c55-9a7e-1d2f3a4b5c03"),
}

const sizeStart = 1_700_000_000_000 // 2023-11-14, as crdt's simulations

func makeSizeWorkload(writes, fields int) (*sizeWorkload, error) {
	w := &sizeWorkload{replicas: sizeReplicas}
	states := []*crdt.Object{crdt.NewObject(), crdt.NewObject(), crdt.NewObject()}
	rng := rand.New(rand.NewPCG(1, 2))
	for k := 0; k < writes; k++ {
		r := k % 3
		sw := sizeWrite{replica: r, field: fmt.Sprintf("f%d", rng.IntN(fields)), value: rng.Int64N(100)}
		now := crdt.Timestamp{Wall: sizeStart + int64(k)}
		d, err := states[r].Apply(w.replicas[r], now, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{sw.field}, Value: crdt.MustInt(sw.value)})
		if err != nil {
			return nil, err
		}
		for j := range states {
			if j != r {
				states[j].Join(d)
			}
		}
		raw, err := crdt.Batch{Clock: now, Items: []crdt.BatchItem{{Key: "m", Delta: d}}}.MarshalBinary()
		if err != nil {
			return nil, err
		}
		w.writes = append(w.writes, sw)
		w.deltas = append(w.deltas, d)
		w.clocks = append(w.clocks, now)
		w.batches = append(w.batches, raw)
	}
	w.state = states[0]
	return w, nil
}

// shared runs the workload in Lattice and, once, in Yjs.
func (env *benchEnv) sizeData() (*sizeWorkload, *yjsSize, error) {
	if env.work == nil {
		w, err := makeSizeWorkload(env.sizes.SizeWrites, env.sizes.SizeFields)
		if err != nil {
			return nil, nil, err
		}
		env.work = w
		if env.yjs != nil {
			y, err := env.yjs.sizeRun(w.writes, env.reps)
			if err != nil {
				return nil, nil, err
			}
			if y.N != len(w.writes) {
				return nil, nil, fmt.Errorf("yjs played %d writes, want %d", y.N, len(w.writes))
			}
			env.yjsSize = y
		}
	}
	return env.work, env.yjsSize, nil
}

func benchSize(env *benchEnv) ([]row, error) {
	w, y, err := env.sizeData()
	if err != nil {
		return nil, err
	}
	n := float64(len(w.writes))
	// Client to node: the binary2 client frame of each set, each replica
	// a session of its own.
	var clientBytes, deltaBytes int
	sessions := make([]frames.Writer, len(w.replicas))
	for k, d := range w.deltas {
		f, err := compactFrame(&sessions[w.writes[k].replica], uint64(k+1), "m", d, w.clocks[k])
		if err != nil {
			return nil, err
		}
		clientBytes += len(f)
		b, err := d.MarshalBinary()
		if err != nil {
			return nil, err
		}
		deltaBytes += len(b)
	}
	// Node to subscriber: the live delta frames a real node sends for the
	// first WireSets sets of the workload.
	liveMean, err := liveFrameBytes(env, w)
	if err != nil {
		return nil, err
	}
	state, err := w.state.MarshalBinary()
	if err != nil {
		return nil, err
	}
	// Marginal: the whole workload as one batch, whose header names the
	// three writers once (what crdt/size_test.go prices).
	whole := crdt.Batch{Clock: w.clocks[len(w.clocks)-1], Replicas: w.replicas}
	empty, err := whole.MarshalBinary()
	if err != nil {
		return nil, err
	}
	for _, d := range w.deltas {
		whole.Items = append(whole.Items, crdt.BatchItem{Key: "m", Delta: d})
	}
	all, err := whole.MarshalBinary()
	if err != nil {
		return nil, err
	}
	rows := []row{
		{Metric: "wire bytes per map set, client → server", Lattice: float64(clientBytes) / n, Unit: "B",
			BaseName: "Yjs", Target: "<= 0.6",
			Note: "Lattice: the compact binary (binary2) client frame of each set ('B', id, one item: key, clock as a difference from the session's last, the replicas by session index, the crdt body), each writer a session of its own, mean over the workload. Yjs: the y-websocket message (messageSync, messageYjsUpdate, update) of each set, mean."},
		{Metric: "wire bytes per map set, server → subscriber", Lattice: liveMean, Unit: "B",
			BaseName: "Yjs", Target: "<= 0.6",
			Note: fmt.Sprintf("Lattice: the compact binary (binary2) live frames ('L', the cursor's changed entries, the items as above) a node sent to a subscriber for the workload's first %d sets, written by three clients. Yjs: the y-websocket server forwards the same message it received.", min(env.sizes.WireSets, len(w.writes)))},
		{Metric: "encoded delta per map set, no framing", Lattice: float64(deltaBytes) / n, Unit: "B", BaseName: "Yjs update",
			Note: "informational: crdt binary encoding of the delta alone (its own replica table included) against the Yjs update alone."},
		{Metric: "map set inside one batch naming its writers once", Lattice: float64(len(all)-len(empty)) / n, Unit: "B", BaseName: "Yjs update",
			Note: "informational: the marginal bytes of one set in a crdt.Batch of the whole workload whose header carries the replica table and the clock once (crdt/size_test.go prices one such set); no protocol message carries sets this way today."},
		{Metric: fmt.Sprintf("state after %s sets on %d fields by 3 replicas", groupThousands(int64(len(w.writes))), env.sizes.SizeFields), Lattice: float64(len(state)), Unit: "B",
			BaseName: "Yjs", Target: "<= 0.1",
			Note: "Lattice: crdt binary encoding of the converged object. Yjs: Y.encodeStateAsUpdate of the converged doc (V1, the default; V2 in the progress output)."},
	}
	if y == nil {
		for i := range rows {
			rows[i].Skip = "Yjs unavailable: " + env.why
		}
		return rows, nil
	}
	rows[0].Base = float64(y.Wire) / n
	rows[1].Base = float64(y.Wire) / n
	rows[2].Base = float64(y.Updates) / n
	rows[3].Base = float64(y.Updates) / n
	rows[4].Base = float64(y.State)
	fmt.Fprintf(env.out, "   (Yjs state with encodeStateAsUpdateV2: %d B)\n", y.StateV2)
	return rows, nil
}

// liveFrameBytes sends the first WireSets sets of the workload through a
// node, from three clients with the workload's replica ids, and returns the
// mean size of the live delta frames a binary subscriber receives.
func liveFrameBytes(env *benchEnv, w *sizeWorkload) (float64, error) {
	cfg := env.nodeConfig("size")
	cfg.SyncWrites = false // bytes do not depend on it
	bn, err := startBenchNode(cfg, nil)
	if err != nil {
		return 0, err
	}
	defer bn.close()
	total := min(env.sizes.WireSets, len(w.writes))
	var got, bytes atomic.Int64
	snap := make(chan struct{})
	var once sync.Once
	all := make(chan struct{})
	sub, err := dialClientEnc(uuid.New(), bn.url, protocol.EncodingCompact, false, func(f frame) {
		if isSnapshotDone(f) {
			once.Do(func() { close(snap) })
			return
		}
		if n, ok := liveCount(f); ok {
			bytes.Add(int64(len(f.data)))
			if v := got.Add(int64(n)); v >= int64(total) && v-int64(n) < int64(total) {
				close(all)
			}
		}
	})
	if err != nil {
		return 0, err
	}
	defer sub.close()
	if err := sub.subscribe(1, "m"); err != nil {
		return 0, err
	}
	select {
	case <-snap:
	case <-time.After(10 * time.Second):
		return 0, fmt.Errorf("no snapshot")
	}
	var writers []*wsClient
	for _, r := range w.replicas {
		c, err := dialClientEnc(r, bn.url, protocol.EncodingCompact, true, nil)
		if err != nil {
			return 0, err
		}
		defer c.close()
		writers = append(writers, c)
	}
	for k := 0; k < total; k++ {
		c := writers[w.writes[k].replica]
		f, err := compactFrame(&c.fw, uint64(k+1), "m", w.deltas[k], w.clocks[k])
		if err != nil {
			return 0, err
		}
		if err := c.send(websocket.BinaryMessage, f); err != nil {
			return 0, err
		}
		select { // one at a time, as the workload delivers each set as it is made
		case <-c.ackCh:
		case <-time.After(10 * time.Second):
			return 0, fmt.Errorf("no ack for set %d (errors %d)", k, c.errs.Load())
		}
	}
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		return 0, fmt.Errorf("subscriber got %d of %d live deltas", got.Load(), total)
	}
	return float64(bytes.Load()) / float64(total), nil
}
