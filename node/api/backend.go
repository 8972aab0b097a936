package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node/store"
)

// Backend is what the client API needs of the node it serves. The node
// makes one (Node.backend); a test may make one over a store of its own.
type Backend struct {
	Name      string // the node's, in connection names and answers
	ClusterID string // Config.ClusterID, told to clients in hello
	// Store is read and written directly: every write goes through its
	// committer.
	Store    *store.Store
	Presence *PresenceTable
	Registry *prometheus.Registry // metrics are registered and served here
	Logger   *slog.Logger
	Clock    store.Clock
	// Done is closed when the node closes: handlers answer 503 and
	// connections close.
	Done <-chan struct{}
	// Cluster is the node's view of its cluster (/v1/cluster).
	Cluster func() ClusterInfo
	// Observe registers fn for every committed change, after it is
	// durable, in commit order; fn runs on the committer and must not block.
	// A change's delta is decoded only when asked (store.Change.Delta).
	Observe func(fn func(store.Change))
	// Fold folds counter writer w of the root counter at key on this
	// node, by the fold rule (node/replica/fold.go; /v1/admin/fold):
	// store.ErrNotDecider, store.ErrFoldNotStable.
	Fold func(ctx context.Context, key string, w crdt.ReplicaID) (*crdt.Object, error)
}

// ClusterInfo is this node's view of the cluster, for /v1/cluster and the
// demo's panel.
type ClusterInfo struct {
	Name    string            `json:"name"`
	ID      string            `json:"id"`
	Cluster string            `json:"cluster,omitempty"` // Config.ClusterID
	HTTP    string            `json:"http,omitempty"`    // this node's advertised HTTP URL
	VV      map[string]uint64 `json:"vv"`                // node replica id -> log entries applied
	Members []MemberInfo      `json:"members"`
}

// MemberInfo is one peer in ClusterInfo, as this node sees it.
type MemberInfo struct {
	Name      string            `json:"name"`
	ID        string            `json:"id,omitempty"`
	Addr      string            `json:"addr,omitempty"`
	HTTP      string            `json:"http,omitempty"` // the peer's advertised HTTP URL (its transport meta)
	Reachable bool              `json:"reachable"`
	VV        map[string]uint64 `json:"vv,omitempty"` // as the peer last reported it
	Lag       uint64            `json:"lag"`          // our entries it lacked then
	LastSeen  *time.Time        `json:"last_seen,omitempty"`
}
