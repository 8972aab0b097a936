package crdt

import (
	"maps"
	"slices"
)

// CausalContext is the set of dots a replica has seen for one object: a
// compact version vector plus a cloud of dots that arrived out of order.
// Adding or joining compacts it, so a replica that has seen every dot keeps
// one number per writer and no per-element tombstones.
//
// The zero value is an empty context ready to use.
type CausalContext struct {
	vv    VersionVector
	cloud map[Dot]struct{}
	lazy  *lazyState // nil unless made by NewLazyContext (context_lazy.go)
}

// Contains reports whether d has been seen.
func (c *CausalContext) Contains(d Dot) bool {
	c.touch(d.Replica)
	if c.vv.Contains(d) {
		return true
	}
	_, ok := c.cloud[d]
	return ok
}

// covers reports whether every sequence lo..hi of r has been seen. It
// costs at most one probe per cloud dot, whatever the range's length (a
// client's context may claim 2^48 of them).
func (c *CausalContext) covers(r ReplicaID, lo, hi uint64) bool {
	c.touch(r)
	if hi <= c.vv[r] {
		return true
	}
	lo = max(lo, c.vv[r]+1)
	if hi-lo >= uint64(len(c.cloud)) {
		return false
	}
	for s := lo; s <= hi; s++ {
		if _, ok := c.cloud[Dot{Replica: r, Seq: s}]; !ok {
			return false
		}
	}
	return true
}

// intersects reports whether any sequence lo..hi of r has been seen.
func (c *CausalContext) intersects(r ReplicaID, lo, hi uint64) bool {
	c.touch(r)
	if c.vv[r] >= lo {
		return true
	}
	if hi-lo < uint64(len(c.cloud)) {
		for s := lo; s <= hi; s++ {
			if _, ok := c.cloud[Dot{Replica: r, Seq: s}]; ok {
				return true
			}
		}
		return false
	}
	for d := range c.cloud {
		if d.Replica == r && d.Seq >= lo && d.Seq <= hi {
			return true
		}
	}
	return false
}

// Add records d as seen.
func (c *CausalContext) Add(d Dot) {
	if d.Seq == 0 || c.Contains(d) {
		return
	}
	c.mark(d.Replica)
	if d.Seq == c.vv[d.Replica]+1 {
		if c.vv == nil {
			c.vv = VersionVector{}
		}
		c.vv[d.Replica] = d.Seq
		c.compactReplica(d.Replica)
		return
	}
	if c.cloud == nil {
		c.cloud = map[Dot]struct{}{}
	}
	c.cloud[d] = struct{}{}
}

// Max returns the highest sequence seen from r, in the vector or the cloud.
func (c *CausalContext) Max(r ReplicaID) uint64 {
	c.touch(r)
	m := c.vv[r]
	for d := range c.cloud {
		if d.Replica == r && d.Seq > m {
			m = d.Seq
		}
	}
	return m
}

// Next mints the next dot for r and records it. A replica only mints dots
// for itself, so its own dots stay contiguous.
func (c *CausalContext) Next(r ReplicaID) (Dot, error) {
	m := c.Max(r)
	if m >= MaxSeq {
		return Dot{}, ErrSeqExhausted
	}
	d := Dot{Replica: r, Seq: m + 1}
	c.Add(d)
	return d, nil
}

// Join adds every dot of o to c and compacts.
func (c *CausalContext) Join(o *CausalContext) {
	if o == nil {
		return
	}
	if c.vv == nil && len(o.vv) > 0 {
		c.vv = VersionVector{}
	}
	// The replicas to compact, each once: a delta names one or two.
	var small [4]ReplicaID
	touched := small[:0]
	var many map[ReplicaID]struct{}
	touch := func(r ReplicaID) {
		switch {
		case many != nil:
			many[r] = struct{}{}
		case slices.Contains(touched, r):
		case len(touched) < len(small):
			touched = append(touched, r)
		default:
			many = map[ReplicaID]struct{}{r: {}}
			for _, t := range touched {
				many[t] = struct{}{}
			}
		}
	}
	for r, s := range o.vv {
		c.touch(r)
		if s > c.vv[r] {
			c.vv[r] = s
			touch(r)
			c.mark(r)
		}
	}
	for d := range o.cloud {
		if !c.Contains(d) {
			c.mark(d.Replica)
			if c.cloud == nil {
				c.cloud = map[Dot]struct{}{}
			}
			c.cloud[d] = struct{}{}
			touch(d.Replica)
		}
	}
	if many != nil {
		for r := range many {
			c.compactReplica(r)
		}
		return
	}
	for _, r := range touched {
		c.compactReplica(r)
	}
}

// compactReplica moves the cloud dots of r that the vector now reaches into
// the vector, and drops the ones it covers.
func (c *CausalContext) compactReplica(r ReplicaID) {
	if len(c.cloud) == 0 {
		return
	}
	for {
		next := Dot{Replica: r, Seq: c.vv[r] + 1}
		if _, ok := c.cloud[next]; !ok {
			break
		}
		delete(c.cloud, next)
		if c.vv == nil {
			c.vv = VersionVector{}
		}
		c.vv[r] = next.Seq
	}
	if len(c.cloud) == 0 {
		return
	}
	for d := range c.cloud {
		if d.Replica == r && d.Seq <= c.vv[r] {
			delete(c.cloud, d)
		}
	}
}

// Clone returns an independent copy.
func (c *CausalContext) Clone() *CausalContext {
	n := &CausalContext{lazy: c.lazy.clone()}
	if len(c.vv) > 0 {
		n.vv = c.vv.Clone()
	}
	if len(c.cloud) > 0 {
		n.cloud = maps.Clone(c.cloud)
	}
	return n
}

// VersionVector returns a copy of the compact part.
func (c *CausalContext) VersionVector() VersionVector { return c.vv.Clone() }

// Cloud returns the dots seen out of order, in canonical order.
func (c *CausalContext) Cloud() []Dot { return c.appendCloud(make([]Dot, 0, len(c.cloud))) }

// appendCloud appends the cloud's dots to ds, in canonical order.
func (c *CausalContext) appendCloud(ds []Dot) []Dot {
	n := len(ds)
	for d := range c.cloud {
		ds = append(ds, d)
	}
	slices.SortFunc(ds[n:], compareDot)
	return ds
}

// IsEmpty reports whether no dot has been seen.
func (c *CausalContext) IsEmpty() bool {
	for _, s := range c.vv {
		if s > 0 {
			return false
		}
	}
	return len(c.cloud) == 0
}

// Equal reports whether both contexts hold the same dots.
func (c *CausalContext) Equal(o *CausalContext) bool {
	return c.vv.Compare(o.vv) == Equal && maps.Equal(c.cloud, o.cloud)
}

// eachRange calls fn with every run of dots the context holds: (r, lo, hi)
// covers sequences lo..hi of replica r. The vector gives one run per
// replica; each cloud dot is a run of one.
func (c *CausalContext) eachRange(fn func(r ReplicaID, lo, hi uint64)) {
	for r, s := range c.vv {
		if s > 0 {
			fn(r, 1, s)
		}
	}
	for d := range c.cloud {
		fn(d.Replica, d.Seq, d.Seq)
	}
}

// Size is the number of numbers the context keeps: vector entries plus
// cloud dots. It is what the context costs, not how many dots it covers.
func (c *CausalContext) Size() int { return len(c.vv) + len(c.cloud) }
