package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
)

// Wire format of what Memberlist sends over memberlist's reliable channel.
// memberlist hands the receiver bytes without saying who sent them, so every
// frame names its sender:
//
//	frame   = kind:byte  uvarint(len(from)) from  body
//	batch   body = 1*( uvarint(len(payload)) payload )
//	leave   body = (empty)
//
// The receiver switches on the first byte, so new kinds can be added without
// breaking old ones: an unknown kind is an error, not a crash. Frames arrive
// from the network and are untrusted: decodeFrame checks every length against
// what is left of the frame before using it.
type frameKind byte

const (
	// frameBatch carries one or more payloads, coalesced from a peer queue so
	// a burst costs one TCP connection instead of one per message.
	frameBatch frameKind = 1
	// frameLeave says the sender is leaving gracefully, so that the receiver
	// reports EventLeave rather than EventUnreachable when memberlist later
	// reports the node gone (memberlist's NotifyLeave cannot tell the two apart).
	frameLeave frameKind = 2
)

const (
	// maxNameLen bounds node names so a frame header stays small.
	maxNameLen = 512
	// maxFrameSize is the largest frame accepted: a full batch (whose encoded
	// payloads the sender keeps within MaxMessageSize, except that a single
	// payload of MaxMessageSize still gets its length prefix) plus the header.
	maxFrameSize = 1 + binary.MaxVarintLen64 + maxNameLen + binary.MaxVarintLen64 + MaxMessageSize
)

var errMalformed = errors.New("transport: malformed frame")

// frame is a validated, decoded frame. body aliases the decoded buffer.
type frame struct {
	kind frameKind
	from string
	body []byte
}

// batchEntrySize is what one payload adds to a batch body.
func batchEntrySize(payload []byte) int {
	return uvarintLen(uint64(len(payload))) + len(payload)
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// appendFrameHeader appends the kind and the sender's name.
func appendFrameHeader(dst []byte, kind frameKind, from string) []byte {
	dst = append(dst, byte(kind))
	dst = binary.AppendUvarint(dst, uint64(len(from)))
	return append(dst, from...)
}

// appendBatch appends a batch frame holding payloads, in order.
func appendBatch(dst []byte, from string, payloads [][]byte) []byte {
	dst = appendFrameHeader(dst, frameBatch, from)
	for _, p := range payloads {
		dst = binary.AppendUvarint(dst, uint64(len(p)))
		dst = append(dst, p...)
	}
	return dst
}

// appendLeave appends a leave frame.
func appendLeave(dst []byte, from string) []byte {
	return appendFrameHeader(dst, frameLeave, from)
}

// decodeFrame validates b completely before returning, so a frame is either
// delivered whole or not at all. It allocates only the sender's name (at most
// maxNameLen bytes): payloads are yielded as sub-slices of b.
func decodeFrame(b []byte) (frame, error) {
	if len(b) > maxFrameSize {
		return frame{}, fmt.Errorf("%w: %d bytes exceeds %d", errMalformed, len(b), maxFrameSize)
	}
	if len(b) == 0 {
		return frame{}, fmt.Errorf("%w: empty", errMalformed)
	}
	kind := frameKind(b[0])
	name, rest, err := readChunk(b[1:], maxNameLen)
	if err != nil {
		return frame{}, fmt.Errorf("%w: sender name: %w", errMalformed, err)
	}
	if len(name) == 0 {
		return frame{}, fmt.Errorf("%w: empty sender name", errMalformed)
	}
	f := frame{kind: kind, from: string(name), body: rest}
	switch kind {
	case frameBatch:
		if len(rest) == 0 {
			return frame{}, fmt.Errorf("%w: batch without payloads", errMalformed)
		}
		for i := 0; len(rest) > 0; i++ {
			if _, rest, err = readChunk(rest, MaxMessageSize); err != nil {
				return frame{}, fmt.Errorf("%w: payload %d: %w", errMalformed, i, err)
			}
		}
	case frameLeave:
		if len(rest) != 0 {
			return frame{}, fmt.Errorf("%w: %d trailing bytes after leave", errMalformed, len(rest))
		}
	default:
		return frame{}, fmt.Errorf("%w: unknown kind %d", errMalformed, kind)
	}
	return f, nil
}

// payloads yields the payloads of a batch decoded by decodeFrame, as
// sub-slices of the decoded buffer: copy them to keep them.
func (f frame) payloads() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		rest := f.body
		for len(rest) > 0 {
			var p []byte
			p, rest, _ = readChunk(rest, MaxMessageSize) // validated by decodeFrame
			if !yield(p) {
				return
			}
		}
	}
}

// readChunk reads a uvarint length and that many bytes, refusing lengths over
// limit or past the end of b.
func readChunk(b []byte, limit int) (chunk, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, nil, errors.New("bad length prefix")
	}
	b = b[k:]
	if n > uint64(limit) {
		return nil, nil, fmt.Errorf("length %d exceeds limit %d", n, limit)
	}
	if n > uint64(len(b)) {
		return nil, nil, fmt.Errorf("length %d exceeds remaining %d bytes", n, len(b))
	}
	return b[:n:n], b[n:], nil
}
