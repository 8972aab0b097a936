package main

// Scenario 7, resources: memory per idle WebSocket connection and per
// stored key, measured on a node in a child process (the bench binary run
// with --resource-child) so that the clients' own memory is not counted;
// and the cost of one field write into a 100,000-field map against a
// one-field map (the approach of node/cost_test.go: the same write, timed,
// and the bytes the commit wrote).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node"
)

func benchResources(env *benchEnv) ([]row, error) {
	conn, connHeap, key, keyHeap, err := resourceMemory(env)
	if err != nil {
		return nil, err
	}
	rows := []row{
		{Metric: "memory per idle connection (RSS)", Lattice: conn / 1024, Unit: "KiB",
			Note: fmt.Sprintf("a node in a child process; %s WebSocket clients (another process) connect, say hello and subscribe to one key, then stay idle; the node's resident set after a GC, before and after, divided by the count (Go heap + stacks alone: %.1f KiB).", groupThousands(int64(env.sizes.IdleConns)), connHeap/1024)},
		{Metric: "memory per stored key (RSS)", Lattice: key, Unit: "B",
			Note: fmt.Sprintf("the same node stores %s counters (one key each, written through Node.Apply); resident set growth per key after a GC (Go heap + stacks alone: %.0f B). Badger keeps recent writes in its memtable, so this is the in-memory cost until a flush.", groupThousands(int64(env.sizes.StoredKeys)), keyHeap)},
	}
	cost, err := fieldWriteCost(env)
	if err != nil {
		return nil, err
	}
	return append(rows, cost...), nil
}

// resourceMemory returns bytes per idle connection and per stored key,
// resident and Go heap.
func resourceMemory(env *benchEnv) (conn, connHeap, key, keyHeap float64, err error) {
	child, err := startResourceChild(env)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer child.stop()
	url, err := child.expect("listening ", 30*time.Second)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	url = strings.TrimPrefix(url, "listening ")
	mem := func() (float64, float64, error) {
		if err := child.send("mem"); err != nil {
			return 0, 0, err
		}
		l, err := child.expect("mem ", 60*time.Second)
		if err != nil {
			return 0, 0, err
		}
		f := strings.Fields(l)
		rss, _ := strconv.ParseFloat(f[1], 64)
		heap, _ := strconv.ParseFloat(f[2], 64)
		return rss, heap, nil
	}
	r0, h0, err := mem()
	if err != nil {
		return
	}
	n := env.sizes.IdleConns
	var clients []*wsClient
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	for i := 0; i < n; i++ {
		snap := make(chan struct{})
		var once sync.Once
		c, err := dialClient(url, false, false, func(f frame) {
			if isSnapshotDone(f) {
				once.Do(func() { close(snap) })
			}
		})
		if err != nil {
			return 0, 0, 0, 0, err
		}
		clients = append(clients, c)
		if err := c.subscribe(1, "idle"); err != nil {
			return 0, 0, 0, 0, err
		}
		select {
		case <-snap:
		case <-time.After(10 * time.Second):
			return 0, 0, 0, 0, errors.New("no snapshot")
		}
	}
	r1, h1, err := mem()
	if err != nil {
		return
	}
	conn, connHeap = (r1-r0)/float64(n), (h1-h0)/float64(n)
	if err = child.send(fmt.Sprintf("fill %d", env.sizes.StoredKeys)); err != nil {
		return
	}
	if _, err = child.expect("filled", 5*time.Minute); err != nil {
		return
	}
	r2, h2, err := mem()
	if err != nil {
		return
	}
	k := float64(env.sizes.StoredKeys)
	return conn, connHeap, (r2 - r1) / k, (h2 - h1) / k, nil
}

// startResourceChild runs the node of the memory measurements in a child
// process: this binary, as `lattice bench --resource-child DIR`. Under go
// test the binary is the test, whose TestMain acts as lattice for that
// command line.
func startResourceChild(env *benchEnv) (*yjsProc, error) {
	dir, err := os.MkdirTemp(env.dir, "child-")
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := exec.Command(exe, "bench", "--resource-child", dir)
	stdin, err := c.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.Stderr = os.Stderr
	if err := c.Start(); err != nil {
		return nil, err
	}
	p := &yjsProc{cmd: c, stdin: stdin, lines: make(chan string, 16), stderr: &bytes.Buffer{}}
	go p.scan(stdout)
	return p, nil
}

func (y *yjsProc) scan(r io.Reader) {
	defer close(y.lines)
	s := bufio.NewScanner(r)
	for s.Scan() {
		y.lines <- s.Text()
	}
}

