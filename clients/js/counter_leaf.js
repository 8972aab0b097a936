// counter_leaf.js: a counter's leaf kept by writer, as crdt/counter_leaf.go
// keeps it in Go, so that an increment into a counter of many writers reads
// and writes that writer's entries and the sums, never the other writers'.

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

  // _count adds (sign 1n) or takes out (-1n) a writer's latest totals.
  _count(es, sign) {
    if (es.length === 0) return;
    const last = es[es.length - 1];
    this.p += sign * BigInt(last.p);
    this.n += sign * BigInt(last.n);
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
