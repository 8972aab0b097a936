package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lattice-sync/lattice/crdt"
)

// Metrics are the node's Prometheus collectors, on a registry of the node's
// own so that several nodes can live in one process (tests, the demo).
type Metrics struct {
	reg *prometheus.Registry

	ops               *prometheus.CounterVec
	commits           prometheus.Counter
	overlapped        prometheus.Counter
	bytesWritten      prometheus.Counter
	batchSize         prometheus.Histogram
	duplicates        prometheus.Counter
	clockSkewRejected prometheus.Counter
	deltasSent        prometheus.Counter
	deltasReceived    prometheus.Counter
	bytesSent         *prometheus.CounterVec
	bytesReceived     *prometheus.CounterVec
	aeRounds          prometheus.Counter
	members           prometheus.Gauge
	peerLag           *prometheus.GaugeVec
	logTruncated      prometheus.Counter
	unseenRefused     prometheus.Counter
	peerTasksDropped  prometheus.Counter
}

func newMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
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
		deltasSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_deltas_sent_total", Help: "Log entries sent to peers (push and anti-entropy).",
		}),
		deltasReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_deltas_received_total", Help: "Log entries received from peers.",
		}),
		bytesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lattice_peer_bytes_sent_total", Help: "Bytes sent to peers, by message kind.",
		}, []string{"kind"}),
		bytesReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lattice_peer_bytes_received_total", Help: "Bytes received from peers, by message kind.",
		}, []string{"kind"}),
		aeRounds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_anti_entropy_rounds_total", Help: "Anti-entropy requests sent.",
		}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lattice_members", Help: "Peers known, reachable or not.",
		}),
		logTruncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_log_entries_truncated_total", Help: "Log entries dropped past LogRetention; a peer that needs them gets state instead.",
		}),
		peerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lattice_peer_lag_entries", Help: "Log entries this node holds that a peer lacked at its last report.",
		}, []string{"peer"}),
		peerTasksDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_peer_tasks_dropped_total",
			Help: "Peer messages left unanswered because that peer already had maxPeerTasks waiting; anti-entropy asks again.",
		}),
		unseenRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_unseen_dots_refused_total",
			Help: "Client deltas refused because their context covered dots not received here in time.",
		}),
	}
	// Every operation a client can send shows from the start, at 0.
	for _, p := range operationLabels {
		m.ops.WithLabelValues(p.Type.String(), p.Kind.String())
	}
	m.reg.MustRegister(m.unseenRefused, m.ops, m.commits, m.overlapped, m.bytesWritten, m.batchSize, m.duplicates, m.clockSkewRejected,
		m.deltasSent, m.deltasReceived, m.bytesSent, m.bytesReceived, m.aeRounds, m.members, m.peerLag, m.logTruncated, m.peerTasksDropped)
	return m
}

// Registry is where the node's collectors live; the HTTP layer serves it
// and may register its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// securityMetrics count refusals by auth and by limits, so an operator sees
// an attack or a misconfigured client. Registered once per node; the HTTP
// API and the WebSocket endpoint share them.
type securityMetrics struct {
	authFailures *prometheus.CounterVec
	limitHits    *prometheus.CounterVec
}

func registerSecurityMetrics(reg *prometheus.Registry) *securityMetrics {
	m := &securityMetrics{
		authFailures: registerOnce(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lattice_auth_failures_total",
			Help: "Requests and messages refused by auth, by endpoint (http, ws) and reason (missing, invalid, expired, forbidden, replica).",
		}, []string{"endpoint", "reason"})),
		limitHits: registerOnce(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lattice_limit_hits_total",
			Help: "Limits hit, by limit (frame_size, subscriptions, rate, connections, origin, body_size).",
		}, []string{"limit"})),
	}
	// Every label set known up front shows in /metrics from the start, at
	// 0, so that a rate() or an alert over it has a series before the
	// first event.
	for _, endpoint := range []string{"http", "ws"} {
		for _, reason := range authFailureReasons {
			m.authFailures.WithLabelValues(endpoint, reason)
		}
	}
	for _, limit := range limitNames {
		m.limitHits.WithLabelValues(limit)
	}
	return m
}

// operationLabels are lattice_operations_total's label sets: every
// operation of every type (docs/api.md, POST /v1/objects/{key}).
var operationLabels = []crdt.Op{
	{Type: crdt.TypePNCounter, Kind: crdt.OpInc}, {Type: crdt.TypePNCounter, Kind: crdt.OpDec},
	{Type: crdt.TypeGCounter, Kind: crdt.OpInc},
	{Type: crdt.TypeORSet, Kind: crdt.OpAdd}, {Type: crdt.TypeORSet, Kind: crdt.OpRemove},
	{Type: crdt.TypeLWW, Kind: crdt.OpSet}, {Type: crdt.TypeMVRegister, Kind: crdt.OpSet},
	{Type: crdt.TypeEWFlag, Kind: crdt.OpEnable}, {Type: crdt.TypeEWFlag, Kind: crdt.OpDisable},
	{Type: crdt.TypeORMap, Kind: crdt.OpDelete},
}

// The label values of the security counters, as their help texts list
// them.
var (
	authFailureReasons = []string{"missing", "invalid", "expired", "forbidden", "replica"}
	limitNames         = []string{"frame_size", "subscriptions", "rate", "connections", "origin", "body_size"}
)
