// crdt_render.js: rendering plain values (crdt/read.go). Counter totals are
// in crdt.js.
//
// Part of the CRDT core; crdt.js is its entry point and describes how values
// are represented.

import { MAX_SAFE_INT, T } from './crdt_types.js';
import { CounterLeaf } from './counter_leaf.js';
import { encodeValue } from './crdt_value.js';
import { compareTimestamps } from './crdt_clock.js';
import { compareEntryDot } from './crdt_context.js';
import { counterTotal } from './crdt.js';
import { fugueOf } from './crdt_fugue.js';
import { renderList } from './crdt_list.js';

// lwwWinner is the entry with the greatest timestamp, ties broken by replica
// id and then sequence.
function lwwWinner(es) {
  let best = null;
  for (const e of es) {
    if (!best) {
      best = e;
      continue;
    }
    let c = compareTimestamps({ wall: e.w, logical: e.l }, { wall: best.w, logical: best.l });
    if (c === 0) c = compareEntryDot(e, best);
    if (c > 0) best = e;
  }
  return best;
}

function setField(obj, name, v) {
  // defineProperty, so a field named "__proto__" is a field, not a prototype.
  Object.defineProperty(obj, name, { value: v, enumerable: true, writable: true, configurable: true });
}

// render builds the plain value of type t from its leaves, which share the
// path down to depth and are in key order.
export function render(t, leaves, depth) {
  switch (t) {
    case T.gcounter:
    case T.counter: {
      let p = 0;
      let n = 0;
      for (const l of leaves) {
        // A counter kept by writer is read from its sums, not its writers.
        const [lp, ln] = l instanceof CounterLeaf ? [Math.min(Number(l.p), MAX_SAFE_INT), Math.min(Number(l.n), MAX_SAFE_INT)] : counterTotal(l.entries);
        p += lp;
        n += ln;
      }
      return p - n;
    }
    case T.lww: {
      for (const l of leaves) {
        const w = lwwWinner(l.entries);
        if (w) return w.v;
      }
      return null;
    }
    case T.mvreg: {
      const byEnc = new Map();
      for (const l of leaves) for (const e of l.entries) byEnc.set(encodeValue(e.v), e.v);
      return [...byEnc.keys()].sort().map((k) => byEnc.get(k));
    }
    case T.flag:
      return leaves.some((l) => l.entries.length > 0);
    case T.text: {
      const es = [];
      for (const l of leaves) es.push(...l.entries);
      return fugueOf(es).string();
    }
    case T.list:
      return renderList(leaves, depth);
    case T.set: {
      const out = [];
      for (const l of leaves) {
        if (l.entries.length > 0 && l.path.segs.length > depth) out.push(l.path.segs[depth].elem);
      }
      return out;
    }
    case T.map: {
      const out = {};
      const types = new Map();
      for (let i = 0; i < leaves.length;) {
        const seg = leaves[i].path.segs[depth];
        let j = i + 1;
        while (j < leaves.length) {
          const s = leaves[j].path.segs[depth];
          if (s.name !== seg.name || s.type !== seg.type) break;
          j++;
        }
        // Concurrent creations of one name with different types keep both;
        // the lower type number is the one read.
        // A text whose characters are all deleted is absent, like an empty set.
        const prev = types.get(seg.name);
        if (prev === undefined || seg.type < prev) {
          const v = render(seg.type, leaves.slice(i, j), depth + 1);
          if (v !== '' || seg.type !== T.text) {
            types.set(seg.name, seg.type);
            setField(out, seg.name, v);
          }
        }
        i = j;
      }
      return out;
    }
  }
  return null;
}
