package node

import (
	"github.com/lattice-sync/lattice/node/replica"
	"github.com/lattice-sync/lattice/node/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the node's Prometheus collectors, on a registry of the node's
// own so that several nodes can live in one process (tests, the demo).
type Metrics struct {
	reg  *prometheus.Registry
	st   *store.Metrics   // the store's and the committer's
	repl *replica.Metrics // replication's
}

func newMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
	}
	m.st = store.NewMetrics(m.reg)
	m.repl = replica.NewMetrics(m.reg)
	return m
}

// Registry is where the node's collectors live; the HTTP layer serves it
// and may register its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }
