// crdt_text.js: text pieces: code points, joins, deletes and the checks of
// decoded pieces (crdt/text.go, crdt/text_codec.go)
//
// A text is a sequence of Unicode code points in Fugue order (Weidner and
// Kleppmann, 2023): every character has a dot and a place in a tree, a parent
// (its origin; null is the root) and a side; the text is the in-order walk,
// same-side siblings in dot order. A piece is an entry
// {r, s, len, or, os, left, v}: len characters with the dots s..s+len-1 of
// replica r, each after the first the right child of the one before, the
// first placed by (or, os, left); v is their string, or null once deleted.
// The pieces of replica r with sequences in one TEXT_BLOCK-aligned range form
// one leaf, and are maximal.
//
// Part of the CRDT core; crdt.js is its entry point and describes how values
// are represented.

import { TEXT_BLOCK } from './crdt_types.js';
import { compareDot, compareEntryDot } from './crdt_context.js';

/** codePoints splits s into its code points (what a text index counts). */
export function codePoints(s) {
  return Array.from(s);
}

/**
 * codePointIndex converts a UTF-16 offset into s (what a textarea counts) to
 * a code point index; an offset inside a surrogate pair counts the pair as
 * before it.
 */
export function codePointIndex(s, i16) {
  let n = 0;
  for (let i = 0; i < i16 && i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) n++;
  }
  return n;
}

/** utf16Index converts a code point index into s to a UTF-16 offset. */
export function utf16Index(s, cp) {
  let i = 0;
  for (let n = 0; n < cp && i < s.length; n++) i += s.codePointAt(i) > 0xffff ? 2 : 1;
  return i;
}

export function piece(r, s, len, or, os, left, v) {
  return { r, s, p: 0, n: 0, w: 0, l: 0, v, len, or, os: or === null ? 0 : os, left: or === null ? false : left };
}

const isPiece = (e) => e.len !== undefined;
const liveEntry = (e) => !isPiece(e) || typeof e.v === 'string';

export function eachDot(e, fn) {
  const n = isPiece(e) ? e.len : 1;
  for (let i = 0; i < n; i++) fn(e.r, e.s + i);
}

export function eachLiveDot(e, fn) {
  if (liveEntry(e)) eachDot(e, fn);
}

// expandPieces lists the characters of pieces es (sorted by dot) as
// {r, s, or, os, left, live, c}.
export function expandPieces(es, out = []) {
  for (const e of es) {
    const cs = typeof e.v === 'string' ? codePoints(e.v) : null;
    for (let i = 0; i < e.len; i++) {
      const first = i === 0;
      out.push({
        r: e.r,
        s: e.s + i,
        or: first ? e.or : e.r,
        os: first ? e.os : e.s + i - 1,
        left: first ? e.left : false,
        live: cs !== null,
        c: cs !== null ? cs[i] : '',
      });
    }
  }
  return out;
}

// continues reports whether character c belongs in the piece ending with prev.
const continues = (prev, c) => c.r === prev.r && c.s === prev.s + 1 && c.or === prev.r && c.os === prev.s &&
  !c.left && c.live === prev.live && (c.s - 1) % TEXT_BLOCK !== 0;

// compressChars turns characters in dot order into maximal pieces.
export function compressChars(cs) {
  const out = [];
  let cur = null;
  let str = '';
  const flush = () => {
    if (cur) out.push(piece(cur.r, cur.s, cur.len, cur.or, cur.os, cur.left, cur.live ? str : null));
  };
  cs.forEach((c, i) => {
    if (i > 0 && continues(cs[i - 1], c)) {
      cur.len++;
    } else {
      flush();
      cur = { r: c.r, s: c.s, len: 1, or: c.or, os: c.os, left: c.left, live: c.live };
      str = '';
    }
    if (c.live) str += c.c;
  });
  flush();
  return out;
}

