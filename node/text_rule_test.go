package node

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
)

// A text's pieces merge and split as it is edited (crdt/text.go), so a
// resent text delta need not look like what is stored under its dots: the
// rule must compare characters, not pieces. An honest client that resends
// after a lost ack, whatever happened in between, is acknowledged.
func TestRuleTextResendAfterEdits(t *testing.T) {
	n, err := Open(testConfig(t, "n"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	c, other := uuid.New(), uuid.New()
	local := crdt.NewObject()
	now := time.Now().UnixMilli()
	edit := func(r crdt.ReplicaID, o *crdt.Object, op crdt.Op) *crdt.Object {
		d, err := o.Apply(r, crdt.Timestamp{Wall: now}, op)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ins := func(i int64, s string) crdt.Op {
		return crdt.Op{Type: crdt.TypeText, Kind: crdt.OpInsert, Index: i, Value: crdt.String(s)}
	}
	d1 := edit(c, local, ins(0, "abc"))
	d2 := edit(c, local, ins(3, "def"))
	for _, d := range []*crdt.Object{d1, d2} {
		if err := n.JoinClient(ctx, c, "t", d); err != nil {
			t.Fatal(err)
		}
	}
	// Someone else deletes "cd", splitting the stored piece.
	seen, _ := n.Get("t")
	del := edit(other, seen, crdt.Op{Type: crdt.TypeText, Kind: crdt.OpDelete, Index: 2, Count: 2})
	if err := n.JoinClient(ctx, other, "t", del); err != nil {
		t.Fatal(err)
	}
	// The first client's acks were lost: it resends both.
	for i, d := range []*crdt.Object{d1, d2, d1} {
		if err := n.JoinClient(ctx, c, "t", d); err != nil {
			t.Fatalf("resend %d refused: %v", i, err)
		}
	}
	o, _ := n.Get("t")
	if got := o.Value(); got != "abef" {
		t.Fatalf("text %q after resends, want \"abef\"", got)
	}
	// A resend with another character under a seen dot is still forged.
	forged := edit(c, crdt.NewObject(), ins(0, "xbc"))
	if err := n.JoinClient(ctx, c, "t", forged); err == nil {
		t.Fatal("a resend with another character under a seen dot was accepted")
	}
}
