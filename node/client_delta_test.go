package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
)

// clientDelta makes a delta as a client replica would, on its own copy.
func clientDelta(t *testing.T, o *crdt.Object, r crdt.ReplicaID, wall int64, op crdt.Op) *crdt.Object {
	t.Helper()
	d, err := o.Apply(r, crdt.Timestamp{Wall: wall}, op)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestJoinClientChecks(t *testing.T) {
	n, err := Open(testConfig(t, "n"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	client, other := uuid.New(), uuid.New()
	now := time.Now().UnixMilli()
	inc := crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1}

	d := clientDelta(t, crdt.NewObject(), client, now, inc)
	for i := 0; i < 3; i++ { // a resend after a lost ack has one effect
		if err := n.JoinClient(ctx, client, "c", d); err != nil {
			t.Fatal(err)
		}
	}
	if o, _ := n.Get("c"); o.Value() != int64(1) {
		t.Fatalf("counter is %v after three sends of one increment", o.Value())
	}
	if vv := n.VersionVector(); vv[n.ID()] != 1 {
		t.Fatalf("resends were logged: own log at %d, want 1", vv[n.ID()])
	}
	// other types "a" into a text; a client's piece that starts at that
	// known dot but runs on into other's next sequences forges them.
	if err := n.JoinClient(ctx, other, "t", clientDelta(t, crdt.NewObject(), other, now, crdt.Op{Type: crdt.TypeText, Kind: crdt.OpInsert, Value: crdt.String("a")})); err != nil {
		t.Fatal(err)
	}
	longPiece, err := crdt.UnmarshalObjectJSON([]byte(`{"types":["text"],"leaves":[[["text",["` + other.String() + `",1]],[["` + other.String() + `",1,3,null,"abc"]]]],"ctx":{"vv":[],"cloud":[]}}`))
	if err != nil {
		t.Fatal(err)
	}
	digest, _, _ := n.Digest()

	cases := []struct {
		name  string
		key   string
		delta *crdt.Object
		want  error
	}{
		{"forged dot", "c", clientDelta(t, crdt.NewObject(), other, now, inc), ErrForgedDot},
		{"text piece running past a known dot", "t", longPiece, ErrForgedDot},
		{"wrong type", "c", clientDelta(t, crdt.NewObject(), client, now, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("x")}), crdt.ErrWrongType},
		{"clock an hour ahead", "r", clientDelta(t, crdt.NewObject(), client, now+time.Hour.Milliseconds(), crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Value: crdt.String("x")}), crdt.ErrInvalid},
		{"no type", "e", crdt.NewObject(), crdt.ErrInvalid},
		{"invalid key", "", d, ErrInvalidKey},
	}
	for _, c := range cases {
		err := n.JoinClient(ctx, client, c.key, c.delta)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if after, _, _ := n.Digest(); after != digest {
		t.Fatal("a refused delta changed the stored state")
	}
}
