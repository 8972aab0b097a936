package crdt

import (
	"slices"
)

// Ordering is how two version vectors relate.
type Ordering int

const (
	Equal      Ordering = iota // both saw exactly the same events
	Before                     // the receiver saw a strict subset of the argument's events
	After                      // the receiver saw a strict superset
	Concurrent                 // each saw something the other did not
)

func (o Ordering) String() string {
	switch o {
	case Equal:
		return "equal"
	case Before:
		return "before"
	case After:
		return "after"
	case Concurrent:
		return "concurrent"
	}
	return "invalid"
}

// VersionVector maps each replica to the highest sequence seen from it, with
// every lower sequence seen as well. A missing entry means zero. It is used
// both inside a CausalContext (per object, one entry per writer) and by the
// node as its resume cursor (one entry per node log).
type VersionVector map[ReplicaID]uint64

// Get returns the entry for r, zero if absent.
func (v VersionVector) Get(r ReplicaID) uint64 { return v[r] }

// Contains reports whether d is covered by the vector.
func (v VersionVector) Contains(d Dot) bool { return d.Seq != 0 && d.Seq <= v[d.Replica] }

// Compare says how v relates to o.
func (v VersionVector) Compare(o VersionVector) Ordering {
	less, greater := false, false
	for r, s := range v {
		if t := o[r]; s > t {
			greater = true
		} else if s < t {
			less = true
		}
	}
	for r, t := range o {
		if _, ok := v[r]; !ok && t > 0 {
			less = true
		}
	}
	switch {
	case less && greater:
		return Concurrent
	case less:
		return Before
	case greater:
		return After
	}
	return Equal
}

// Merge raises v to the pointwise maximum of v and o.
func (v VersionVector) Merge(o VersionVector) {
	for r, s := range o {
		if s > v[r] {
			v[r] = s
		}
	}
}

// Clone returns an independent copy.
func (v VersionVector) Clone() VersionVector {
	c := make(VersionVector, len(v))
	for r, s := range v {
		if s > 0 {
			c[r] = s
		}
	}
	return c
}

// Replicas returns the replicas with a non-zero entry, in canonical order.
func (v VersionVector) Replicas() []ReplicaID {
	rs := make([]ReplicaID, 0, len(v))
	for r, s := range v {
		if s > 0 {
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, compareReplica)
	return rs
}
