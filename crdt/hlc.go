package crdt

import "fmt"

// Timestamp is a hybrid logical clock reading (Kulkarni et al., "Logical
// Physical Clocks"): Wall is milliseconds since the Unix epoch as the
// issuing clock best knew it, Logical orders events within one Wall value.
// Last-writer-wins compares (Wall, Logical) and breaks a tie by the
// writer's replica id.
type Timestamp struct {
	Wall    int64
	Logical uint32
}

// Compare orders timestamps.
func (t Timestamp) Compare(o Timestamp) int {
	switch {
	case t.Wall < o.Wall:
		return -1
	case t.Wall > o.Wall:
		return 1
	case t.Logical < o.Logical:
		return -1
	case t.Logical > o.Logical:
		return 1
	}
	return 0
}

// IsZero reports whether t is the zero timestamp.
func (t Timestamp) IsZero() bool { return t == Timestamp{} }

// successor is the smallest timestamp greater than t.
func (t Timestamp) successor() Timestamp {
	if t.Logical == ^uint32(0) {
		return Timestamp{Wall: t.Wall + 1}
	}
	return Timestamp{Wall: t.Wall, Logical: t.Logical + 1}
}

func (t Timestamp) String() string { return fmt.Sprintf("%d.%d", t.Wall, t.Logical) }

// Clock is a hybrid logical clock. It never reads the time itself: callers
// pass the physical time, which is what keeps crdt/ pure. Timestamps it
// issues never go backwards, and a timestamp issued after observing another
// (through Update) is greater than it, however far behind the local
// physical clock is. Clock is not safe for concurrent use.
type Clock struct {
	last Timestamp
}

// Now issues a timestamp for a local event at physical time pt (ms).
func (c *Clock) Now(pt int64) Timestamp {
	if pt > c.last.Wall {
		c.last = Timestamp{Wall: pt}
	} else {
		c.last = c.last.successor()
	}
	return c.last
}

// Update folds in a timestamp seen in a message, at physical time pt, and
// returns the timestamp of the receive event, which is greater than both
// the previous reading and remote.
func (c *Clock) Update(pt int64, remote Timestamp) Timestamp {
	m := c.last
	if remote.Compare(m) > 0 {
		m = remote
	}
	if pt > m.Wall {
		c.last = Timestamp{Wall: pt}
	} else {
		c.last = m.successor()
	}
	return c.last
}

// Last returns the most recent timestamp issued, without advancing.
func (c *Clock) Last() Timestamp { return c.last }
