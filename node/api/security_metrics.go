package api

import "github.com/prometheus/client_golang/prometheus"

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

// The label values of the security counters, as their help texts list
// them.
var (
	authFailureReasons = []string{"missing", "invalid", "expired", "forbidden", "replica"}
	limitNames         = []string{"frame_size", "subscriptions", "rate", "connections", "origin", "body_size"}
)
