package transport

import (
	"sync/atomic"
)

// The memberlist transport's counters.

// MemberlistStats counts Memberlist's traffic, for /metrics and tests.
type MemberlistStats struct {
	FramesSent       uint64 `json:"frames_sent"`       // frames handed to memberlist successfully
	MessagesSent     uint64 `json:"messages_sent"`     // payloads in those frames
	MessagesDropped  uint64 `json:"messages_dropped"`  // payloads dropped: peer unreachable or send failed
	FramesReceived   uint64 `json:"frames_received"`   // well-formed frames received
	MessagesReceived uint64 `json:"messages_received"` // payloads delivered to the Receiver
	BadFrames        uint64 `json:"bad_frames"`        // malformed frames discarded
}

type memberlistCounters struct {
	framesSent, messagesSent, messagesDropped   atomic.Uint64
	framesReceived, messagesReceived, badFrames atomic.Uint64
}

// Stats returns the traffic counters so far.
func (m *Memberlist) Stats() MemberlistStats {
	c := &m.stats
	return MemberlistStats{
		FramesSent:       c.framesSent.Load(),
		MessagesSent:     c.messagesSent.Load(),
		MessagesDropped:  c.messagesDropped.Load(),
		FramesReceived:   c.framesReceived.Load(),
		MessagesReceived: c.messagesReceived.Load(),
		BadFrames:        c.badFrames.Load(),
	}
}
