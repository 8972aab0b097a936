package store

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lattice-sync/lattice/crdt"
)

// Metrics are the store's and the committer's metrics.
type Metrics struct {
	ops               *prometheus.CounterVec
	commits           prometheus.Counter
	overlapped        prometheus.Counter
	bytesWritten      prometheus.Counter
	batchSize         prometheus.Histogram
	duplicates        prometheus.Counter
	clockSkewRejected prometheus.Counter
	unseenRefused     prometheus.Counter
	logTruncated      prometheus.Counter
	folds             prometheus.Counter
}

// NewMetrics makes the store's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lattice_operations_total", Help: "Operations applied at this node, by type and op.",
		}, []string{"type", "op"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_commits_total", Help: "Group commits (Badger transactions) of the committer.",
		}),
		overlapped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_commits_overlapped_total", Help: "Group commits prepared while the one before them was syncing.",
		}),
		bytesWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_bytes_written_total", Help: "Key and value bytes the committer wrote to Badger.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lattice_commit_batch_size", Help: "Writes per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_duplicate_deltas_total", Help: "Log entries received that were already here.",
		}),
		clockSkewRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_clock_skew_rejected_total", Help: "Peer clocks ignored for running too far ahead.",
		}),
		unseenRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_unseen_dots_refused_total",
			Help: "Client deltas refused because their context covered dots not received here in time.",
		}),
		logTruncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_log_entries_truncated_total", Help: "Log entries dropped past LogRetention; a peer that needs them gets state instead.",
		}),
		folds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_folds_total", Help: "Counter writers this node folded into its fold replica.",
		}),
	}
	// Every operation a client can send shows from the start, at 0.
	for _, p := range operationLabels {
		m.ops.WithLabelValues(p.Type.String(), p.Kind.String())
	}
	reg.MustRegister(m.unseenRefused, m.ops, m.commits, m.overlapped, m.bytesWritten, m.batchSize, m.duplicates, m.clockSkewRejected, m.logTruncated, m.folds)
	return m
}

var operationLabels = []crdt.Op{
	{Type: crdt.TypePNCounter, Kind: crdt.OpInc}, {Type: crdt.TypePNCounter, Kind: crdt.OpDec},
	{Type: crdt.TypeGCounter, Kind: crdt.OpInc},
	{Type: crdt.TypeORSet, Kind: crdt.OpAdd}, {Type: crdt.TypeORSet, Kind: crdt.OpRemove},
	{Type: crdt.TypeLWW, Kind: crdt.OpSet}, {Type: crdt.TypeMVRegister, Kind: crdt.OpSet},
	{Type: crdt.TypeEWFlag, Kind: crdt.OpEnable}, {Type: crdt.TypeEWFlag, Kind: crdt.OpDisable},
	{Type: crdt.TypeORMap, Kind: crdt.OpDelete},
}
