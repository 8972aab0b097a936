// Package transport moves opaque byte payloads between named Lattice nodes and
// reports who is a member and who is reachable.
//
// It is plumbing only. It must not interpret payloads (it has no idea what a
// CRDT, a delta or a version vector is), must not persist anything, and must
// not retry on the caller's behalf: a lost message is repaired by the node's
// anti-entropy, which runs when a peer becomes reachable again. Send never
// blocks on the network; every queue is bounded and reports ErrQueueFull
// instead of growing.
//
// Four implementations share the Transport interface:
//
//   - Memberlist: the production transport. Membership and failure detection
//     come from hashicorp/memberlist; payloads ride its reliable (TCP)
//     channel, coalesced per peer into frames of up to MaxMessageSize.
//   - MemTransport (from a MemNetwork): an in-process network for tests, with
//     network-level partitions.
//   - SimTransport (from a SimNet): an in-process network for deterministic
//     simulation, which delivers nothing until the simulation steps it, and
//     then one message at a time, chosen (and lost or duplicated) by a
//     seeded generator.
//   - Faulty: wraps any Transport and drops, duplicates, reorders and delays
//     outbound messages and cuts peers off, under a fixed random seed. Tests and
//     the demo's admin panel use it to cause the failures the node must survive.
//
// A typical node wires them up like this:
//
//	ml, err := transport.NewMemberlist(transport.MemberlistConfig{
//		Name:     "node-1",
//		BindAddr: "0.0.0.0:7946",
//	})
//	if err != nil { ... }
//	t := transport.NewFaulty(ml, seed) // only when fault injection is enabled
//	if err := t.Start(node); err != nil { ... } // node implements Receiver
//	if _, err := ml.Join([]string{"10.0.0.2:7946"}); err != nil { ... }
//	...
//	err = t.Send("node-2", delta) // queued; nil does not mean delivered
//	...
//	t.Close() // leaves the cluster gracefully
//
// Delivery guarantees are deliberately weak, the same for every implementation:
// at most once per Send (a Faulty may duplicate), no delivery after a peer is
// reported Unreachable or Leave, and order only where a type documents it.
package transport
