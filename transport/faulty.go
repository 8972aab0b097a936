package transport

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// maxFaultDelay caps Delay and Jitter: longer than any failure detector's
// timeout is pointless, and an accidental "1h" would look like a hang.
const maxFaultDelay = time.Minute

// minHold is the shortest time a reordered message is held when no Delay is
// configured; without a floor, reordering would be invisible unless the next
// Send came within the same instant.
const minHold = 20 * time.Millisecond

// Faults says what a Faulty does to traffic. The zero value does nothing.
type Faults struct {
	Drop      float64       `json:"drop"`      // probability 0..1 a message is dropped
	Duplicate float64       `json:"duplicate"` // probability a message is delivered twice
	Reorder   float64       `json:"reorder"`   // probability a message is held back and delivered after the next one to the same peer (or after at most Delay*2 if none follows)
	Delay     time.Duration `json:"delay"`     // added latency
	Jitter    time.Duration `json:"jitter"`    // uniform extra latency in [0, Jitter)
	Cut       []string      `json:"cut"`       // peer names this node can neither send to nor receive from
}

// Validate reports every invalid field, each by its JSON name, so an admin
// endpoint can return the error as is.
func (f *Faults) Validate() error {
	var errs []error
	for _, p := range []struct {
		name string
		v    float64
	}{{"drop", f.Drop}, {"duplicate", f.Duplicate}, {"reorder", f.Reorder}} {
		if !(p.v >= 0 && p.v <= 1) { // also rejects NaN
			errs = append(errs, fmt.Errorf("%s: %v is not a probability in [0, 1]", p.name, p.v))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"delay", f.Delay}, {"jitter", f.Jitter}} {
		if d.v < 0 || d.v > maxFaultDelay {
			errs = append(errs, fmt.Errorf("%s: %v is outside [0, %v]", d.name, d.v, maxFaultDelay))
		}
	}
	for i, name := range f.Cut {
		if name == "" {
			errs = append(errs, fmt.Errorf("cut[%d]: empty peer name", i))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("transport: invalid faults: %w", errors.Join(errs...))
	}
	return nil
}

// FaultyStats counts what a Faulty did, for tests and the demo's panel.
type FaultyStats struct {
	Sent       uint64 `json:"sent"`        // Sends passed on (immediately, delayed or after reordering)
	Dropped    uint64 `json:"dropped"`     // Sends dropped by Drop
	Duplicated uint64 `json:"duplicated"`  // Sends delivered twice
	Reordered  uint64 `json:"reordered"`   // Sends held back behind a later one
	Delayed    uint64 `json:"delayed"`     // deliveries (copies) scheduled later
	CutDropped uint64 `json:"cut_dropped"` // messages dropped, either way, because of Cut
	SendErrors uint64 `json:"send_errors"` // delayed or held deliveries the inner transport refused
}

// Faulty wraps any Transport and injects faults: it drops, duplicates,
// reorders and delays outbound messages and cuts peers off in both directions.
// Use it around a MemTransport for deterministic tests of the node, and around
// a Memberlist when the demo's admin switch is on.
//
// Decisions come from one math/rand/v2 source seeded by the seed, drawn under
// a mutex in Send, so the same sequence of Sends from one goroutine with the
// same Faults makes the same decisions. Timing (Delay, Jitter, holds) is
// real time, and therefore not deterministic, unless NewFaultyOn gives it a
// simulation's Scheduler.
//
// A message that is dropped, held or delayed makes Send return nil even if the
// inner transport would later refuse it; such refusals are counted in
// FaultyStats.SendErrors.
type Faulty struct {
	inner   Transport
	seed    int64
	minHold time.Duration // minHold, except in tests that must not race a hold timer
	events  *mailbox[Event]
	pump    sync.WaitGroup // event goroutine
	timers  sync.WaitGroup // one per scheduled callback not yet stopped or finished

	mu      sync.Mutex
	rng     *rand.Rand
	faults  Faults
	cut     map[string]bool
	reach   map[string]bool // the inner transport's view: member → reachable
	held    map[string]*heldMsg
	sched   Scheduler
	pending map[Timer]struct{}
	stats   FaultyStats
	recv    Receiver
	started bool
	closed  bool
}

// heldMsg is a message held back for reordering, with its delivery delays
// drawn when it was sent so that timers never consume randomness.
type heldMsg struct {
	payload []byte
	delays  []time.Duration // one per copy
	timer   Timer
}

var _ Transport = (*Faulty)(nil)

// NewFaulty wraps inner. It injects nothing until SetFaults. Its delays
// and holds run on the machine's clock.
func NewFaulty(inner Transport, seed int64) *Faulty {
	return NewFaultyOn(WallScheduler, inner, seed)
}

// NewFaultyOn is NewFaulty with delays and holds run by sched: a
// simulation's, so that they pass on its clock.
func NewFaultyOn(sched Scheduler, inner Transport, seed int64) *Faulty {
	return &Faulty{
		sched:   sched,
		inner:   inner,
		seed:    seed,
		minHold: minHold,
		events:  newMailbox[Event](0), // only ever forced: events are never dropped
		rng:     rand.New(rand.NewPCG(uint64(seed), 0x1a771ce)),
		cut:     make(map[string]bool),
		reach:   make(map[string]bool),
		held:    make(map[string]*heldMsg),
		pending: make(map[Timer]struct{}),
	}
}

// Seed is the seed given to NewFaulty; tests log it to replay a failure.
func (f *Faulty) Seed() int64 { return f.seed }

// Faults returns the current faults.
func (f *Faulty) Faults() Faults {
	f.mu.Lock()
	defer f.mu.Unlock()
	fs := f.faults
	fs.Cut = slices.Clone(fs.Cut)
	return fs
}

// Stats returns the counters so far.
func (f *Faulty) Stats() FaultyStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// SetFaults replaces the faults at runtime. Cutting a reachable peer emits
// EventUnreachable; healing one the inner transport can reach emits
// EventReachable, so the node runs anti-entropy with it.
func (f *Faulty) SetFaults(fs Faults) error {
	if err := fs.Validate(); err != nil {
		return err
	}
	cut := make(map[string]bool, len(fs.Cut))
	for _, name := range fs.Cut {
		cut[name] = true
	}
	fs.Cut = sortedKeys(cut)

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	for _, name := range fs.Cut {
		if !f.cut[name] && f.reach[name] {
			f.emit(EventUnreachable, name)
		}
	}
	for _, name := range sortedKeys(f.cut) {
		if !cut[name] && f.reach[name] {
			f.emit(EventReachable, name)
		}
	}
	f.cut, f.faults = cut, fs
	return nil
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// LocalName implements Transport.
func (f *Faulty) LocalName() string { return f.inner.LocalName() }

// Start implements Transport. It starts the inner transport with a receiver
// that filters cut peers, and learns the inner transport's current view of
// reachability first, so that SetFaults knows which cuts and heals to report.
// What arrives before Start is up to the inner transport; events Faulty
// itself raises before Start (SetFaults) are buffered.
func (f *Faulty) Start(r Receiver) error {
	peers := f.inner.Peers()
	f.mu.Lock()
	if err := checkStart(f.started, f.closed); err != nil {
		f.mu.Unlock()
		return err
	}
	f.started, f.recv = true, r
	for _, p := range peers {
		f.reach[p.Name] = p.Reachable
	}
	f.pump.Add(1)
	go func() {
		defer f.pump.Done()
		f.events.drain(r.PeerEvent)
	}()
	f.mu.Unlock()
	if err := f.inner.Start(faultyInbound{f}); err != nil {
		return fmt.Errorf("transport: starting transport under faulty: %w", err)
	}
	return nil
}

// emit queues an event; called with mu held so events keep the order of the
// state changes behind them.
func (f *Faulty) emit(kind EventKind, peer string) {
	_ = f.events.force(Event{Kind: kind, Peer: peer}) // fails only once closed
}

// faultyInbound is the Receiver Faulty gives the inner transport: it drops
// what comes from cut peers and rewrites reachability events while a cut
// stands. It is a separate type so that Faulty itself is not a Receiver.
type faultyInbound struct{ f *Faulty }

func (in faultyInbound) Receive(from string, payload []byte) {
	f := in.f
	f.mu.Lock()
	cut, r := f.cut[from], f.recv
	if f.closed {
		r = nil
	}
	if cut {
		f.stats.CutDropped++
	}
	f.mu.Unlock()
	if !cut && r != nil {
		r.Receive(from, payload)
	}
}

func (in faultyInbound) PeerEvent(ev Event) {
	f := in.f
	f.mu.Lock()
	defer f.mu.Unlock()
	switch ev.Kind {
	case EventJoin, EventReachable:
		f.reach[ev.Peer] = true
	case EventUnreachable:
		f.reach[ev.Peer] = false
	case EventLeave:
		delete(f.reach, ev.Peer)
	}
	if f.cut[ev.Peer] {
		switch ev.Kind {
		case EventReachable, EventUnreachable:
			return // the cut already made it unreachable; healing will report it
		case EventJoin:
			f.emit(EventJoin, ev.Peer)
			f.emit(EventUnreachable, ev.Peer)
			return
		}
	}
	f.emit(ev.Kind, ev.Peer)
}

// Send implements Transport. It draws its random numbers in a fixed order
// (drop, duplicate, reorder, then jitter per copy) so decisions depend only on
// the seed, the Faults and the sequence of Sends.
func (f *Faulty) Send(to string, payload []byte) error {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if err := checkSend(closed, payload); err != nil {
		return err
	}
	if !f.isPeer(to) {
		return fmt.Errorf("%w: %q", ErrUnknownPeer, to)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	fs := f.faults
	if f.cut[to] {
		f.stats.CutDropped++
		return nil
	}
	drop := f.rng.Float64() < fs.Drop
	dup := f.rng.Float64() < fs.Duplicate
	reorder := f.rng.Float64() < fs.Reorder
	if drop {
		f.stats.Dropped++
		return nil
	}
	f.stats.Sent++
	copies := 1
	if dup {
		f.stats.Duplicated++
		copies = 2
	}
	delays := make([]time.Duration, copies)
	for i := range delays {
		delays[i] = fs.Delay
		if fs.Jitter > 0 {
			delays[i] += time.Duration(f.rng.Int64N(int64(fs.Jitter)))
		}
	}

	held := f.held[to]
	if reorder && held == nil {
		f.stats.Reordered++
		h := &heldMsg{payload: bytes.Clone(payload), delays: delays}
		h.timer = f.afterLocked(max(2*fs.Delay, f.minHold), func() {
			if f.held[to] == h { // not yet overtaken
				delete(f.held, to)
				f.deliverHeldLocked(to, h)
			}
		})
		f.held[to] = h
		return nil
	}
	err := f.deliverLocked(to, payload, delays)
	if held != nil { // this message overtook it; now it follows
		delete(f.held, to)
		f.stopLocked(held.timer)
		for i := range held.delays {
			held.delays[i] = max(held.delays[i], slices.Max(delays))
		}
		f.deliverHeldLocked(to, held)
	}
	return err
}

// deliverHeldLocked releases a held message. Its Send already returned, so a
// refusal can only be counted.
func (f *Faulty) deliverHeldLocked(to string, h *heldMsg) {
	if err := f.deliverLocked(to, h.payload, h.delays); err != nil {
		f.stats.SendErrors++
	}
}

// isPeer asks the inner transport, because a dropped or delayed message never
// reaches it to be refused. Called without mu: inner may take its own locks.
func (f *Faulty) isPeer(name string) bool {
	return slices.ContainsFunc(f.inner.Peers(), func(p Peer) bool { return p.Name == name })
}

// deliverLocked passes one copy per delay to the inner transport, at once for
// a zero delay. Called with mu held; inner.Send never blocks.
func (f *Faulty) deliverLocked(to string, payload []byte, delays []time.Duration) error {
	for _, d := range delays {
		if d == 0 {
			if err := f.inner.Send(to, payload); err != nil {
				return err
			}
			continue
		}
		f.stats.Delayed++
		msg := bytes.Clone(payload)
		f.afterLocked(d, func() {
			if f.cut[to] { // cut while in flight
				f.stats.CutDropped++
				return
			}
			if err := f.inner.Send(to, msg); err != nil {
				f.stats.SendErrors++
			}
		})
	}
	return nil
}

// afterLocked runs fn with mu held after d, unless Close comes first. Called
// with mu held, which also guarantees t is assigned before fn can read it.
func (f *Faulty) afterLocked(d time.Duration, fn func()) Timer {
	var t Timer
	f.timers.Add(1)
	t = f.sched.AfterFunc(d, func() {
		defer f.timers.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.closed {
			return
		}
		delete(f.pending, t)
		fn()
	})
	f.pending[t] = struct{}{}
	return t
}

// stopLocked cancels a timer from afterLocked, if it has not fired.
func (f *Faulty) stopLocked(t Timer) {
	delete(f.pending, t)
	if t.Stop() {
		f.timers.Done()
	}
}

// Peers implements Transport: the inner transport's peers, with cut peers
// unreachable.
func (f *Faulty) Peers() []Peer {
	ps := f.inner.Peers()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range ps {
		if f.cut[ps[i].Name] {
			ps[i].Reachable = false
		}
	}
	return ps
}

// Close implements Transport: it cancels every pending delivery (held and
// delayed messages are lost, as on a crash), waits for callbacks in flight,
// and closes the inner transport.
func (f *Faulty) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	for t := range f.pending {
		f.stopLocked(t)
	}
	clear(f.held)
	f.mu.Unlock()
	f.timers.Wait()
	err := f.inner.Close()
	f.events.close(true)
	f.pump.Wait()
	if err != nil {
		return fmt.Errorf("transport: closing transport under faulty: %w", err)
	}
	return nil
}
