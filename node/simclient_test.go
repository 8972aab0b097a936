package node

import (
	"context"
	"errors"
	"math/rand/v2"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/testkit"
)

// simClient is the simulation's client replica: it keeps its own copy of
// each key it writes, reads the node's state into that copy, makes each
// operation on the copy, and sends the node only the delta, as the Go and
// JS clients do. A delta the node refuses is forgotten, so the client
// never reuses what it did not get acknowledged.
type simClient struct {
	id     crdt.ReplicaID
	copies map[string]*crdt.Object
}

func newSimClient(rng *rand.Rand) *simClient {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	id, _ := uuid.FromBytes(b[:]) // 16 bytes: cannot fail
	return &simClient{id: id, copies: map[string]*crdt.Object{}}
}

// write performs op on key through n, as a client delta stamped wall.
func (c *simClient) write(ctx context.Context, n *Node, key string, op crdt.Op, wall int64) error {
	cur, err := n.Get(key)
	if err != nil {
		return err
	}
	cp := c.copies[key]
	if cp == nil {
		cp = crdt.NewObject()
	}
	cp.Join(cur)
	c.copies[key] = cp
	d, err := cp.Clone().Apply(c.id, crdt.Timestamp{Wall: wall}, op)
	if err != nil {
		return err
	}
	if err := n.JoinClient(ctx, c.id, key, d); err != nil {
		return err
	}
	cp.Join(d)
	return nil
}

// simClassify says what a simulated call's error proves: the simulation's
// calls are synchronous and never time out, so every error is a refusal
// that changed nothing, except one the node could not explain.
func simClassify(err error) testkit.Outcome {
	switch {
	case err == nil:
		return testkit.OK
	case errors.Is(err, crdt.ErrUnseenDots), errors.Is(err, crdt.ErrForgedDot):
		return testkit.Fail
	}
	return classify(err)
}
