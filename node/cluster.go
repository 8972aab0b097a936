package node

import (
	"sort"
	"time"

	"github.com/lattice-sync/lattice/crdt"
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

// MemberInfo is one peer as this node sees it.
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

func vvJSON(v crdt.VersionVector) map[string]uint64 {
	out := map[string]uint64{}
	for r, s := range v {
		out[r.String()] = s
	}
	return out
}

// Cluster returns this node's view of the cluster.
func (n *Node) Cluster() ClusterInfo {
	ours := n.VersionVector()
	ci := ClusterInfo{Name: n.cfg.Name, ID: n.st.ID().String(), Cluster: n.cfg.ClusterID, HTTP: n.cfg.AdvertiseHTTP, VV: vvJSON(ours), Members: []MemberInfo{}}
	r := n.repl.Load()
	if r == nil {
		return ci
	}
	for _, p := range r.net.Peers() {
		mi := MemberInfo{Name: p.Name, Addr: p.Addr, HTTP: p.Meta, Reachable: p.Reachable}
		r.mu.Lock()
		if info := r.peers[p.Name]; info != nil {
			mi.ID = info.id.String()
			if info.vv != nil {
				mi.VV = vvJSON(info.vv)
				mi.Lag = lag(ours, info.vv)
			}
			seen := info.seen
			mi.LastSeen = &seen
		}
		r.mu.Unlock()
		ci.Members = append(ci.Members, mi)
	}
	sort.Slice(ci.Members, func(i, j int) bool { return ci.Members[i].Name < ci.Members[j].Name })
	return ci
}
