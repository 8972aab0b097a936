package replica

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// peerWork runs the work peers' messages ask for (anti-entropy answers,
// state-transfer steps, asks of our own) on a fixed number of goroutines,
// one task of a peer at a time and in the order its messages came, so that
// a peer, however fast it sends, holds at most one worker and a bounded
// queue. Tasks of a coalescing kind replace a waiting task of the same kind
// from the same peer: an anti-entropy answer computed from the peer's
// newest vector makes an older one redundant. A peer's queue that still
// overflows drops the new task (counted in lattice_peer_tasks_dropped_total):
// every such task belongs to a protocol that asks again.
type peerWork struct {
	log     *slog.Logger
	busy    *atomic.Int64 // the node's work under way: a task from its queueing until it has run
	dropped prometheus.Counter
	mu      sync.Mutex
	cond    *sync.Cond
	queues  map[string]*peerQueue
	ready   []string // peers with waiting tasks and no running one, in order
	stopped bool
	wg      sync.WaitGroup
}

// peerTaskKind names what a task does. Every kind but a state transfer's
// steps coalesces: a new task replaces a waiting one of the same kind.
type peerTaskKind int

const (
	taskDigests    peerTaskKind = iota // state transfer, receiving side: every chunk counts
	taskWants                          // state transfer, sending side: every chunk counts
	taskOffer                          // offer our state to a peer that needs it
	taskAnswer                         // answer a peer's vector
	taskAnswerFull                     // answer it, then send our full vector (flagFull)
	taskAsk                            // send a peer our vector
	taskAskFull                        // send it, asking for its full one back
)

func (k peerTaskKind) coalesces() bool { return k != taskDigests && k != taskWants }

type peerTask struct {
	kind peerTaskKind
	fn   func()
}

type peerQueue struct {
	tasks   []peerTask
	running bool
}

// peerWorkers is how many tasks run at once; maxPeerTasks bounds one
// peer's waiting tasks.
const (
	peerWorkers  = 4
	maxPeerTasks = 64
)

func newPeerWork(log *slog.Logger, busy *atomic.Int64, dropped prometheus.Counter) *peerWork {
	w := &peerWork{log: log, busy: busy, dropped: dropped, queues: map[string]*peerQueue{}}
	w.cond = sync.NewCond(&w.mu)
	w.wg.Add(peerWorkers)
	for i := 0; i < peerWorkers; i++ {
		go w.loop()
	}
	return w
}

// add queues fn for peer. It never blocks.
func (w *peerWork) add(peer string, kind peerTaskKind, fn func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	q := w.queues[peer]
	if q == nil {
		q = &peerQueue{}
		w.queues[peer] = q
	}
	if kind.coalesces() {
		for i := range q.tasks {
			if q.tasks[i].kind == kind {
				q.tasks[i].fn = fn
				return
			}
		}
	}
	if len(q.tasks) >= maxPeerTasks {
		w.dropped.Inc()
		w.log.Warn("peer sends faster than it is answered; dropping a task", "peer", peer)
		return
	}
	w.busy.Add(1) // until the task has run, or stop drops it
	q.tasks = append(q.tasks, peerTask{kind: kind, fn: fn})
	if !q.running && len(q.tasks) == 1 {
		w.ready = append(w.ready, peer)
		w.cond.Signal()
	}
}

func (w *peerWork) loop() {
	defer w.wg.Done()
	w.mu.Lock()
	for {
		for len(w.ready) == 0 && !w.stopped {
			w.cond.Wait()
		}
		if w.stopped {
			w.mu.Unlock()
			return
		}
		peer := w.ready[0]
		w.ready = w.ready[1:]
		q := w.queues[peer]
		t := q.tasks[0]
		q.tasks = q.tasks[1:]
		q.running = true
		w.mu.Unlock()

		t.fn()
		w.busy.Add(-1)

		w.mu.Lock()
		q.running = false
		switch {
		case len(q.tasks) > 0:
			w.ready = append(w.ready, peer)
			w.cond.Signal()
		default:
			delete(w.queues, peer)
		}
	}
}

// stop drops the waiting tasks and waits for the running ones.
func (w *peerWork) stop() {
	w.mu.Lock()
	w.stopped = true
	dropped := 0
	for _, q := range w.queues {
		dropped += len(q.tasks)
		q.tasks = nil
	}
	w.ready = nil
	w.cond.Broadcast()
	w.mu.Unlock()
	w.wg.Wait()
	w.busy.Add(-int64(dropped))
}
