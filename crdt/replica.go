package crdt

import (
	"bytes"
	"fmt"

	"github.com/google/uuid"
)

// ReplicaID names a replica: a node or a client. Every dot is minted under
// one. Replica ids are UUIDs so that clients can name themselves offline
// without coordination.
type ReplicaID = uuid.UUID

// compareReplica orders replica ids by their bytes; it is the tie-break of
// last-writer-wins and the order of every canonical encoding.
func compareReplica(a, b ReplicaID) int { return bytes.Compare(a[:], b[:]) }

// ParseReplicaID parses the textual form of a replica id.
func ParseReplicaID(s string) (ReplicaID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return ReplicaID{}, fmt.Errorf("%w: replica id %q: %v", ErrInvalid, s, err)
	}
	return id, nil
}
