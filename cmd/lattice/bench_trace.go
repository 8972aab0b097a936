package main

// Scenario 8, a real editing trace against Yjs: the 259,778 single-
// character edits of the LaTeX source of a paper (Kleppmann and Beresford,
// "A Conflict-Free Replicated JSON Datatype"; the automerge-perf trace,
// CC BY 4.0), from ../shared/data/editing-trace (or $LATTICE_TRACE),
// replayed into a collaborative text one edit per transaction, beside
// Debian's node-yjs replaying it into a Y.Text (deploy/bench/yjs/trace.js).

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
)

// traceFile finds edits.json.gz.
func traceFile() (string, error) {
	if p := os.Getenv("LATTICE_TRACE"); p != "" {
		return p, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "..", "shared", "data", "editing-trace", "edits.json.gz")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("the editing trace: %w (set LATTICE_TRACE to its edits.json.gz)", err)
	}
	return p, nil
}

type editTrace struct {
	Edits     [][]any `json:"edits"`
	FinalText string  `json:"finalText"`
}

func loadTrace(path string, limit int) (ops []crdt.Op, final string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	var tr editTrace
	if err := json.NewDecoder(zr).Decode(&tr); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	if limit > 0 && limit < len(tr.Edits) {
		tr.Edits, tr.FinalText = tr.Edits[:limit], ""
	}
	for i, e := range tr.Edits {
		pos, ok := e[0].(float64)
		if !ok || len(e) < 2 {
			return nil, "", fmt.Errorf("%s: edit %d is not [pos, kind, ...]", path, i)
		}
		op := crdt.Op{Type: crdt.TypeText, Index: int64(pos)}
		if s, ok := e[len(e)-1].(string); ok && e[1] == 0.0 {
			op.Kind, op.Value = crdt.OpInsert, crdt.String(s)
		} else {
			op.Kind, op.Count = crdt.OpDelete, 1
		}
		ops = append(ops, op)
	}
	return ops, tr.FinalText, nil
}

// yjsTrace is trace.js's answer.
type yjsTrace struct {
	ApplyMs   float64 `json:"applyMs"`
	MergeMs   float64 `json:"mergeMs"`
	Bytes     int     `json:"bytes"`
	LoadMs    float64 `json:"loadMs"`
	HeapBytes float64 `json:"heapBytes"`
	OK        bool    `json:"ok"`
	Edits     int     `json:"edits"`
}

func (p *yjsPeer) traceRun(path string, limit int) (*yjsTrace, error) {
	c := p.command("--expose-gc", filepath.Join(p.scripts, "trace.js"), path, strconv.Itoa(limit))
	out, err := c.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("trace.js: %v: %s", err, ee.Stderr)
		}
		return nil, fmt.Errorf("trace.js: %w", err)
	}
	var r yjsTrace
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("trace.js answered %q: %w", out, err)
	}
	if !r.OK {
		return nil, errors.New("trace.js: Yjs did not reproduce the trace's final text")
	}
	return &r, nil
}

// latticeTrace is one replay of the trace.
type latticeTrace struct {
	applyMs, mergeMs, loadMs float64
	bytes                    int
	heap                     float64
}

func replayTrace(ops []crdt.Op, final string) (*latticeTrace, error) {
	r := uuid.MustParse("00000000-0000-4000-8000-0000000000aa")
	now := crdt.Timestamp{Wall: 1}
	o := crdt.NewObject()
	deltas := make([]*crdt.Object, 0, len(ops))
	runtime.GC()
	start := time.Now()
	for i, op := range ops {
		d, err := o.Apply(r, now, op)
		if err != nil {
			return nil, fmt.Errorf("edit %d: %w", i, err)
		}
		deltas = append(deltas, d)
	}
	res := &latticeTrace{applyMs: ms(time.Since(start))}
	if final != "" && o.Text() != final {
		return nil, errors.New("the replay did not reproduce the trace's final text")
	}
	// The deltas as they travel, encoded; decoding is part of merging, as
	// Y.applyUpdate decodes.
	wire := make([][]byte, len(deltas))
	for i, d := range deltas {
		b, err := d.MarshalBinary()
		if err != nil {
			return nil, err
		}
		wire[i] = b
	}
	deltas = nil
	m := crdt.NewObject()
	start = time.Now()
	for _, b := range wire {
		d, err := crdt.UnmarshalObject(b)
		if err != nil {
			return nil, err
		}
		m.Join(d)
	}
	res.mergeMs = ms(time.Since(start))
	if !m.Equal(o) {
		return nil, errors.New("merging the deltas did not reproduce the state")
	}
	wire, m = nil, nil
	state, err := o.MarshalBinary()
	if err != nil {
		return nil, err
	}
	res.bytes = len(state)
	start = time.Now()
	loaded, err := crdt.UnmarshalObject(state)
	if err != nil {
		return nil, err
	}
	_ = loaded.Text()
	res.loadMs = ms(time.Since(start))
	loaded = nil
	runtime.GC()
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	res.heap = float64(st.HeapAlloc)
	runtime.KeepAlive(o)
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func benchTrace(env *benchEnv) ([]row, error) {
	const credit = "Trace: the editing history of the LaTeX source of Kleppmann and Beresford, \"A Conflict-Free Replicated JSON Datatype\" (the automerge-perf trace, CC BY 4.0; ../shared/data/editing-trace)."
	rows := []row{
		{Metric: "trace edits applied locally per second", Unit: "/s", BaseName: "Y.Text insert/delete", Target: ">= 1",
			Note: credit + " Lattice: Object.Apply of each edit (one delta each) on one replica. Yjs: Y.Text insert or delete of each edit, one transaction each."},
		{Metric: "trace edits merged as remote deltas per second", Unit: "/s", BaseName: "Y.applyUpdate", Target: ">= 1",
			Note: "Lattice: crdt.UnmarshalObject and Object.Join of every edit's delta, in order, into a fresh replica. Yjs: Y.applyUpdate of every edit's update into a fresh Y.Doc."},
		{Metric: "trace document encoded size", Unit: "B", BaseName: "Y.encodeStateAsUpdate", Target: "<= 0.8",
			Note: "Lattice: Object.MarshalBinary of the final state (deleted characters kept as deleted pieces). Yjs: Y.encodeStateAsUpdate of the final doc."},
		{Metric: "trace document load time", Unit: "ms", BaseName: "Y.applyUpdate of the state", Target: "<= 1",
			Note: "Lattice: crdt.UnmarshalObject of the encoded state and reading the text. Yjs: Y.applyUpdate of the state into a fresh doc and reading the text."},
		{Metric: "trace document heap after the replay", Unit: "B", BaseName: "Node.js heapUsed",
			Note: "informational: Go's HeapAlloc after a GC with the replica kept, against Node's heapUsed after a GC with the doc kept; the runtimes count differently."},
	}
	path, err := traceFile()
	limit := 0
	if env.sizes.TraceEdits > 0 {
		limit = env.sizes.TraceEdits
	}
	var ops []crdt.Op
	var final string
	if err == nil {
		ops, final, err = loadTrace(path, limit)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			return nil, err
		}
		for i := range rows {
			rows[i].Skip = err.Error()
		}
		return rows, nil
	}
	var lat []*latticeTrace
	var yjs []*yjsTrace
	for i := 0; i < env.reps; i++ {
		l, err := replayTrace(ops, final)
		if err != nil {
			return nil, err
		}
		lat = append(lat, l)
		if env.yjs != nil {
			y, err := env.yjs.traceRun(path, limit)
			if err != nil {
				return nil, err
			}
			yjs = append(yjs, y)
		}
	}
	n := float64(len(ops))
	pick := func(f func(*latticeTrace) float64) float64 {
		var xs []float64
		for _, l := range lat {
			xs = append(xs, f(l))
		}
		return median(xs)
	}
	pickY := func(f func(*yjsTrace) float64) float64 {
		var xs []float64
		for _, y := range yjs {
			xs = append(xs, f(y))
		}
		return median(xs)
	}
	rows[0].Lattice = n / (pick(func(l *latticeTrace) float64 { return l.applyMs }) / 1000)
	rows[1].Lattice = n / (pick(func(l *latticeTrace) float64 { return l.mergeMs }) / 1000)
	rows[2].Lattice = pick(func(l *latticeTrace) float64 { return float64(l.bytes) })
	rows[3].Lattice = pick(func(l *latticeTrace) float64 { return l.loadMs })
	rows[4].Lattice = pick(func(l *latticeTrace) float64 { return l.heap })
	if env.yjs == nil {
		for i := range rows {
			rows[i].Skip = "Yjs unavailable: " + env.why
		}
		return rows, nil
	}
	rows[0].Base = n / (pickY(func(y *yjsTrace) float64 { return y.ApplyMs }) / 1000)
	rows[1].Base = n / (pickY(func(y *yjsTrace) float64 { return y.MergeMs }) / 1000)
	rows[2].Base = pickY(func(y *yjsTrace) float64 { return float64(y.Bytes) })
	rows[3].Base = pickY(func(y *yjsTrace) float64 { return y.LoadMs })
	rows[4].Base = pickY(func(y *yjsTrace) float64 { return y.HeapBytes })
	return rows, nil
}
