package main

// lattice bench: every scenario of issue #7 with its baseline, in one run.
// This file holds the runner, the table and BENCHMARKS.md; bench_*.go hold
// one scenario each, bench_yjs.go the Yjs peer and bench_ws.go the small
// WebSocket client and in-process node the scenarios share.

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

// benchSizes are the knobs a scenario reads; --quick and the test shrink
// them.
type benchSizes struct {
	IngestWrites   int // scenario 1: acknowledged writes per repetition
	IngestClients  int
	FanoutSubs     []int // scenario 2: subscriber counts
	FanoutSets     []int // map sets per repetition, one per subscriber count
	SizeWrites     int   // scenario 3 and 4: the Yjs size workload
	SizeFields     int
	WireSets       int // scenario 3: sets sent through a real node to price frames
	GossipNodes    int // scenario 5
	GossipDegree   int
	GossipUpdates  int
	GossipTick     time.Duration
	GossipMapKeys  int
	LatencyNodes   int // scenario 6
	LatencyWrites  int
	LatencyEvery   time.Duration
	LatencySubs    int // scenario 6: subscribers on the writer's node in the crowded run
	RESTClients    int // scenario 1: keep-alive REST clients
	FsyncProbes    int // scenario 0: fsyncs timed on the scratch disk
	IdleConns      int // scenario 7
	StoredKeys     int
	BigMapFields   int
	FieldWrites    int
	FanoutDeadline time.Duration
	TraceEdits     int // scenario 8: edits of the trace replayed; 0 is all
	Writers        int // scenario 9: distinct writers of the big counter
	WriterWrites   int // scenario 9: increments timed per repetition
}

var fullSizes = benchSizes{
	IngestWrites: 40_000, IngestClients: 32,
	FanoutSubs: []int{100, 1000}, FanoutSets: []int{1000, 200},
	SizeWrites: 10_003, SizeFields: 102, WireSets: 1000,
	GossipNodes: 15, GossipDegree: 4, GossipUpdates: 100, GossipTick: 50 * time.Millisecond, GossipMapKeys: 150,
	LatencyNodes: 5, LatencyWrites: 1000, LatencyEvery: 5 * time.Millisecond, LatencySubs: 1000,
	RESTClients: 64, FsyncProbes: 2000,
	IdleConns: 1000, StoredKeys: 100_000, BigMapFields: 100_000, FieldWrites: 50,
	FanoutDeadline: 120 * time.Second,
	Writers:        100_000, WriterWrites: 50,
}

var quickSizes = benchSizes{
	IngestWrites: 6_000, IngestClients: 16,
	FanoutSubs: []int{100, 1000}, FanoutSets: []int{200, 20},
	SizeWrites: 10_003, SizeFields: 102, WireSets: 200,
	GossipNodes: 15, GossipDegree: 4, GossipUpdates: 10, GossipTick: 15 * time.Millisecond, GossipMapKeys: 150,
	LatencyNodes: 5, LatencyWrites: 150, LatencyEvery: 5 * time.Millisecond, LatencySubs: 1000,
	RESTClients: 64, FsyncProbes: 300,
	IdleConns: 200, StoredKeys: 10_000, BigMapFields: 10_000, FieldWrites: 10,
	FanoutDeadline: 30 * time.Second, TraceEdits: 30_000,
	Writers: 5_000, WriterWrites: 10,
}

// benchEnv is what every scenario gets.
type benchEnv struct {
	sizes benchSizes
	reps  int
	dir   string       // scratch space, removed at the end
	yjs   *yjsPeer     // nil when Yjs is unavailable; yjsWhy says why
	why   string       // the reason Yjs rows are skipped
	log   *slog.Logger // for nodes: discards
	out   io.Writer    // progress lines

	fsync fsyncStats // the scratch disk's own sync latency, measured first

	work    *sizeWorkload // scenarios 3 and 4 share the workload
	yjsSize *yjsSize      // and the Yjs run
}

