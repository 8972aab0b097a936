// crdt_fugue.js: the Fugue tree of a text's or list's pieces, walked into
// document order (crdt/text.go).
//
// Part of the CRDT core; crdt.js is its entry point and describes how values
// are represented.

import { compareDot, compareEntryDot } from './crdt_context.js';
import { expandPieces } from './crdt_text.js';

const ROOT = '';
export const dotId = (r, s) => (r === null ? ROOT : `${r}/${s}`);

// fugueOf walks the tree of the pieces es (any order): the characters in
// document order, deleted ones included. Characters whose parent is missing
// (it has not arrived yet) are left out, the same way at every replica. It
// works on indices: with the pieces in dot order a character's parent is the
// one before it (a continuation) or found by binary search, and children,
// gathered in index order, come in the dot order Fugue sorts siblings by.
export function fugueOf(es) {
  const pieces = [...es].sort(compareEntryDot);
  const cs = expandPieces(pieces);
  const n = cs.length;
  const ROOTI = n;
  const parent = new Int32Array(n);
  const nl = new Int32Array(n + 2);
  const nr = new Int32Array(n + 2);
  const find = (r, s) => {
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareDot(cs[mid].r, cs[mid].s, r, s) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo < n && cs[lo].r === r && cs[lo].s === s ? lo : -1;
  };
  for (let i = 0; i < n; i++) {
    const c = cs[i];
    let p = ROOTI;
    if (c.or !== null) {
      p = i > 0 && cs[i - 1].r === c.or && cs[i - 1].s === c.os ? i - 1 : find(c.or, c.os);
    }
    parent[i] = p;
    if (p < 0) continue; // an orphan, for now
    if (c.left) nl[p + 1]++;
    else nr[p + 1]++;
  }
  for (let i = 1; i < n + 2; i++) {
    nl[i] += nl[i - 1];
    nr[i] += nr[i - 1];
  }
  const lk = new Int32Array(nl[n + 1]);
  const rk = new Int32Array(nr[n + 1]);
  const fl = nl.slice();
  const fr = nr.slice();
  for (let i = 0; i < n; i++) {
    const p = parent[i];
    if (p < 0) continue;
    if (cs[i].left) lk[fl[p]++] = i;
    else rk[fr[p]++] = i;
  }
  const hasRight = new Set();
  for (let p = 0; p <= n; p++) {
    if (nr[p + 1] > nr[p]) hasRight.add(p === ROOTI ? ROOT : `${cs[p].r}/${cs[p].s}`);
  }
  const order = [];
  // An explicit stack, since a long run of typing is a deep chain: -1-i
  // visits node i's subtree, i emits it.
  const stack = [];
  const push = (p) => {
    for (let x = nr[p + 1] - 1; x >= nr[p]; x--) stack.push(-1 - rk[x]);
    if (p !== ROOTI) stack.push(p);
    for (let x = nl[p + 1] - 1; x >= nl[p]; x--) stack.push(-1 - lk[x]);
  };
  push(ROOTI);
  while (stack.length) {
    const x = stack.pop();
    if (x < 0) push(-1 - x);
    else order.push(cs[x]);
  }
  return {
    order,
    hasRight,
    string() {
      let out = '';
      for (const c of order) if (c.live) out += c.c;
      return out;
    },
  };
}
