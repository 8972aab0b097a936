// crdt_list_edits.js: list changes as positions (crdt/list_edits.go)
//
// Part of the CRDT core; crdt.js is its entry point and describes how values
// are represented.

import { isItem, T } from './crdt_types.js';
import { pathKey } from './crdt_path.js';
import { listElems } from './crdt_list.js';

// listsOf returns the outermost lists of obj (at its root or map fields) by
// key prefix: their field names, element ids and values as JSON, in order.
function listsOf(obj) {
  const groups = new Map();
  for (const k of obj.sortedKeys()) {
    const l = obj.leaves.get(k);
    let d = l.path.root === T.list ? 0 : l.path.segs.findIndex((sg) => isItem(sg) || sg.list === true);
    if (d < 0) continue;
    const segs = l.path.segs.slice(0, d);
    const prefix = pathKey({ root: l.path.root, segs });
    if (!groups.has(prefix)) groups.set(prefix, { path: segs.map((sg) => sg.name), depth: d, leaves: [] });
    groups.get(prefix).leaves.push(l);
  }
  const out = new Map();
  for (const [prefix, g] of groups) {
    const { items, vals } = listElems(g.leaves, g.depth);
    out.set(prefix, { path: g.path, ids: items.map((it) => it.id.join('/')), vals: vals.map((v) => JSON.stringify(v)) });
  }
  return out;
}

/** snapshotLists records the lists of obj, so that listChanges can later say what a change did to them. */
export function snapshotLists(obj) {
  return listsOf(obj);
}

/**
 * listChanges returns, for each list of obj that changed since snap, the
 * edits that turn it as it was into it as it is, as an app applies them to
 * an array in order: {op:'delete',index,count}, then {op:'insert',index,value}
 * and {op:'move',from,to} left to right, then {op:'set',index,value} for
 * elements whose value changed. Lists are ordered by key prefix.
 */
export function listChanges(snap, obj) {
  const out = [];
  const now = listsOf(obj);
  for (const prefix of [...now.keys()].sort()) {
    const edits = listDiff(snap.get(prefix) || { ids: [], vals: [] }, now.get(prefix));
    if (edits.length) out.push({ path: now.get(prefix).path, edits });
  }
  return out;
}

function listDiff(a, b) {
  const edits = [];
  const inB = new Set(b.ids);
  const w = [];
  const old = new Map();
  a.ids.forEach((id, i) => {
    if (inB.has(id)) {
      w.push(id);
      old.set(id, a.vals[i]);
      return;
    }
    const last = edits[edits.length - 1];
    if (last && last.index === w.length) last.count++;
    else edits.push({ op: 'delete', index: w.length, count: 1 });
  });
  const wIdx = new Map(w.map((id, i) => [id, i]));
  const stay = longestRun(b.ids.filter((id) => wIdx.has(id)), wIdx);
  b.ids.forEach((id, i) => {
    const after = i > 0 ? w.indexOf(b.ids[i - 1]) + 1 : 0;
    if (!wIdx.has(id)) {
      w.splice(after, 0, id);
      edits.push({ op: 'insert', index: after, value: JSON.parse(b.vals[i]) });
      return;
    }
    if (stay.has(id)) return;
    const from = w.indexOf(id);
    w.splice(from, 1);
    const to = i > 0 ? w.indexOf(b.ids[i - 1]) + 1 : 0;
    w.splice(to, 0, id);
    if (from !== to) edits.push({ op: 'move', from, to });
  });
  b.ids.forEach((id, i) => {
    if (old.has(id) && old.get(id) !== b.vals[i]) edits.push({ op: 'set', index: i, value: JSON.parse(b.vals[i]) });
  });
  return edits;
}

// longestRun returns the members of a longest subsequence of seq whose places
// in idx increase (patience sorting), as crdt/list_edits.go does.
function longestRun(seq, idx) {
  const tails = [];
  const prev = new Array(seq.length).fill(-1);
  seq.forEach((id, i) => {
    const x = idx.get(id);
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (idx.get(seq[tails[mid]]) >= x) hi = mid;
      else lo = mid + 1;
    }
    if (lo > 0) prev[i] = tails[lo - 1];
    tails[lo] = i;
  });
  const out = new Set();
  for (let i = tails.length ? tails[tails.length - 1] : -1; i >= 0; i = prev[i]) out.add(seq[i]);
  return out;
}
