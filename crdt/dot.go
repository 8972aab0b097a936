package crdt

import "fmt"

// MaxSeq bounds dot sequence numbers so that a dot packs into one uvarint
// together with its replica's index in an encoding's replica table, and so
// that every sequence is exact in a JavaScript number. It is one below 2^48
// because seq*n+index must stay below 2^64 for a table of up to 2^16
// replicas (larger tables write the two apart, see packedReplicas).
const MaxSeq = 1<<48 - 1

// Dot identifies one mutation: the replica that made it and that replica's
// sequence number for the object. Sequences start at 1 and have no gaps at
// the replica that mints them.
type Dot struct {
	Replica ReplicaID
	Seq     uint64
}

func (d Dot) String() string { return fmt.Sprintf("%s:%d", d.Replica, d.Seq) }

// compareDot orders dots by replica, then sequence.
func compareDot(a, b Dot) int {
	if c := compareReplica(a.Replica, b.Replica); c != 0 {
		return c
	}
	switch {
	case a.Seq < b.Seq:
		return -1
	case a.Seq > b.Seq:
		return 1
	}
	return 0
}
