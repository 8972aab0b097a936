package store

import (
	"context"
	"errors"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lattice-sync/lattice/crdt"
)

// untilSeen runs try, a client delta's submission for key, and while it
// fails with a crdt.UnseenError waits for the dots it names: after each
// commit that brought state from peers it reads key's meta (a point read,
// not a trip through the committer) and submits again only once they are
// all here, until UnseenDotsWait has passed. The delta waits on the
// client's own goroutine and holds nothing but a slot: one of
// MaxWaitingDeltas node-wide, and one of its connection's share (see
// WithWaitShare). It is never stored until it passes the rule. A delta
// refused with crdt.ErrCounterBehind waits the same way, retried after
// each commit that joined new state.
func (s *Store) untilSeen(ctx context.Context, key string, try func() error) error {
	err := try()
	if errors.Is(err, crdt.ErrCounterBehind) {
		// The same client's remove of the entry it is below may be in
		// flight on another of its connection's goroutines: retry after
		// each commit that joined new state; if none helps in time, the
		// delta is refused (invalid_delta).
		return s.waitArrivals(ctx, err, nil, func() (error, bool) {
			err := try()
			return err, !errors.Is(err, crdt.ErrCounterBehind)
		})
	}
	var unseen *crdt.UnseenError
	if !errors.As(err, &unseen) {
		return err
	}
	return s.waitArrivals(ctx, err, s.metrics.unseenRefused, func() (error, bool) {
		if !s.covered(key, unseen) {
			return err, false
		}
		if err = try(); !errors.As(err, &unseen) {
			return err, true
		}
		return err, false // other dots are missing now: wait for those
	})
}

// waitArrivals calls step after every commit that joined new state (and
// once at once), until step says it is done or UnseenDotsWait has passed,
// holding one of MaxWaitingDeltas slots meanwhile; err is what stands if
// it never is, counted in refused.
func (s *Store) waitArrivals(ctx context.Context, err error, refused prometheus.Counter, step func() (error, bool)) error {
	count := func() {
		if refused != nil {
			refused.Inc()
		}
	}
	if s.cfg.UnseenDotsWait == 0 {
		return err
	}
	release, ok := s.takeWaitSlot(ctx)
	if !ok {
		count()
		return err
	}
	defer release()
	// The first tick is the deadline; the clock is Config.Clock, so a
	// test's manual clock decides it.
	deadline := s.cfg.Clock.NewTicker(s.cfg.UnseenDotsWait)
	defer deadline.Stop()
	for {
		arrived := s.arrived()
		e, done := step()
		if done {
			return e
		}
		err = e
		select {
		case <-arrived:
		case <-deadline.C():
			deadline.Done() // handled: the delta is refused
			count()
			return err
		case <-ctx.Done():
			return err
		case <-s.quit:
			return ErrClosed
		}
	}
}

// covered reports whether key's stored context holds every dot e names.
func (s *Store) covered(key string, e *crdt.UnseenError) bool {
	covered := false
	err := s.db.View(func(txn *badger.Txn) error {
		sm, _, err := openMeta(readKV{txn}, key)
		if err != nil {
			return err
		}
		covered = e.CoveredBy(&sm.m)
		return sm.m.Ctx.Err()
	})
	return err == nil && covered
}

// waitShareKey carries a connection's share of waiting slots in a context.
type waitShareKey struct{}

// WithWaitShare gives every delta submitted with the returned context one
// pool of at most n waiting slots, so that one connection cannot take all
// of MaxWaitingDeltas from the others.
func WithWaitShare(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, waitShareKey{}, make(chan struct{}, n))
}

// takeWaitSlot takes a node-wide slot and, if ctx carries one, a slot of
// its connection's share; false if either is full.
func (s *Store) takeWaitSlot(ctx context.Context) (release func(), ok bool) {
	share, _ := ctx.Value(waitShareKey{}).(chan struct{})
	if share != nil {
		select {
		case share <- struct{}{}:
		default:
			return nil, false
		}
	}
	if s.waiting.Add(1) > int64(s.cfg.MaxWaitingDeltas) {
		s.waiting.Add(-1)
		if share != nil {
			<-share
		}
		return nil, false
	}
	return func() {
		s.waiting.Add(-1)
		if share != nil {
			<-share
		}
	}, true
}

// arrived returns a channel closed by the next commit that joins state
// from peers.
func (s *Store) arrived() <-chan struct{} {
	s.arrivalsMu.Lock()
	defer s.arrivalsMu.Unlock()
	return s.arrivals
}

// noteArrivals wakes the deltas waiting for dots; the committer calls it
// after a commit that joined peers' state.
func (s *Store) noteArrivals() {
	s.arrivalsMu.Lock()
	close(s.arrivals)
	s.arrivals = make(chan struct{})
	s.arrivalsMu.Unlock()
}
