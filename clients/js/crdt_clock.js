// crdt_clock.js: timestamps and the hybrid logical clock (crdt/hlc.go)
//
// Part of the CRDT core; crdt.js is its entry point and describes how values
// are represented.

import { MAX_LOGICAL } from './crdt_types.js';

/** compareTimestamps orders hybrid timestamps {wall, logical}. */
export function compareTimestamps(a, b) {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1;
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1;
  return 0;
}

export function successor(t) {
  return t.logical === MAX_LOGICAL ? { wall: t.wall + 1, logical: 0 } : { wall: t.wall, logical: t.logical + 1 };
}

/**
 * Clock is a hybrid logical clock (Kulkarni et al.). It never reads the time:
 * callers pass physical time in milliseconds. Readings never go backwards and
 * a reading taken after update(remote) exceeds remote, so a replica whose
 * wall clock is behind still stamps its later writes after what it has seen.
 */
export class Clock {
  constructor(last = { wall: 0, logical: 0 }) {
    this.last = { wall: last.wall, logical: last.logical };
  }

  /** now issues a timestamp for a local event at physical time pt. */
  now(pt) {
    this.last = pt > this.last.wall ? { wall: pt, logical: 0 } : successor(this.last);
    return this.last;
  }

  /** update folds in a timestamp seen in a message and returns the receive event's timestamp. */
  update(pt, remote) {
    const m = compareTimestamps(remote, this.last) > 0 ? remote : this.last;
    this.last = pt > m.wall ? { wall: pt, logical: 0 } : successor(m);
    return this.last;
  }
}