// row is one line of the table. Lattice and Base are the medians; Ratio is
// Lattice/Base (NaN when there is no baseline). Target is "≥ 0.7", "≤ 3" or
// "" (reported only).
type row struct {
	Scenario string
	Metric   string
	Lattice  float64
	Base     float64
	Unit     string
	BaseName string
	Ratio    float64
	Target   string
	Skip     string // non-empty: the row was not measured, and why
	Note     string // how it was measured, for the notes below the table
}

// result is "met", "missed by …", "reported" or "skipped: …".
func (r row) result() string {
	if r.Skip != "" {
		return "skipped: " + r.Skip
	}
	if r.Target == "" {
		return "reported"
	}
	op, want := parseTarget(r.Target)
	switch op {
	case ">=":
		if r.Ratio >= want {
			return "met"
		}
		return fmt.Sprintf("**missed** (%.0f%% short)", 100*(1-r.Ratio/want))
	case "<=":
		if r.Ratio <= want {
			return "met"
		}
		return fmt.Sprintf("**missed** (%.0f%% over)", 100*(r.Ratio/want-1))
	}
	return "?"
}

func parseTarget(t string) (string, float64) {
	op := t[:2]
	v, _ := strconv.ParseFloat(strings.TrimSpace(t[2:]), 64)
	return op, v
}

func (r row) targetText() string {
	if r.Target == "" {
		return "–"
	}
	op, v := parseTarget(r.Target)
	if op == ">=" {
		return "≥ " + trimFloat(v)
	}
	return "≤ " + trimFloat(v)
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// scenario is one numbered scenario of the issue.
type scenario struct {
	num  int
	name string
	run  func(env *benchEnv) ([]row, error)
}

var scenarios = []scenario{
	{1, "durable ingest", benchIngest},
	{2, "fan-out", benchFanout},
	{3, "size against Yjs", benchSize},
	{4, "merge rate", benchMerge},
	{5, "gossip bytes", benchGossip},
	{6, "latency", benchLatency},
	{7, "resources", benchResources},
	{8, "editing trace against Yjs", benchTrace},
	{9, "many writers", benchWriters},
}

func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "small sizes, a run under a minute (CI); prints the table and writes no file unless --out is given")
	out := fs.String("out", "", "file to write the table into (default: BENCHMARKS.md in the module root for a full run, none for --quick; \"-\" for none)")
	reps := fs.Int("reps", 3, "repetitions of every measurement; the table shows medians (at least 3)")
	only := fs.String("only", "", "comma-separated scenario numbers to run (default: all; a partial run never writes the default file)")
	dir := fs.String("scratch", "", "scratch directory for data (default: a new temporary directory, removed afterwards)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	child := fs.String("resource-child", "", "internal: run the node of the memory measurements on this data directory, driven over stdin")
	if err := parseFlags(fs, args, "usage: lattice bench [--quick] [--out FILE] [--reps N] [--only 1,2,…]\n\nRuns every scenario of issue #7 beside its baseline and prints ratios against the targets (BENCHMARKS.md)."); err != nil {
		return err
	}
	if *child != "" {
		return resourceChild(*child, os.Stdin, os.Stdout)
	}
	if *reps < 3 {
		return fmt.Errorf("--reps %d: at least 3 (the table shows medians)", *reps)
	}
	sizes := fullSizes
	if *quick {
		sizes = quickSizes
	}
	want := map[int]bool{}
	if *only != "" {
		for _, s := range strings.Split(*only, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 || n > len(scenarios) {
				return fmt.Errorf("--only %q: want scenario numbers 1 to %d", *only, len(scenarios))
			}
			want[n] = true
		}
	}
	target := *out
	switch {
	case target == "-":
		target = ""
	case target == "" && !*quick && *only == "":
		root, err := moduleRoot()
		if err != nil {
			return fmt.Errorf("finding BENCHMARKS.md: %w (use --out)", err)
		}
		target = filepath.Join(root, "BENCHMARKS.md")
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cmdline := "lattice " + strings.Join(append([]string{"bench"}, args...), " ")
	rows, err := benchMain(sizes, *reps, *dir, want, os.Stdout)
	if err != nil {
		return err
	}
	table := renderTable(rows)
	fmt.Println()
	fmt.Print(table)
	if target != "" {
		if err := writeBenchmarks(target, cmdline, *quick, rows); err != nil {
			return err
		}
		fmt.Printf("\nwrote %s\n", target)
	}
	return nil
}

// benchMain runs the chosen scenarios (all if want is empty) and returns
// their rows.
func benchMain(sizes benchSizes, reps int, dir string, want map[int]bool, progress io.Writer) ([]row, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "lattice-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	env := &benchEnv{sizes: sizes, reps: reps, dir: dir, out: progress,
		log: slog.New(slog.DiscardHandler)}
	peer, err := findYjs()
	if err != nil {
		if os.Getenv("CI") == "true" {
			return nil, fmt.Errorf("the Yjs peer is required under CI=true: %w", err)
		}
		env.why = err.Error()
		fmt.Fprintf(progress, "Yjs rows will be skipped: %v\n", err)
	}
	env.yjs = peer
	loadStart, err := readLoadAvg()
	if err != nil {
		return nil, err
	}
	if env.fsync, err = measureFsync(dir, sizes.FsyncProbes); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "== 0. machine: load average %s, disk fsync p50 %s ms, p99 %s ms\n", loadStart, fmtNum(env.fsync.p50), fmtNum(env.fsync.p99))
	var rows []row
	for _, s := range scenarios {
		if len(want) > 0 && !want[s.num] {
			continue
		}
		start := time.Now()
		fmt.Fprintf(progress, "== %d. %s\n", s.num, s.name)
		rs, err := s.run(env)
		if err != nil {
			return nil, fmt.Errorf("scenario %d (%s): %w", s.num, s.name, err)
		}
		for i := range rs {
			rs[i].Scenario = fmt.Sprintf("%d. %s", s.num, s.name)
			if rs[i].Skip == "" && rs[i].BaseName != "" && rs[i].Ratio == 0 {
				rs[i].Ratio = rs[i].Lattice / rs[i].Base
			}
			fmt.Fprintf(progress, "   %s: %s\n", rs[i].Metric, rowFigures(rs[i]))
		}
		fmt.Fprintf(progress, "   (%.1f s)\n", time.Since(start).Seconds())
		rows = append(rows, rs...)
	}
	loadEnd, err := readLoadAvg()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "== 0. machine: load average at the end %s\n", loadEnd)
	return append(machineRows(loadStart, loadEnd, env.fsync), rows...), nil
}

