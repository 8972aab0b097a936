// counter_leaf.js: a counter's leaf kept by writer, as crdt/counter_leaf.go
// keeps it in Go, so that an increment into a counter of many writers reads
// and writes that writer's entries and the sums, never the other writers'.
//
// A writer may have a base (crdt/fold.go): an entry with base: true holding
// its totals when a node folded it into the node's fold replica. The writer
// then adds its latest entry's totals less the base's (counterShare).

import { compareEntryDot } from './crdt_context.js';

/**
 * counterShare is what one writer's entries add to a counter, [p, n]: its
 * latest entry's totals less its base's, nothing if the base is its latest.
 */
export function counterShare(es) {
  let last = null;
  let base = null;
  for (const e of es) {
    if (e.base) base = e;
    if (!last || e.s > last.s) last = e;
  }
  if (!last || last.base) return [0, 0];
  if (!base) return [last.p, last.n];
  const sub = (x, y) => (x < y ? 0 : x - y);
  return [sub(last.p, base.p), sub(last.n, base.n)];
}

// compareBase orders two bases of one writer: the later sequence wins, then
// (forged input only) the greater totals.
function compareBase(a, b) {
  if (a.s !== b.s) return a.s < b.s ? -1 : 1;
  if (a.p !== b.p) return a.p < b.p ? -1 : 1;
  if (a.n !== b.n) return a.n < b.n ? -1 : 1;
  return 0;
}

/** splitBases returns [raw entries, bases] of es. */
export function splitBases(es) {
  const raw = [];
  const bases = [];
  for (const e of es) (e.base ? bases : raw).push(e);
  return [raw, bases];
}

/**
 * withBases puts bases into raw (sorted by dot): each writer's greatest base,
 * and of its raw entries those after it (crdt/fold.go withBases).
 */
export function withBases(raw, bases) {
  const best = new Map();
  for (const b of bases) {
    const cur = best.get(b.r);
    if (!cur || compareBase(b, cur) > 0) best.set(b.r, b);
  }
  const out = raw.filter((e) => {
    const b = best.get(e.r);
    return !b || e.s > b.s;
  });
  out.push(...best.values());
  return out.sort(compareEntryDot);
}

/** normalizeCounter gives a counter leaf's entries the form a join leaves them in. */
export function normalizeCounter(es) {
  if (!es.some((e) => e.base)) return es;
  const [raw, bases] = splitBases(es);
  return withBases(raw, bases);
}

/**
 * CounterLeaf is a counter leaf in memory: each writer's entries (sorted by
 * sequence), the sums of every writer's latest entry as BigInts (exact
 * however many writers), and the whole list in dot order, built on demand.
 * It reads like a plain leaf ({path, entries}); entries are immutable.
 */
export class CounterLeaf {
  constructor(path, entries) {
    this.path = path;
    this.by = new Map(); // replica -> entries of that writer, by sequence
    this.p = 0n;
    this.n = 0n;
    this._list = null;
    for (const e of entries) {
      let es = this.by.get(e.r);
      if (!es) this.by.set(e.r, (es = []));
      es.push(e);
    }
    for (const es of this.by.values()) this._count(es, 1n);
    this._list = entries.length > 0 ? entries : null;
  }

  // _count adds (sign 1n) or takes out (-1n) a writer's share.
  _count(es, sign) {
    if (es.length === 0) return;
    const [p, n] = counterShare(es);
    this.p += sign * BigInt(p);
    this.n += sign * BigInt(n);
  }

  /** entries is every entry in dot order (replica, then sequence). */
  get entries() {
    if (this._list === null) {
      const rs = [...this.by.keys()].sort();
      this._list = [];
      for (const r of rs) this._list.push(...this.by.get(r));
    }
    return this._list;
  }

  /** replica returns r's entries, [] if none. */
  replica(r) {
    return this.by.get(r) || [];
  }

  /** set replaces r's entries, sorted by sequence. */
  set(r, es) {
    this._count(this.replica(r), -1n);
    this._count(es, 1n);
    if (es.length === 0) this.by.delete(r);
    else this.by.set(r, es);
    this._list = null;
  }

  clone() {
    const c = new CounterLeaf(this.path, []);
    for (const [r, es] of this.by) c.by.set(r, es);
    c.p = this.p;
    c.n = this.n;
    c._list = this._list;
    return c;
  }
}
