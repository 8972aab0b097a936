package replica

import "github.com/prometheus/client_golang/prometheus"

// Metrics are replication's metrics.
type Metrics struct {
	deltasSent       prometheus.Counter
	deltasReceived   prometheus.Counter
	bytesSent        *prometheus.CounterVec
	bytesReceived    *prometheus.CounterVec
	aeRounds         prometheus.Counter
	members          prometheus.Gauge
	peerLag          *prometheus.GaugeVec
	peerTasksDropped prometheus.Counter
}

// NewMetrics makes replication's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
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
		peerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lattice_peer_lag_entries", Help: "Log entries this node holds that a peer lacked at its last report.",
		}, []string{"peer"}),
		peerTasksDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_peer_tasks_dropped_total",
			Help: "Peer messages left unanswered because that peer already had maxPeerTasks waiting; anti-entropy asks again.",
		}),
	}
	reg.MustRegister(m.deltasSent, m.deltasReceived, m.bytesSent, m.bytesReceived, m.aeRounds, m.members, m.peerLag, m.peerTasksDropped)
	return m
}