// repeat runs lattice and baseline alternately reps times and returns the
// medians. Either may be nil.
func repeat(env *benchEnv, lattice, base func() (float64, error)) (l, b float64, err error) {
	var ls, bs []float64
	for i := 0; i < env.reps; i++ {
		if lattice != nil {
			v, err := lattice()
			if err != nil {
				return 0, 0, err
			}
			ls = append(ls, v)
		}
		if base != nil {
			v, err := base()
			if err != nil {
				return 0, 0, err
			}
			bs = append(bs, v)
		}
	}
	return median(ls), median(bs), nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// fmtNum prints a figure with three significant digits and thousands
// separators.
func fmtNum(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	a := math.Abs(v)
	switch {
	case a >= 1000:
		return groupThousands(int64(math.Round(v)))
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a == 0:
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtRatio(r row) string {
	if r.Skip != "" || math.IsNaN(r.Ratio) || r.Ratio == 0 && r.Base == 0 {
		return "–"
	}
	if r.Ratio >= 100 {
		return strconv.FormatFloat(r.Ratio, 'f', 0, 64)
	}
	if r.Ratio >= 0.1 {
		return strconv.FormatFloat(r.Ratio, 'f', 2, 64)
	}
	return strconv.FormatFloat(r.Ratio, 'f', 3, 64)
}

func rowFigures(r row) string {
	if r.Skip != "" {
		return "skipped: " + r.Skip
	}
	s := fmtNum(r.Lattice) + " " + r.Unit
	if r.BaseName != "" {
		s += " vs " + fmtNum(r.Base) + " (" + r.BaseName + "), ratio " + fmtRatio(r)
	}
	if r.Target != "" {
		s += ", target " + r.targetText() + ": " + r.result()
	}
	return s
}

// renderTable is the Markdown table, printed and written alike.
func renderTable(rows []row) string {
	var b strings.Builder
	b.WriteString("| scenario | metric | Lattice | baseline | ratio | target | result |\n")
	b.WriteString("| --- | --- | ---: | --- | ---: | :---: | --- |\n")
	for _, r := range rows {
		lat, base := "–", "–"
		if r.Skip == "" {
			lat = strings.TrimSpace(fmtNum(r.Lattice) + " " + r.Unit)
			if r.BaseName != "" {
				base = strings.TrimSpace(fmtNum(r.Base)+" "+r.Unit) + " (" + r.BaseName + ")"
			}
		} else if r.BaseName != "" {
			base = r.BaseName
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Scenario, r.Metric, lat, base, fmtRatio(r), r.targetText(), r.result())
	}
	return b.String()
}

// machine describes where the figures were taken.
func machine() []string {
	var out []string
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if i := strings.Index(l, ":"); i >= 0 {
					cpu = strings.TrimSpace(l[i+1:])
				}
				break
			}
		}
	}
	out = append(out, fmt.Sprintf("CPU: %s, %d cores visible to Go (GOMAXPROCS %d)", cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0)))
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				f := strings.Fields(l)
				if len(f) >= 2 {
					kb, _ := strconv.ParseFloat(f[1], 64)
					out = append(out, fmt.Sprintf("RAM: %.1f GiB", kb/(1<<20)))
				}
			}
		}
	}
	osName := runtime.GOOS + "/" + runtime.GOARCH
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				osName = strings.Trim(v, `"`) + ", " + osName
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		osName += ", kernel " + strings.TrimSpace(string(b))
	}
	out = append(out, "OS: "+osName)
	out = append(out, "Go: "+runtime.Version())
	if v, err := exec.Command("node", "--version").Output(); err == nil {
		peer := "Node.js " + strings.TrimSpace(string(v))
		if p, err := findYjs(); err == nil {
			peer += ", " + p.versions
		}
		out = append(out, "Peer: "+peer)
	}
	return out
}

