package main

// Scenario 9, many writers (issue 13): one increment into a counter that
// Writers distinct replicas have written, beside the same increment into a
// counter with one writer, through Node.Apply, through a client delta
// (Node.JoinClient) and through the pure crdt join; and the counter's
// encoded state per writer.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/node"
	"github.com/lattice-sync/lattice/transport"
)

// writerReplica is the i-th writer of the scenario: fixed, so sizes repeat.
func writerReplica(i int) crdt.ReplicaID {
	var r crdt.ReplicaID
	r[0] = 0x13
	binary.BigEndian.PutUint64(r[8:], uint64(i)+1)
	return r
}

var writerInc = crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1}

// fillWriters has writers distinct clients increment key once each,
// through JoinClient from 32 goroutines.
func fillWriters(n *node.Node, key string, writers int) error {
	var clk clientClock
	return eachWriter(writers, func(i int) error {
		d, err := crdt.NewObject().Apply(writerReplica(i), clk.now(), writerInc)
		if err == nil {
			err = n.JoinClient(context.Background(), writerReplica(i), key, d)
		}
		return err
	})
}

// eachWriter runs fn for writers 0..writers-1 from 32 goroutines, and
// returns the first error (each goroutine stops at its own).
func eachWriter(writers int, fn func(i int) error) error {
	const workers = 32
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < writers; i += workers {
				if err := fn(i); err != nil {
					errs <- fmt.Errorf("writer %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// memWriters is a counter in memory incremented once by each of writers
// replicas.
func memWriters(writers int) (*crdt.Object, error) {
	o := crdt.NewObject()
	for i := range writers {
		d, err := crdt.NewObject().Apply(writerReplica(i), crdt.Timestamp{Wall: sizeStart}, writerInc)
		if err != nil {
			return nil, err
		}
		o.Join(d)
	}
	return o, nil
}

func benchWriters(env *benchEnv) ([]row, error) {
	bn, err := startBenchNode(env.nodeConfig("writers"), nil)
	if err != nil {
		return nil, err
	}
	defer bn.close()
	n := bn.n
	writers := env.sizes.Writers
	if err := fillWriters(n, "many", writers); err != nil {
		return nil, err
	}
	// The client of the client-delta rows keeps its own copy of each
	// counter: its own writes, as a client that never read the others'.
	client := writerReplica(writers)
	mine := map[string]*crdt.Object{"many": crdt.NewObject(), "oneC": crdt.NewObject()}
	var clk clientClock
	write := func(key string, viaClient bool) (time.Duration, float64, error) {
		before, err := bytesWritten(n)
		if err != nil {
			return 0, 0, err
		}
		start := time.Now()
		if viaClient {
			var d *crdt.Object
			if d, err = mine[key].Apply(client, clk.now(), writerInc); err == nil {
				start = time.Now()
				err = n.JoinClient(context.Background(), client, key, d)
			}
		} else {
			_, err = n.Apply(context.Background(), key, writerInc)
		}
		el := time.Since(start)
		if err != nil {
			return 0, 0, err
		}
		after, err := bytesWritten(n)
		return el, after - before, err
	}
	// Alternately into the many-writer and the one-writer counter, K writes
	// each per repetition; per write means, median over repetitions.
	measure := func(manyKey, oneKey string, viaClient bool) (tMany, tOne, bMany, bOne float64, err error) {
		var ts [4][]float64
		k := float64(env.sizes.WriterWrites)
		for rep := 0; rep < env.reps; rep++ {
			var sum [4]float64
			for range env.sizes.WriterWrites {
				for j, key := range []string{manyKey, oneKey} {
					d, b, err := write(key, viaClient)
					if err != nil {
						return 0, 0, 0, 0, err
					}
					sum[j] += float64(d) / 1e3
					sum[2+j] += b
				}
			}
			for j := range sum {
				ts[j] = append(ts[j], sum[j]/k)
			}
		}
		return median(ts[0]), median(ts[1]), median(ts[2]), median(ts[3]), nil
	}
	aMany, aOne, abMany, abOne, err := measure("many", "oneA", false)
	if err != nil {
		return nil, err
	}
	cMany, cOne, cbMany, cbOne, err := measure("many", "oneC", true)
	if err != nil {
		return nil, err
	}
	joinMany, joinOne, perWriter, err := writersJoin(env, writers)
	if err != nil {
		return nil, err
	}
	snap, err := foldedSnapshots(bn, "many", writers+1)
	if err != nil {
		return nil, err
	}
	w := groupThousands(int64(writers))
	note := fmt.Sprintf("one node, sync on; the counter filled by %s clients' increments through Node.JoinClient from 32 goroutines; then, alternately, %d increments into it and into a counter only that writer writes; mean per write, median of %d repetitions. Bytes: lattice_bytes_written_total per commit (deterministic).", w, env.sizes.WriterWrites, env.reps)
	return []row{
		{Metric: "time of one increment through Node.Apply, " + w + "-writer counter", Lattice: aMany, Base: aOne, Unit: "µs", BaseName: "one-writer counter", Target: "<= 1.5", Note: note},
		{Metric: "bytes written by one increment through Node.Apply, " + w + " writers", Lattice: abMany, Base: abOne, Unit: "B", BaseName: "one-writer counter", Target: "<= 1.5", Note: "the same writes."},
		{Metric: "time of one client delta increment, " + w + "-writer counter", Lattice: cMany, Base: cOne, Unit: "µs", BaseName: "one-writer counter", Target: "<= 1.5", Note: "the same, each increment a client delta (its own copy of the counter: its own writes) joined through Node.JoinClient, which runs the client rule; timed from the call to its return."},
		{Metric: "bytes written by one client delta increment, " + w + " writers", Lattice: cbMany, Base: cbOne, Unit: "B", BaseName: "one-writer counter", Target: "<= 1.5", Note: "the same writes."},
		{Metric: "pure crdt join of one increment, " + w + "-writer counter", Lattice: joinMany, Base: joinOne, Unit: "ns", BaseName: "one-writer counter", Target: "<= 2", Note: "crdt.Object.Join of one writer's successive increment deltas into the counter in memory, mean over 20,000 joins, median of the repetitions."},
		{Metric: "encoded state at rest per writer, " + w + "-writer counter", Lattice: perWriter, Base: 16, Unit: "B", BaseName: "replica id (16 B)", Target: "<= 1.25", Note: "crdt.Object.MarshalBinary of the counter (each writer's entry and context entry) divided by its writers; the target, 1.25 replica ids, is 20 B per writer."},
		{Metric: "snapshot bytes to a client that may hold a copy, " + w + "-writer counter, all folded (JSON)", Lattice: snap[0][1], Base: snap[0][0], Unit: "B", BaseName: "the same, unfolded", Note: snapNote},
		{Metric: "snapshot bytes to a client that may hold a copy, " + w + "-writer counter, all folded (binary)", Lattice: snap[1][1], Base: snap[1][0], Unit: "B", BaseName: "the same, unfolded", Note: "the same, the session in the binary encoding."},
		{Metric: "snapshot bytes to a new, empty client of a " + w + "-writer counter, all folded (JSON)", Lattice: snap[0][2], Base: snap[0][0], Unit: "B", BaseName: "the same, unfolded", Note: snapEmptyNote},
		{Metric: "snapshot bytes to a new, empty client of a " + w + "-writer counter, all folded (binary)", Lattice: snap[1][2], Base: snap[1][0], Unit: "B", BaseName: "the same, unfolded", Note: "the same, the session in the binary encoding."},
	}, nil
}

const snapNote = "the counter above (its writers and the timed client's); the bytes of every snapshot page a new WebSocket client subscribing to it receives (a deterministic count), before and after every writer is folded (Node.Fold from 32 goroutines, the fold rule on one node). The client subscribes without \"empty\" (as after a resync, or with a copy its cursor does not vouch for): folded writers leave the snapshot, but for the client's own base; the context (each writer's id and sequence) stays whole, and is most of what is left."

const snapEmptyNote = "the same counter and folds; the client subscribes with \"empty\" (it holds nothing under the key, as the Go and JS clients say when so): its first snapshot also leaves the folded writers out of the context."

// foldedSnapshots measures the snapshot a new client gets of key, whose
// writers are writerReplica(0..writers-1), in JSON and in binary, before
// and after folding every writer, after them also to a client that says
// it is empty: [encoding][unfolded, folded, folded and empty].
func foldedSnapshots(bn *benchNode, key string, writers int) ([2][3]float64, error) {
	var out [2][3]float64
	measure := func(folded int) error {
		for enc, binaryEnc := range []bool{false, true} {
			for _, empty := range []bool{false, true} {
				if empty && folded == 0 {
					continue
				}
				size, err := snapshotBytes(bn.url, binaryEnc, key, empty)
				if err != nil {
					return err
				}
				i := folded
				if empty {
					i = 2
				}
				out[enc][i] = float64(size)
			}
		}
		return nil
	}
	if err := measure(0); err != nil {
		return out, err
	}
	// A node folds only when attached (the fold rule needs its view);
	// alone on its network it is the decider of every writer.
	if err := bn.n.Attach(transport.NewMemNetwork().Add(bn.n.Name())); err != nil {
		return out, err
	}
	err := eachWriter(writers, func(i int) error {
		_, err := bn.n.Fold(context.Background(), key, writerReplica(i))
		return err
	})
	if err != nil {
		return out, fmt.Errorf("folding: %w", err)
	}
	return out, measure(1)
}

// snapshotBytes is the size of every snapshot page a new client (JSON or
// binary) gets when it subscribes to key, saying it is empty or not.
func snapshotBytes(url string, binaryEnc bool, key string, empty bool) (int, error) {
	var size int
	done := make(chan struct{})
	c, err := dialClient(url, binaryEnc, false, func(f frame) {
		if f.mt == websocket.BinaryMessage && len(f.data) > 0 && f.data[0] == 's' || f.mt == websocket.TextMessage && bytes.HasPrefix(f.data, snapshotPrefix) {
			size += len(f.data)
			if isSnapshotDone(f) {
				close(done)
			}
		}
	})
	if err != nil {
		return 0, err
	}
	defer c.close()
	if err := c.subscribeAs(1, key, empty); err != nil {
		return 0, err
	}
	select {
	case <-done:
		return size, nil
	case <-time.After(time.Minute):
		return 0, fmt.Errorf("no whole snapshot of %q within a minute", key)
	}
}

var snapshotPrefix = []byte(`{"t":"` + protocol.Snapshot + `"`)

// writersJoin times the pure join of one increment into a counter of
// writers writers and of one, and prices the big state per writer.
func writersJoin(env *benchEnv, writers int) (many, one, perWriter float64, err error) {
	big, err := memWriters(writers)
	if err != nil {
		return 0, 0, 0, err
	}
	small, err := memWriters(1)
	if err != nil {
		return 0, 0, 0, err
	}
	b, err := big.MarshalBinary()
	if err != nil {
		return 0, 0, 0, err
	}
	const joins = 20_000
	timeJoins := func(o *crdt.Object) (float64, error) {
		w := crdt.NewObject()
		ds := make([]*crdt.Object, joins)
		for i := range ds {
			d, err := w.Apply(writerReplica(0), crdt.Timestamp{Wall: sizeStart + int64(i)}, writerInc)
			if err != nil {
				return 0, err
			}
			ds[i] = d
		}
		start := time.Now()
		for _, d := range ds {
			o.Join(d)
		}
		return float64(time.Since(start).Nanoseconds()) / joins, nil
	}
	many, one, err = repeat(env, func() (float64, error) { return timeJoins(big) }, func() (float64, error) { return timeJoins(small) })
	return many, one, float64(len(b)) / float64(writers), err
}