// resourceChild is the child's side: a node with its WebSocket endpoint,
// answering "mem" (resident and Go heap+stack bytes after a GC) and
// "fill N" (store N counters) line by line until stdin ends.
func resourceChild(dir string, in io.Reader, out io.Writer) error {
	cfg := node.DefaultConfig("resources", dir)
	cfg.SyncWrites = false // memory does not depend on it; the fill is faster
	cfg.Logger = slog.New(slog.DiscardHandler)
	bn, err := startBenchNode(cfg, nil)
	if err != nil {
		return err
	}
	defer bn.close()
	fmt.Fprintf(out, "listening %s\n", bn.url)
	s := bufio.NewScanner(in)
	filled := 0
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "mem":
			runtime.GC()
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Fprintf(out, "mem %d %d\n", residentBytes(), ms.HeapInuse+ms.StackInuse)
		case "fill":
			n, _ := strconv.Atoi(f[1])
			if err := fillCounters(bn.n, filled, n); err != nil {
				return err
			}
			filled += n
			fmt.Fprintln(out, "filled")
		}
	}
	return s.Err()
}

// fillCounters increments n new counters, 64 writers at a time so that
// group commit batches them.
func fillCounters(n *node.Node, from, count int) error {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	next := make(chan int)
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if _, err := n.Apply(context.Background(), fmt.Sprintf("key/%08d", i), crdt.Op{Type: crdt.TypeGCounter, Kind: crdt.OpInc, By: 1}); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := from; i < from+count; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// residentBytes is this process's resident set, from /proc/self/statm.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// fieldWriteCost times one field write, sync on, into a map of
// BigMapFields fields against a one-field map, and counts the bytes each
// commit wrote (lattice_bytes_written_total).
func fieldWriteCost(env *benchEnv) ([]row, error) {
	cfg := env.nodeConfig("cost")
	n, err := node.Open(cfg)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	if err := fillMap(n, "small", 1); err != nil {
		return nil, err
	}
	if err := fillMap(n, "big", env.sizes.BigMapFields); err != nil {
		return nil, err
	}
	i := 0
	write := func(key string) (time.Duration, float64, error) {
		before, err := bytesWritten(n)
		if err != nil {
			return 0, 0, err
		}
		op := crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{fmt.Sprintf("g%06d", i)}, Value: crdt.MustInt(7)}
		i++
		start := time.Now()
		if _, err := n.Apply(context.Background(), key, op); err != nil {
			return 0, 0, err
		}
		el := time.Since(start)
		after, err := bytesWritten(n)
		return el, after - before, err
	}
	var tSmall, tBig, bSmall, bBig []float64
	for rep := 0; rep < env.reps; rep++ {
		var ts, tb time.Duration
		var bs, bb float64
		for k := 0; k < env.sizes.FieldWrites; k++ {
			d, b, err := write("small")
			if err != nil {
				return nil, err
			}
			ts, bs = ts+d, bs+b
			d, b, err = write("big")
			if err != nil {
				return nil, err
			}
			tb, bb = tb+d, bb+b
		}
		fw := float64(env.sizes.FieldWrites)
		tSmall = append(tSmall, float64(ts)/fw/1e3)
		tBig = append(tBig, float64(tb)/fw/1e3)
		bSmall = append(bSmall, bs/fw)
		bBig = append(bBig, bb/fw)
	}
	fields := groupThousands(int64(env.sizes.BigMapFields))
	note := fmt.Sprintf("one node, sync on; maps filled through Node.JoinClient in chunks of 5,000 fields; then, alternately, %d writes of a new LWW field into the %s-field map and into a one-field map through Node.Apply (as node/cost_test.go); mean per write, median over the repetitions.", env.sizes.FieldWrites, fields)
	return []row{
		{Metric: "time of one field write into a " + fields + "-field map", Lattice: median(tBig), Base: median(tSmall), Unit: "µs", BaseName: "one-field map", Target: "<= 1.5", Note: note},
		{Metric: "bytes written by one field write into a " + fields + "-field map", Lattice: median(bBig), Base: median(bSmall), Unit: "B", BaseName: "one-field map", Target: "<= 1.5", Note: "the same writes; lattice_bytes_written_total per commit (deterministic)."},
	}, nil
}

// bytesWritten is what n's commits have written to Badger so far
// (lattice_bytes_written_total).
func bytesWritten(n *node.Node) (float64, error) {
	mfs, err := n.Metrics().Registry().Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == "lattice_bytes_written_total" && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue(), nil
		}
	}
	return 0, errors.New("no lattice_bytes_written_total")
}

// fillMap gives key a map of fields LWW fields, joined in chunks of 5,000
// as one client's deltas.
func fillMap(n *node.Node, key string, fields int) error {
	writer := uuid.New()
	o := crdt.NewObject()
	acc := crdt.NewObject()
	var clk clientClock
	flush := func() error {
		err := n.JoinClient(context.Background(), writer, key, acc)
		acc = crdt.NewObject()
		return err
	}
	for i := 0; i < fields; i++ {
		d, err := o.Apply(writer, clk.now(), crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{fmt.Sprintf("f%06d", i)}, Value: crdt.MustInt(int64(i % 64))})
		if err != nil {
			return err
		}
		acc.Join(d)
		if (i+1)%5000 == 0 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if !acc.IsEmpty() {
		return flush()
	}
	return nil
}
