// crdt_context.js: dots, entries and the causal context (crdt/dot.go,
// crdt/leaf.go, crdt/context.go)
//
// An entry is {r, s, p, n, w, l, v}: the dot (replica, seq) and the payload
// its leaf kind uses (P and N for counters, w and l the LWW timestamp, v the
// value); unused fields are 0 or null. A counter writer's base (fold.go:
// totals a node folded into its fold replica) carries base: true.
// Entries are never modified in place.
//
// Part of the CRDT core; crdt.js is its entry point and describes how values
// are represented.

import { compareValues, encodeValue } from './crdt_value.js';
import { compareTimestamps } from './crdt_clock.js';

export function compareDot(ar, as, br, bs) {
  if (ar !== br) return ar < br ? -1 : 1;
  return as < bs ? -1 : as > bs ? 1 : 0;
}
export const compareEntryDot = (a, b) => compareDot(a.r, a.s, b.r, b.s);

export function entry(r, s, p = 0, n = 0, w = 0, l = 0, v = null) {
  return { r, s, p, n, w, l, v };
}

// comparePayload orders entries carrying the same dot; only forged input has
// two, and keeping the greater keeps join a semilattice even then.
export function comparePayload(a, b) {
  if (!!a.base !== !!b.base) return a.base ? 1 : -1;
  if (a.p !== b.p) return a.p < b.p ? -1 : 1;
  if (a.n !== b.n) return a.n < b.n ? -1 : 1;
  const c = compareTimestamps({ wall: a.w, logical: a.l }, { wall: b.w, logical: b.l });
  if (c !== 0) return c;
  if (a.or !== b.or || a.os !== b.os) return compareDot(a.or || '', a.os || 0, b.or || '', b.os || 0);
  return compareValues(a.v, b.v);
}

function sameEntry(a, b) {
  return a.r === b.r && a.s === b.s && !!a.base === !!b.base && a.p === b.p && a.n === b.n && a.w === b.w && a.l === b.l &&
    encodeValue(a.v) === encodeValue(b.v) && a.len === b.len && a.or === b.or && a.os === b.os && a.left === b.left;
}

export function sameEntries(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!sameEntry(a[i], b[i])) return false;
  return true;
}

// ---------------------------------------------------------------------------
// Causal context (crdt/context.go)

const REPLICA_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** isReplicaId reports whether s is a lowercase UUID, the only replica id form on the wire. */
export function isReplicaId(s) {
  return typeof s === 'string' && REPLICA_RE.test(s);
}

/**
 * Context is a causal context: a version vector plus a cloud of dots seen out
 * of order. It keeps Go's invariant that vv[r]+1 is never in the cloud and no
 * cloud dot is at or below vv[r], so equal dot sets have equal encodings.
 */
export class Context {
  constructor() {
    this.vv = new Map(); // replica -> highest seq with every lower one seen
    this.cloud = new Map(); // replica -> Set of seqs
  }

  contains(r, s) {
    if (s >= 1 && s <= (this.vv.get(r) || 0)) return true;
    const c = this.cloud.get(r);
    return c !== undefined && c.has(s);
  }

  add(r, s) {
    if (s === 0 || this.contains(r, s)) return;
    if (s === (this.vv.get(r) || 0) + 1) {
      this.vv.set(r, s);
      this._compact(r);
      return;
    }
    let c = this.cloud.get(r);
    if (!c) this.cloud.set(r, (c = new Set()));
    c.add(s);
  }

  /** max is the highest sequence seen from r, in the vector or the cloud. */
  max(r) {
    let m = this.vv.get(r) || 0;
    const c = this.cloud.get(r);
    if (c) for (const s of c) if (s > m) m = s;
    return m;
  }

  join(o) {
    const touched = new Set();
    for (const [r, s] of o.vv) {
      if (s > (this.vv.get(r) || 0)) {
        this.vv.set(r, s);
        touched.add(r);
      }
    }
    for (const [r, seqs] of o.cloud) {
      for (const s of seqs) {
        if (!this.contains(r, s)) {
          let c = this.cloud.get(r);
          if (!c) this.cloud.set(r, (c = new Set()));
          c.add(s);
          touched.add(r);
        }
      }
    }
    for (const r of touched) this._compact(r);
  }

  // _compact moves the cloud dots of r that the vector reaches into it and
  // drops the ones it covers.
  _compact(r) {
    const c = this.cloud.get(r);
    if (!c) return;
    let top = this.vv.get(r) || 0;
    while (c.has(top + 1)) {
      c.delete(top + 1);
      top++;
    }
    if (top > 0) this.vv.set(r, top);
    for (const s of c) if (s <= top) c.delete(s);
    if (c.size === 0) this.cloud.delete(r);
  }

  clone() {
    const n = new Context();
    for (const [r, s] of this.vv) n.vv.set(r, s);
    for (const [r, c] of this.cloud) n.cloud.set(r, new Set(c));
    return n;
  }

  isEmpty() {
    return this.vv.size === 0 && this.cloud.size === 0;
  }

  /** ranges calls fn(r, lo, hi) for every run of dots held: one per vector entry, one per cloud dot. */
  ranges(fn) {
    for (const [r, s] of this.vv) if (s > 0) fn(r, 1, s);
    for (const [r, c] of this.cloud) for (const s of c) fn(r, s, s);
  }

  /** toWire is the canonical {vv, cloud} of the JSON encoding. */
  toWire() {
    const vv = [...this.vv].filter(([, s]) => s > 0).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const cloud = [];
    for (const [r, c] of this.cloud) for (const s of c) cloud.push([r, s]);
    cloud.sort((a, b) => compareDot(a[0], a[1], b[0], b[1]));
    return { vv, cloud };
  }
}
