// crdt_join.js: the join of one leaf's entries as a dot store, and of a
// counter leaf's with its writers' bases (crdt/leaf.go joinEntries,
// crdt/fold.go), and the counter totals read from entries.

import { MAX_SAFE_INT } from './crdt_types.js';
import { compareEntryDot, comparePayload } from './crdt_context.js';
import { counterShare, splitBases, withBases } from './counter_leaf.js';

// joinEntries is the join of two dot stores (Almeida et al., section 5) for
// one leaf: s and o sorted by dot, sc and oc their contexts.
export function joinEntries(s, o, sc, oc) {
  const out = [];
  let i = 0;
  let j = 0;
  while (i < s.length || j < o.length) {
    let c;
    if (i === s.length) c = 1;
    else if (j === o.length) c = -1;
    else c = compareEntryDot(s[i], o[j]);
    if (c === 0) {
      out.push(comparePayload(o[j], s[i]) > 0 ? o[j] : s[i]);
      i++;
      j++;
    } else if (c < 0) {
      if (!oc.contains(s[i].r, s[i].s)) out.push(s[i]);
      i++;
    } else {
      if (!sc.contains(o[j].r, o[j].s)) out.push(o[j]);
      j++;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Counter totals (crdt/read.go; rendering is in crdt_render.js)

// counterTotal sums, per replica, the entry with the highest sequence: an
// entry holds that replica's running totals, so an older one still present
// must not count twice.
// The sums saturate at 2^53-1, as in Go: writers refuse to pass it, so only
// state from a replica that broke the rule gets there.
export function counterTotal(es) {
  const [p, n] = counterSums(es);
  return [Math.min(p, MAX_SAFE_INT), Math.min(n, MAX_SAFE_INT)];
}

// counterSums is counterTotal without the saturation, for the writer's check.
function counterSums(es) {
  const by = new Map();
  for (const e of es) {
    if (!by.has(e.r)) by.set(e.r, []);
    by.get(e.r).push(e);
  }
  let p = 0;
  let n = 0;
  for (const mine of by.values()) {
    const [sp, sn] = counterShare(mine);
    p += sp;
    n += sn;
  }
  return [p, n];
}

// counterJoin joins two versions of a counter leaf (crdt/fold.go): the raw
// entries as a dot store, the bases by writer, the greater winning, and each
// writer's raw entries at or below its base dropped.
export function counterJoin(s, o, sc, oc) {
  if (!s.some((e) => e.base) && !o.some((e) => e.base)) return joinEntries(s, o, sc, oc);
  const [sr, sb] = splitBases(s);
  const [or, ob] = splitBases(o);
  return withBases(joinEntries(sr, or, sc, oc), [...sb, ...ob]);
}
