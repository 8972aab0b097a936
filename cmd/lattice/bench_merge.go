package main

// Scenario 4, merge rate: the size workload's 10,003 remote map-set deltas,
// as they arrive (encoded), decoded and joined in order into a fresh
// replica, against Y.applyUpdate of the same sets' updates into a fresh
// Y.Doc.

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
	joinAll := func(decode bool) (float64, error) {
		o := crdt.NewObject()
		var items []*crdt.Object
		if !decode {
			items = w.deltas
		}
		start := time.Now()
		if decode {
			for _, raw := range w.batches {
				b, err := crdt.UnmarshalBatch(raw)
				if err != nil {
					return 0, err
				}
				o.Join(b.Items[0].Delta)
			}
		} else {
			for _, d := range items {
				o.Join(d)
			}
		}
		el := time.Since(start)
		if !o.Equal(w.state) {
			return 0, fmt.Errorf("replaying the deltas did not converge")
		}
		return float64(len(w.batches)) / el.Seconds(), nil
	}
	lat, _, err := repeat(env, func() (float64, error) { return joinAll(true) }, nil)
	if err != nil {
		return nil, err
	}
	joinOnly, _, err := repeat(env, func() (float64, error) { return joinAll(false) }, nil)
	if err != nil {
		return nil, err
	}
	rows := []row{
		{Metric: "remote map-set deltas merged per second (decode + join)", Lattice: lat, Unit: "/s", BaseName: "Y.applyUpdate", Target: ">= 3",
			Note: "Lattice: crdt.UnmarshalBatch of each one-item batch and Object.Join into a fresh replica, in order. Yjs: Y.applyUpdate of each update into a fresh Y.Doc, in order (both decode from bytes)."},
		{Metric: "remote map-set deltas joined per second (join only)", Lattice: joinOnly, Unit: "/s",
			Note: "informational: Object.Join of the decoded deltas."},
	}
	if y == nil {
		rows[0].Skip = "Yjs unavailable: " + env.why
		return rows, nil
	}
	rows[0].Base = median(y.ApplyRates)
	return rows, nil
}
