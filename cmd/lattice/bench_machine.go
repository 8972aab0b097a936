package main

// The machine beside the node: the load average at the start and the end
// of a run and the disk's own fsync latency in the scratch directory, so a
// reader can tell the node's figures from its neighbours'.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// loadAvg is /proc/loadavg's 1, 5 and 15 minute figures.
type loadAvg [3]float64

func readLoadAvg() (loadAvg, error) {
	var l loadAvg
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l, fmt.Errorf("load average: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return l, fmt.Errorf("load average: unexpected /proc/loadavg %q", b)
	}
	for i := range l {
		if l[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return l, fmt.Errorf("load average: %w", err)
		}
	}
	return l, nil
}

func (l loadAvg) String() string {
	return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2])
}

// fsyncStats are the disk's own sync latencies, in ms.
type fsyncStats struct {
	p50, p99 float64
	n        int
}

// recordSize is the size of one fsync probe record: about a client frame.
const recordSize = 64

// measureFsync appends n small records to a file in dir, syncing after
// each, as Badger's value log does with SyncWrites, and returns the
// latency percentiles of the write and sync together.
func measureFsync(dir string, n int) (fsyncStats, error) {
	if n <= 0 {
		return fsyncStats{}, errors.New("fsync probe: no records")
	}
	path := filepath.Join(dir, fmt.Sprintf("fsync-probe-%d", time.Now().UnixNano()))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fsyncStats{}, fmt.Errorf("fsync probe: %w", err)
	}
	defer os.Remove(path)
	defer f.Close()
	rec := make([]byte, recordSize)
	lat := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		rec[0] = byte(i)
		start := time.Now()
		if _, err := f.Write(rec); err != nil {
			return fsyncStats{}, fmt.Errorf("fsync probe: %w", err)
		}
		if err := f.Sync(); err != nil {
			return fsyncStats{}, fmt.Errorf("fsync probe: %w", err)
		}
		lat = append(lat, float64(time.Since(start))/float64(time.Millisecond))
	}
	return fsyncStats{p50: pct(lat, 50), p99: pct(lat, 99), n: n}, nil
}

// machineRows are the rows of the machine beside the node, scenario 0.
func machineRows(start, end loadAvg, fs fsyncStats) []row {
	scen := "0. machine"
	loadNote := "/proc/loadavg's 1-minute figure (1, 5 and 15 minutes: %s) when the run %s; the machine has %d cores, so a load above that means runnable threads waited for a core."
	fsNote := fmt.Sprintf("%d records of %d B appended to a file in the scratch directory (the filesystem the nodes' Badger directories are on), each followed by fsync, timed from the write to the sync's return, before the first scenario.", fs.n, recordSize)
	return []row{
		{Scenario: scen, Metric: "load average at the start", Lattice: start[0], Note: fmt.Sprintf(loadNote, start, "started", runtime.NumCPU())},
		{Scenario: scen, Metric: "load average at the end", Lattice: end[0], Note: fmt.Sprintf(loadNote, end, "ended", runtime.NumCPU())},
		{Scenario: scen, Metric: "disk fsync p50 (write + fsync of a small record)", Lattice: fs.p50, Unit: "ms", Note: fsNote},
		{Scenario: scen, Metric: "disk fsync p99 (write + fsync of a small record)", Lattice: fs.p99, Unit: "ms", Note: fsNote},
	}
}
