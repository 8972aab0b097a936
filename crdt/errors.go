package crdt

import "errors"

// Sentinel errors. Every error the package returns wraps one of them, with
// context, so callers (the node's HTTP and WebSocket layers) can map them to
// documented codes with errors.Is.
var (
	// ErrInvalid: malformed input, from a decoder or an operation's fields.
	ErrInvalid = errors.New("crdt: invalid input")
	// ErrWrongType: an operation of one type on an object or map field of another.
	ErrWrongType = errors.New("crdt: wrong type")
	// ErrInvalidOp: an operation its type does not have, such as decrementing a G-counter.
	ErrInvalidOp = errors.New("crdt: invalid operation")
	// ErrVersion: an encoding version this build does not know.
	ErrVersion = errors.New("crdt: unknown encoding version")
	// ErrLimit: input larger than a stated decoding limit.
	ErrLimit = errors.New("crdt: decoding limit exceeded")
	// ErrSeqExhausted: a replica has minted MaxSeq dots for one object.
	ErrSeqExhausted = errors.New("crdt: dot sequence exhausted")
	// ErrForgedDot: a client's delta carries another replica's write, or
	// re-sends a dot with a payload other than the one stored under it.
	ErrForgedDot = errors.New("crdt: delta carries a write its sender did not make")
	// ErrOutOfRange: a counter total would pass MaxSafeInt (2^53-1), the
	// largest integer every client (JavaScript's numbers) holds exactly.
	ErrOutOfRange = errors.New("crdt: out of range")
	// ErrUnseenDots: a client's delta covers dots of other replicas that
	// the receiver has not received yet. Retryable: once they arrive, the
	// same delta is accepted.
	ErrUnseenDots = errors.New("crdt: delta covers dots not received yet")
	// ErrCounterBehind: a client's new counter entry holds lower totals
	// than an earlier entry of the same client still stored. It is invalid
	// (ErrInvalid too) unless a remove of that entry the client made or
	// saw is still on its way: the client's deltas may reach the store out
	// of order, so a receiver may wait for one before refusing.
	ErrCounterBehind = errors.New("crdt: counter entry below its writer's stored one")
	// ErrClientBase: a client's delta carries a counter base (a fold,
	// fold.go), which only nodes make. Never retryable. The client rule
	// returns it wrapped with ErrForgedDot (a fold is a write the client
	// did not make), so a receiver that has no code of its own for it
	// answers as for a forged dot.
	ErrClientBase = errors.New("crdt: a client may not fold counter entries")
)
