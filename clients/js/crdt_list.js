// crdt_list.js: lists, their elements, positions and ops (crdt/list.go)
//
// A list's positions are Fugue nodes kept as text pieces whose value is
// always null (leaf tag 0 + block); each element has a leaf (tag 1 + its
// id + its kind) of entries {w, l, or, os, v}: an LWW register of
// positions on the hybrid clock. The element whose insert entry (the head,
// dot = id) is present stands at its newest entry's position.
//
// Part of the CRDT core; crdt.js is its entry point and describes how values
// are represented.

import { CrdtError, isBlock, MAX_SEQ, T } from './crdt_types.js';
import { utf8Key } from './crdt_value.js';
import { blockStart, fieldKey, segKey } from './crdt_path.js';
import { compareTimestamps, successor } from './crdt_clock.js';
import { compareEntryDot, entry } from './crdt_context.js';
import { render } from './crdt_render.js';
import { dotId, fugueOf } from './crdt_fugue.js';
import { eachLiveDot, piece } from './crdt_text.js';

export const LIST_MAP_ITEM = 0xff; // while a path is read: inside a list's map element

export function itemEntry(r, s, w, l, or, os, v) {
  return { r, s, p: 0, n: 0, w, l, v, or, os };
}

export function checkItem(path, es) {
  const seg = path.segs[path.segs.length - 1];
  for (const e of es) {
    if (e.v !== null && (e.r !== seg.item[0] || e.s !== seg.item[1] || seg.kind !== T.lww)) {
      return "only a scalar element's insert holds a value";
    }
  }
  return null;
}

function listItem(key, seg, es) {
  const it = { id: seg.item, kind: seg.kind, key, head: false, val: null, or: null, os: 0, es };
  let best = null;
  for (const e of es) {
    if (e.r === seg.item[0] && e.s === seg.item[1]) {
      it.head = true;
      it.val = e.v;
    }
    if (best === null) {
      best = e;
      continue;
    }
    let c = compareTimestamps({ wall: e.w, logical: e.l }, { wall: best.w, logical: best.l });
    if (c === 0) c = compareEntryDot(e, best);
    if (c > 0) best = e;
  }
  if (best) {
    it.or = best.or;
    it.os = best.os;
  }
  return it;
}

// listView orders the elements items over the position pieces blocks.
function listView(blocks, items) {
  const f = fugueOf(blocks);
  const shown = new Map();
  for (const it of items) {
    if (!it.head) continue;
    const k = `${it.or}/${it.os}`;
    if (!shown.has(k)) shown.set(k, []);
    shown.get(k).push(it);
  }
  const at = new Map();
  const out = [];
  f.order.forEach((c, i) => {
    const k = `${c.r}/${c.s}`;
    at.set(k, i);
    if (shown.has(k)) out.push(...shown.get(k));
  });
  return { f, at, items: out };
}

// listOf reads the list of obj whose leaves start with prefix, its own
// segments at depth.
function listOf(obj, prefix, depth) {
  const blocks = [];
  const items = [];
  for (const k of obj.keysUnder(prefix)) {
    const l = obj.leaves.get(k);
    const seg = l.path.segs[depth];
    if (isBlock(seg)) blocks.push(...l.entries);
    else if (l.path.segs.length === depth + 1) items.push(listItem(k, seg, l.entries));
  }
  return listView(blocks, items);
}

export function renderList(leaves, depth) {
  return listElems(leaves, depth).vals;
}

// listElems returns the elements of the list whose leaves are leaves, in
// order, and their plain values.
export function listElems(leaves, depth) {
  const blocks = [];
  const items = [];
  const fields = new Map();
  for (const l of leaves) {
    const seg = l.path.segs[depth];
    if (!seg) continue;
    if (isBlock(seg)) blocks.push(...l.entries);
    else if (l.path.segs.length === depth + 1) items.push(listItem('', seg, l.entries));
    else {
      const k = seg.item.join('/');
      if (!fields.has(k)) fields.set(k, []);
      fields.get(k).push(l);
    }
  }
  const shown = listView(blocks, items).items;
  const vals = shown.map((it) => (it.kind === T.map ? render(T.map, fields.get(it.id.join('/')) || [], depth + 1) : it.val));
  return { items: shown, vals };
}

// itemAt returns the map element at index of the list at prefix (path its
// path): what an op whose path holds a list index writes below.
export function itemAt(obj, prefix, path, index) {
  const v = listOf(obj, prefix, path.segs.length);
  if (index >= v.items.length) throw new CrdtError('out_of_range', `element ${index} of a list of ${v.items.length}`);
  const it = v.items[index];
  if (it.kind !== T.map) throw new CrdtError('wrong_type', `element ${index} of the list is a scalar, not a map`);
  return it;
}

// place is where Fugue puts a position landing right after items[j-1].
function listPlace(v, items, j) {
  let or = null;
  let os = 0;
  let i = -1;
  if (j > 0) {
    or = items[j - 1].or;
    os = items[j - 1].os;
    i = v.at.get(`${or}/${os}`);
  }
  if (v.f.hasRight.has(dotId(or, os))) {
    const nx = v.f.order[i + 1];
    return [nx.r, nx.s, true];
  }
  return [or, os, false];
}

// listDelta fills delta with a list op by replica (crdt/list.go listDelta).
export function listDelta(obj, prefix, path, delta, replica, last, now, op) {
  const depth = path.segs.length;
  const v = listOf(obj, prefix, depth);
  const n = v.items.length;
  const next = () => {
    if (last >= MAX_SEQ) throw new CrdtError('seq_exhausted', `replica ${replica} has minted ${MAX_SEQ} dots for this object`);
    last++;
    delta.ctx.add(replica, last);
    return last;
  };
  const sub = (seg) => ({ root: path.root, segs: [...path.segs, seg] });
  const mint = (items, j) => {
    const [or, os, left] = listPlace(v, items, j);
    const s = next();
    const seg = { block: [replica, blockStart(s)], list: true };
    delta.setLeaf(prefix + segKey(seg), sub(seg), [piece(replica, s, 1, or, os, left, null)]);
    return s;
  };
  if (op.kind === 'delete') {
    if (op.index + op.count > n) throw new CrdtError('out_of_range', `delete of ${op.count} at ${op.index} beyond the list's ${n} elements`);
    for (const it of v.items.slice(op.index, op.index + op.count)) {
      for (const k of obj.keysUnder(it.key)) for (const e of obj.leaf(k)) eachLiveDot(e, (r, s) => delta.ctx.add(r, s));
    }
    return;
  }
  if (op.kind === 'move') {
    if (op.index >= n || op.to >= n) throw new CrdtError('out_of_range', `move from ${op.index} to ${op.to} in a list of ${n} elements`);
    const it = v.items[op.index];
    const rest = v.items.filter((_, i) => i !== op.index);
    const p = mint(rest, op.to);
    const d = next();
    let ts = { wall: now.wall, logical: now.logical };
    for (const old of it.es) {
      const ots = { wall: old.w, logical: old.l };
      if (compareTimestamps(ots, ts) >= 0) ts = successor(ots);
      if (old.r !== it.id[0] || old.s !== it.id[1]) delta.ctx.add(old.r, old.s);
    }
    delta.setLeaf(it.key, sub({ item: it.id, kind: it.kind }), [itemEntry(replica, d, ts.wall, ts.logical, replica, p, null)]);
    return;
  }
  if (op.index > n) throw new CrdtError('out_of_range', `insert at ${op.index} beyond the list's ${n} elements`);
  const p = mint(v.items, op.index);
  const id = next();
  const kind = op.map ? T.map : T.lww;
  const seg = { item: [replica, id], kind };
  const key = prefix + segKey(seg);
  delta.setLeaf(key, sub(seg), [itemEntry(replica, id, now.wall, now.logical, replica, p, op.map ? null : op.value)]);
  const names = Object.keys(op.map || {}).sort((a, b) => (utf8Key(a) < utf8Key(b) ? -1 : 1));
  for (const name of names) {
    const d = next();
    delta.setLeaf(key + fieldKey(name, T.lww), { root: path.root, segs: [...path.segs, seg, { name, type: T.lww }] }, [entry(replica, d, 0, 0, now.wall, now.logical, op.map[name])]);
  }
}
