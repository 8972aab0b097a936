package node

import (
	"github.com/lattice-sync/lattice/node/replica"
	"github.com/lattice-sync/lattice/node/store"
)

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

// Cluster returns this node's view of the cluster.
func (n *Node) Cluster() ClusterInfo {
	ours := n.VersionVector()
	ci := ClusterInfo{Name: n.cfg.Name, ID: n.st.ID().String(), Cluster: n.cfg.ClusterID, HTTP: n.cfg.AdvertiseHTTP, VV: store.VVJSON(ours), Members: []MemberInfo{}}
	r := n.repl.Load()
	if r == nil {
		return ci
	}
	ci.Members = r.Members(ours)
	return ci
}

// MemberInfo is one peer in ClusterInfo (replication's view of it).
type MemberInfo = replica.MemberInfo