// Markers around the generated part of BENCHMARKS.md: a run replaces what
// is between them and keeps the rest (the hand-written analysis).
const (
	benchBegin = "<!-- lattice bench: generated from here -->"
	benchEnd   = "<!-- lattice bench: generated up to here -->"
)

func writeBenchmarks(path, cmdline string, quick bool, rows []row) error {
	var g strings.Builder
	g.WriteString(benchBegin + "\n")
	fmt.Fprintf(&g, "Run on %s with\n\n    %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), cmdline)
	if quick {
		g.WriteString("(--quick: small sizes, for CI; the figures are indicative only.)\n\n")
	}
	for _, m := range machine() {
		g.WriteString("- " + m + "\n")
	}
	g.WriteString("\nEvery figure is the median of the repetitions; the ratio is Lattice / baseline of those medians.\n\n")
	g.WriteString(renderTable(rows))
	var notes []string
	for _, r := range rows {
		if r.Note != "" {
			notes = append(notes, fmt.Sprintf("- %s, %s: %s", r.Scenario, r.Metric, r.Note))
		}
	}
	if len(notes) > 0 {
		g.WriteString("\nHow each row was measured:\n\n" + strings.Join(notes, "\n") + "\n")
	}
	g.WriteString(benchEnd + "\n")

	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var doc []byte
	i, j := bytes.Index(old, []byte(benchBegin)), bytes.Index(old, []byte(benchEnd))
	if i >= 0 && j > i {
		doc = append(append(append([]byte{}, old[:i]...), g.String()...), bytes.TrimPrefix(old[j+len(benchEnd):], []byte("\n"))...)
	} else {
		doc = []byte("# Benchmarks\n\nProduced by `lattice bench` (issue #7): each scenario runs beside its baseline in the same run.\n\n" + g.String())
		if len(old) > 0 {
			doc = append(doc, append([]byte("\n"), old...)...)
		}
	}
	return os.WriteFile(path, doc, 0o644)
}

// moduleRoot finds the directory holding this module's go.mod, upwards
// from the working directory.
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/lattice-sync/lattice\n")) {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("not inside the lattice module")
		}
		d = p
	}
}
