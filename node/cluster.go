package node

import (
	"github.com/lattice-sync/lattice/node/api"
	"github.com/lattice-sync/lattice/node/store"
)

// Cluster returns this node's view of the cluster.
func (n *Node) Cluster() ClusterInfo {
	ours := n.VersionVector()
	ci := ClusterInfo{Name: n.cfg.Name, ID: n.st.ID().String(), Cluster: n.cfg.ClusterID, HTTP: n.cfg.AdvertiseHTTP, VV: store.VVJSON(ours), Members: []MemberInfo{}}
	r := n.repl.Load()
	if r == nil {
		return ci
	}
	for _, m := range r.Members(ours) {
		ci.Members = append(ci.Members, MemberInfo(m))
	}
	return ci
}

// MemberInfo is one peer in ClusterInfo (replication's view of it).
type MemberInfo = api.MemberInfo
