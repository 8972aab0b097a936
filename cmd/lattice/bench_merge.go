package main

// Scenario 4, merge rate: the size workload's 10,003 remote map-set deltas,
// as they arrive (encoded), joined in order into a fresh replica, against
// Y.applyUpdate of the same sets' updates into a fresh Y.Doc.

import (
	"fmt"
	"time"

	"github.com/lattice-sync/lattice/crdt"
)

func benchMerge(env *benchEnv) ([]row, error) {
	w, y, err := env.sizeData()
	if err != nil {
		return nil, err
	}
	// Three ways into a fresh replica: straight from the bytes (a
	// crdt.Merger, the measured row), decoded into objects first and then
	// joined (the way before it), and the decoded objects joined alone.
	var m crdt.Merger
	ways := []func(o *crdt.Object, k int) error{
		func(o *crdt.Object, k int) error {
			_, err := m.JoinBatchObjects(w.batches[k], func(string) *crdt.Object { return o })
			return err
		},
		func(o *crdt.Object, k int) error {
			b, err := crdt.UnmarshalBatch(w.batches[k])
			if err == nil {
				o.Join(b.Items[0].Delta)
			}
			return err
		},
		func(o *crdt.Object, k int) error {
			o.Join(w.deltas[k])
			return nil
		},
	}
	joinAll := func(join func(o *crdt.Object, k int) error) (float64, error) {
		o := crdt.NewObject()
		start := time.Now()
		for k := range w.batches {
			if err := join(o, k); err != nil {
				return 0, err
			}
		}
		el := time.Since(start)
		if !o.Equal(w.state) {
			return 0, fmt.Errorf("replaying the deltas did not converge")
		}
		return float64(len(w.batches)) / el.Seconds(), nil
	}
	rates := make([]float64, len(ways))
	for i, way := range ways {
		if rates[i], _, err = repeat(env, func() (float64, error) { return joinAll(way) }, nil); err != nil {
			return nil, err
		}
	}
	rows := []row{
		{Metric: "remote map-set deltas merged per second (decode + join)", Lattice: rates[0], Unit: "/s", BaseName: "Y.applyUpdate", Target: ">= 3",
			Note: "Lattice: crdt.Merger.JoinBatchObjects of each one-item batch (as a peer's log entry or a client frame carries it) into a fresh replica, in order: validated as UnmarshalBatch validates and joined straight from the bytes, the decode buffers reused: the path of a remote delta into a replica, the path the node's committer takes for a peer's log entry, crdt.Merger.JoinBatch into its store (node/store/committer.go, ReqRemote), its changes decoding a delta only for a hot object or a subscriber. Yjs: Y.applyUpdate of each update into a fresh Y.Doc, in order (both decode from bytes)."},
		{Metric: "remote map-set deltas decoded, then joined, per second", Lattice: rates[1], Unit: "/s",
			Note: "informational: crdt.UnmarshalBatch of each batch into an object, then Object.Join (the path before crdt.Merger)."},
		{Metric: "remote map-set deltas joined per second (join only)", Lattice: rates[2], Unit: "/s",
			Note: "informational: Object.Join of the decoded deltas."},
	}
	if y == nil {
		rows[0].Skip = "Yjs unavailable: " + env.why
		return rows, nil
	}
	rows[0].Base = median(y.ApplyRates)
	return rows, nil
}