// comparePlace orders two places of one character (only forged input has two).
function comparePlace(a, b) {
  if (a.or !== b.or) {
    if (a.or === null) return -1;
    if (b.or === null) return 1;
    return a.or < b.or ? -1 : 1;
  }
  if (a.os !== b.os) return a.os < b.os ? -1 : 1;
  if (a.left === b.left) return 0;
  return a.left ? 1 : -1;
}

const maxChar = (a, b) => (a.codePointAt(0) >= b.codePointAt(0) ? a : b);

// joinText joins two versions of a text block character by character:
// presence as in any dot store, places kept by either side for good.
export function joinText(s, o, sc, oc) {
  const fast = joinDisjointPieces(s, o, sc, oc);
  if (fast) return fast;
  const a = expandPieces(s);
  const b = expandPieces(o);
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let c;
    if (i === a.length) c = 1;
    else if (j === b.length) c = -1;
    else c = compareDot(a[i].r, a[i].s, b[j].r, b[j].s);
    let x;
    if (c === 0) {
      x = { ...a[i] };
      const y = b[j];
      if (comparePlace(y, x) > 0) {
        x.or = y.or;
        x.os = y.os;
        x.left = y.left;
      }
      x.live = x.live && y.live;
      if (x.live) x.c = maxChar(x.c, y.c);
      i++;
      j++;
    } else if (c < 0) {
      x = { ...a[i] };
      x.live = x.live && !oc.contains(x.r, x.s);
      i++;
    } else {
      x = { ...b[j] };
      x.live = x.live && !sc.contains(x.r, x.s);
      j++;
    }
    if (!x.live) x.c = '';
    out.push(x);
  }
  return compressChars(out);
}

// deleteChars marks the characters whose "replica/seq" is in gone deleted.
export function deleteChars(es, gone) {
  const cut = [];
  for (const e of es) {
    let hit = false;
    if (typeof e.v === 'string') for (let k = 0; k < e.len && !hit; k++) hit = gone.has(`${e.r}/${e.s + k}`);
    if (!hit) {
      cut.push(e);
      continue;
    }
    const cs = codePoints(e.v);
    for (let k = 0; k < cs.length;) {
      const dead = gone.has(`${e.r}/${e.s + k}`);
      let j = k + 1;
      while (j < cs.length && gone.has(`${e.r}/${e.s + j}`) === dead) j++;
      const first = k === 0;
      cut.push(piece(e.r, e.s + k, j - k, first ? e.or : e.r, first ? e.os : e.s + k - 1, first ? e.left : false,
        dead ? null : cs.slice(k, j).join('')));
      k = j;
    }
  }
  return mergePieces(cut);
}

// extends reports whether piece e continues piece prev: one piece in two parts.
const extendsPiece = (prev, e) => e.r === prev.r && e.s === prev.s + prev.len && e.or === e.r && e.os === e.s - 1 &&
  !e.left && liveEntry(e) === liveEntry(prev) && (e.s - 1) % TEXT_BLOCK !== 0;

// mergePieces merges each piece (in dot order) into the one it continues.
function mergePieces(es) {
  const out = [];
  for (const e of es) {
    const prev = out[out.length - 1];
    if (prev && extendsPiece(prev, e)) {
      out[out.length - 1] = piece(prev.r, prev.s, prev.len + e.len, prev.or, prev.os, prev.left, liveEntry(e) ? prev.v + e.v : null);
      continue;
    }
    out.push(e);
  }
  return out;
}

// intersects reports whether ctx has seen any of r's sequences lo..hi.
function intersects(ctx, r, lo, hi) {
  if ((ctx.vv.get(r) || 0) >= lo) return true;
  const c = ctx.cloud.get(r);
  if (!c) return false;
  for (const x of c) if (x >= lo && x <= hi) return true;
  return false;
}

// joinDisjointPieces is joinText's common case, piece by piece: neither side
// holds or has seen any character of the other's pieces (a run typed into a
// block), so every piece stays as it is. null when that is not the case.
function joinDisjointPieces(s, o, sc, oc) {
  for (const e of s) if (intersects(oc, e.r, e.s, e.s + e.len - 1)) return null;
  for (const e of o) if (intersects(sc, e.r, e.s, e.s + e.len - 1)) return null;
  const all = [...s, ...o].sort(compareEntryDot);
  for (let i = 1; i < all.length; i++) {
    if (all[i].r === all[i - 1].r && all[i].s < all[i - 1].s + all[i - 1].len) return null; // overlapping: forged
  }
  return mergePieces(all);
}

// diffLiveDots calls gone(r, s) for each live dot of old that next lacks and
// came(r, s) for each of next that old lacks (crdt/leaf.go DiffLiveDots): a
// text block, all one replica's sorted pieces, is compared by ranges.
export function diffLiveDots(old, next, gone, came) {
  const text = (old.length && isPiece(old[0])) || (next.length && isPiece(next[0]));
  if (!text) {
    // A counter base is not a write: it holds no dot (crdt/fold.go).
    const had = new Set(old.filter((e) => !e.base).map((e) => `${e.r}/${e.s}`));
    for (const e of next) if (!e.base && !had.delete(`${e.r}/${e.s}`)) came(e.r, e.s);
    for (const id of had) {
      const i = id.lastIndexOf('/');
      gone(id.slice(0, i), Number(id.slice(i + 1)));
    }
    return;
  }
  const r = (old[0] || next[0]).r;
  const ranges = (es) => {
    const out = [];
    for (const e of es) {
      if (!liveEntry(e)) continue;
      const last = out[out.length - 1];
      if (last && last[1] + 1 === e.s) last[1] = e.s + e.len - 1;
      else out.push([e.s, e.s + e.len - 1]);
    }
    return out;
  };
  const subtract = (a, b, fn) => {
    let j = 0;
    for (const [alo, ahi] of a) {
      let lo = alo;
      while (j < b.length && b[j][1] < lo) j++;
      for (let k = j; k < b.length && b[k][0] <= ahi && lo <= ahi; k++) {
        for (let x = lo; x < Math.min(b[k][0], ahi + 1); x++) fn(r, x);
        lo = Math.max(lo, b[k][1] + 1);
      }
      for (let x = lo; x <= ahi; x++) fn(r, x);
    }
  };
  const a = ranges(old);
  const b = ranges(next);
  subtract(a, b, gone);
  subtract(b, a, came);
}

// checkPieces validates a decoded text leaf's pieces (sorted by dot) and
// returns them merged into maximal pieces, or a message saying what is wrong.
export function checkPieces(path, es) {
  const [br, bs] = path.segs[path.segs.length - 1].block;
  const list = path.segs[path.segs.length - 1].list === true;
  let prevEnd = 0;
  for (let i = 0; i < es.length; i++) {
    const e = es[i];
    if (e.r !== br || e.s < bs || e.s + e.len > bs + TEXT_BLOCK) return `piece ${e.r}:${e.s}+${e.len} outside its block`;
    if (i > 0 && e.s < prevEnd) return `pieces overlap at ${e.r}:${e.s}`;
    prevEnd = e.s + e.len;
    if (list && e.v !== null) return "a list's positions hold no value";
    if (typeof e.v === 'string') {
      const n = codePoints(e.v).length;
      if (n !== e.len) return `piece of ${e.len} characters holds ${n}`;
    } else if (e.v !== null) {
      return "a piece's value is a string or null";
    }
  }
  const out = [];
  for (const e of es) {
    const prev = out[out.length - 1];
    if (prev && e.s === prev.s + prev.len && e.or === e.r && e.os === e.s - 1 && !e.left &&
      liveEntry(e) === liveEntry(prev) && (e.s - 1) % TEXT_BLOCK !== 0) {
      out[out.length - 1] = piece(prev.r, prev.s, prev.len + e.len, prev.or, prev.os, prev.left,
        liveEntry(e) ? prev.v + e.v : null);
      continue;
    }
    out.push(e);
  }
  return out;
}
