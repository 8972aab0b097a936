package crdt_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/lattice-sync/lattice/crdt"
)

// Fixed replica ids keep the examples' output stable; real replicas mint
// random UUIDs.
var (
	exampleAlice = crdt.ReplicaID{0xa1}
	exampleBob   = crdt.ReplicaID{0xb0}
	exampleCarol = crdt.ReplicaID{0xc0}
)

// exampleApply applies op and returns the delta, panicking on error:
// examples must show the happy path, and a panic fails them loudly.
func exampleApply(o *crdt.Object, r crdt.ReplicaID, now crdt.Timestamp, op crdt.Op) *crdt.Object {
	d, err := o.Apply(r, now, op)
	if err != nil {
		panic(err)
	}
	return d
}

// exampleJSON prints a plain value as JSON, whose map keys are sorted.
func exampleJSON(label string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s %s\n", label, b)
}

// Two replicas share a set, then one removes "milk" while the other adds it
// again and adds "eggs". The remove only covers the add it observed, so the
// concurrent add survives: the set is add-wins.
func Example_addWinsSet() {
	alice, bob := crdt.NewObject(), crdt.NewObject()
	t := crdt.Timestamp{Wall: 1_700_000_000_000}
	add := func(v string) crdt.Op { return crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String(v)} }

	bob.Join(exampleApply(alice, exampleAlice, t, add("milk")))
	bob.Join(exampleApply(alice, exampleAlice, t, add("bread")))

	// Concurrently, neither seeing the other's change:
	removed := exampleApply(alice, exampleAlice, t, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpRemove, Value: crdt.String("milk")})
	readded := exampleApply(bob, exampleBob, t, add("milk"))
	eggs := exampleApply(bob, exampleBob, t, add("eggs"))
	exampleJSON("alice before sync:", alice.Value())
	exampleJSON("bob before sync:  ", bob.Value())

	// Deltas can arrive in any order, and more than once.
	alice.Join(eggs)
	alice.Join(readded)
	alice.Join(readded)
	bob.Join(removed)
	// Elements read in canonical order, by their encoding, in which a
	// string's length comes before its bytes.
	exampleJSON("alice after sync: ", alice.Value())
	exampleJSON("bob after sync:   ", bob.Value())
	fmt.Println("equal:", alice.Equal(bob))
	// Output:
	// alice before sync: ["bread"]
	// bob before sync:   ["eggs","milk","bread"]
	// alice after sync:  ["eggs","milk","bread"]
	// bob after sync:    ["eggs","milk","bread"]
	// equal: true
}

// A map's fields are CRDTs of their own, addressed by a path. Here a card
// holds a counter, an LWW title and a set of tags. A delete of the whole
// card races with an increment of its counter: the update survives the
// remove, and the card comes back holding only what the remover had not
// seen, Bob's counter entry. That entry is Bob's running total for the
// counter, here just this one increment.
func Example_nestedMap() {
	alice, bob := crdt.NewObject(), crdt.NewObject()
	t := crdt.Timestamp{Wall: 1_700_000_000_000}
	for _, op := range []crdt.Op{
		{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"cards", "c1", "title"}, Value: crdt.String("Plan")},
		{Type: crdt.TypePNCounter, Kind: crdt.OpInc, Path: []string{"cards", "c1", "votes"}, By: 2},
		{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Path: []string{"cards", "c1", "tags"}, Value: crdt.String("urgent")},
	} {
		bob.Join(exampleApply(alice, exampleAlice, t, op))
	}
	exampleJSON("shared:", alice.Value())

	deleted := exampleApply(alice, exampleAlice, t, crdt.Op{Type: crdt.TypeORMap, Kind: crdt.OpDelete, Path: []string{"cards", "c1"}})
	voted := exampleApply(bob, exampleBob, t, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, Path: []string{"cards", "c1", "votes"}, By: 1})
	alice.Join(voted)
	bob.Join(deleted)
	exampleJSON("merged:", alice.Value())
	fmt.Println("equal:", alice.Equal(bob))
	// Output:
	// shared: {"cards":{"c1":{"tags":["urgent"],"title":"Plan","votes":2}}}
	// merged: {"cards":{"c1":{"votes":1}}}
	// equal: true
}

// A write supersedes every write its replica has seen, so timestamps only
// rank writes that did not see each other. Here Alice's clock runs an hour
// fast, and her title beats Carol's concurrent one. Bob, whose clock is
// right, sees Alice's title (not Carol's) and retitles the card. His write
// is causally later than the winner, so it must win too, although his clock
// reads earlier than both: it is stamped above every timestamp he has seen
// for the register.
func Example_lwwClockBehind() {
	alice, bob, carol := crdt.NewObject(), crdt.NewObject(), crdt.NewObject()
	const now, minute = 1_700_000_000_000, 60 * 1000
	title := func(v string) crdt.Op {
		return crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"title"}, Value: crdt.String(v)}
	}
	var aliceClock, bobClock, carolClock crdt.Clock

	draft := exampleApply(alice, exampleAlice, aliceClock.Now(now+60*minute), title("Draft"))
	other := exampleApply(carol, exampleCarol, carolClock.Now(now+30*minute), title("Other"))
	carol.Join(draft)
	exampleJSON("carol, having both:", carol.Value())

	bob.Join(draft)
	final := exampleApply(bob, exampleBob, bobClock.Now(now), title("Final"))
	for _, r := range []*crdt.Object{alice, bob, carol} {
		r.Join(draft)
		r.Join(other)
		r.Join(final)
	}
	exampleJSON("alice:", alice.Value())
	exampleJSON("bob:  ", bob.Value())
	exampleJSON("carol:", carol.Value())
	// Output:
	// carol, having both: {"title":"Draft"}
	// alice: {"title":"Final"}
	// bob:   {"title":"Final"}
	// carol: {"title":"Final"}
}

// Equal states encode to equal bytes, so replicas can compare a hash of
// their state instead of the state itself. Here two replicas reach the same
// state by different routes: their encodings and hashes match.
func Example_canonicalHash() {
	alice, bob := crdt.NewObject(), crdt.NewObject()
	t := crdt.Timestamp{Wall: 1_700_000_000_000}
	inc := crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 5}
	dec := crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpDec, By: 2}
	a1 := exampleApply(alice, exampleAlice, t, inc)
	a2 := exampleApply(alice, exampleAlice, t, inc)
	b1 := exampleApply(bob, exampleBob, t, dec)
	// Bob receives Alice's deltas out of order; the later one alone carries
	// her running total.
	bob.Join(a2)
	bob.Join(a1)
	alice.Join(b1)

	ab, err := alice.MarshalBinary()
	if err != nil {
		panic(err)
	}
	bb, err := bob.MarshalBinary()
	if err != nil {
		panic(err)
	}
	ha, hb := sha256.Sum256(ab), sha256.Sum256(bb)
	fmt.Println("values:", alice.Value(), bob.Value())
	fmt.Println("same bytes:", bytes.Equal(ab, bb))
	fmt.Println("same hash:", ha == hb)

	decoded, err := crdt.UnmarshalObject(ab)
	if err != nil {
		panic(err)
	}
	fmt.Println("decoded:", decoded.Value())
	// Output:
	// values: 8 8
	// same bytes: true
	// same hash: true
	// decoded: 8
}
