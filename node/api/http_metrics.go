package api

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// The HTTP API's Prometheus metrics.

// httpMetrics are the API's own collectors, on the node's registry.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func registerHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	return &httpMetrics{
		requests: registerOnce(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lattice_http_requests_total", Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"})),
		latency: registerOnce(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lattice_http_request_duration_seconds", Help: "HTTP request latency, by route pattern; writes include the group commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms to 4 s
		}, []string{"route"})),
	}
}

// registerOnce registers c, or returns the collector already registered
// under its name, so that two handlers on one node (a public and an admin
// listener) share their counters instead of panicking.
func registerOnce[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	var are prometheus.AlreadyRegisteredError
	if err := reg.Register(c); errors.As(err, &are) {
		return are.ExistingCollector.(C)
	} else if err != nil {
		panic(err) // our own names and labels: a bug, found by the first test
	}
	return c
}
