package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tinySizes runs every scenario's machinery in a second or two; the
// figures mean nothing and nothing about time is asserted.
var tinySizes = benchSizes{
	IngestWrites: 200, IngestClients: 4,
	FanoutSubs: []int{5}, FanoutSets: []int{20},
	SizeWrites: 300, SizeFields: 10, WireSets: 30,
	GossipNodes: 4, GossipDegree: 2, GossipUpdates: 3, GossipTick: 20 * time.Millisecond, GossipMapKeys: 20,
	LatencyNodes: 2, LatencyWrites: 10, LatencyEvery: 2 * time.Millisecond, LatencySubs: 5,
	RESTClients: 4, FsyncProbes: 20,
	IdleConns: 5, StoredKeys: 100, BigMapFields: 200, FieldWrites: 3,
	FanoutDeadline: 20 * time.Second, TraceEdits: 2_000,
	Writers: 200, WriterWrites: 3,
}

func TestBenchMachinery(t *testing.T) {
	only := map[int]bool{}
	if s := os.Getenv("LATTICE_BENCH_ONLY"); s != "" { // debugging one scenario
		for _, c := range strings.Split(s, ",") {
			only[int(c[0]-'0')] = true
		}
	}
	var progress bytes.Buffer
	rows, err := benchMain(tinySizes, 1, t.TempDir(), only, &progress)
	t.Log(progress.String())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		seen[strings.SplitN(r.Scenario, ".", 2)[0]] = true
		// A resident-set difference over a handful of connections or keys
		// is noise at these sizes (a GC may return more than they take), so
		// it need only be a number; every other figure must be positive.
		// A load average may be zero on an idle machine.
		rss := strings.Contains(r.Metric, "(RSS)") || strings.Contains(r.Metric, "load average")
		if r.Skip == "" && (math.IsNaN(r.Lattice) || !rss && !(r.Lattice > 0)) {
			t.Errorf("%s, %s: figure %v", r.Scenario, r.Metric, r.Lattice)
		}
		if r.Skip == "" && r.BaseName != "" && !(r.Base > 0) {
			t.Errorf("%s, %s: baseline %v", r.Scenario, r.Metric, r.Base)
		}
	}
	if !seen["0"] {
		t.Errorf("no machine rows (load average, disk fsync)")
	}
	delete(seen, "0")
	if len(only) == 0 && len(seen) != len(scenarios) {
		t.Errorf("rows for scenarios %v, want all %d", seen, len(scenarios))
	}
	// The table lands in the file between the markers, and what a person
	// wrote around them survives a second run.
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	if err := os.WriteFile(path, []byte("# Benchmarks\n\nintro\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeBenchmarks(path, "lattice bench --test", true, rows); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	os.WriteFile(path, append(b, []byte("\n## Analysis\n\nhand-written\n")...), 0o644)
	if err := writeBenchmarks(path, "lattice bench --test", true, rows); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	for _, want := range []string{"intro", "hand-written", "| scenario | metric |", "lattice bench --test", "Go: go"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("BENCHMARKS.md lacks %q:\n%s", want, b)
		}
	}
	if n := bytes.Count(b, []byte(benchBegin)); n != 1 {
		t.Errorf("%d generated sections, want 1", n)
	}
}

func TestMedianAndFormat(t *testing.T) {
	if m := median([]float64{5, 1, 3}); m != 3 {
		t.Errorf("median %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median %v", m)
	}
	if s := fmtNum(1234567); s != "1,234,567" {
		t.Errorf("fmtNum %q", s)
	}
	r := row{Lattice: 1, Base: 2, Ratio: 0.5, BaseName: "b", Target: ">= 0.7"}
	if got := r.result(); !strings.Contains(got, "missed") {
		t.Errorf("result %q", got)
	}
	r.Target = "<= 0.6"
	if got := r.result(); got != "met" {
		t.Errorf("result %q", got)
	}
	if got := meshNeighbours(15, 4); len(got[0]) != 4 || len(got[7]) != 4 {
		t.Errorf("neighbours %v", got)
	}
}
