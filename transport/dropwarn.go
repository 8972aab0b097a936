package transport

import (
	"log/slog"
	"time"
)

// deadNodeReclaimTime is how long a dead node's name stays its own before a
// node at another address may claim it.
const deadNodeReclaimTime = 5 * time.Second

// dropWarnEvery spaces the warnings about messages a peer could not be sent:
// a failing peer fails every send, and one line per frame would bury the log.
const dropWarnEvery = 10 * time.Second

// dropWarner aggregates send failures to one peer into one warning per
// dropWarnEvery, with the number of messages dropped since the last one. It
// belongs to one send loop and needs no lock.
type dropWarner struct {
	last    time.Time
	pending int
}

func (w *dropWarner) drop(log *slog.Logger, peer string, n int, err error) {
	w.pending += n
	now := time.Now()
	if !w.last.IsZero() && now.Sub(w.last) < dropWarnEvery {
		return
	}
	log.Warn("transport: dropping messages", "peer", peer, "count", w.pending, "err", err,
		"note", "further failures to this peer are summed into one line per 10s")
	w.last, w.pending = now, 0
}
