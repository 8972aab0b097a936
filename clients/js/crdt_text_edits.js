// crdt_text_edits.js: text changes as positions (crdt/text_edits.go)
//
// Part of the CRDT core; crdt.js is its entry point and describes how values
// are represented.

import { isItem, LEAF_TEXT, pathLeafKind, T } from './crdt_types.js';
import { pathKey } from './crdt_path.js';
import { fugueOf } from './crdt_fugue.js';

// textsOf returns the pieces of every text of obj by the key prefix of its
// blocks, with the text's field names.
function textsOf(obj) {
  const out = new Map();
  for (const [key, l] of obj.leaves) {
    if (pathLeafKind(l.path) !== LEAF_TEXT) continue;
    // A list's positions, and texts inside a list's elements (whose
    // changes the list reports as a "set" of the element), are left out.
    if (l.path.root === T.list || l.path.segs.some((sg) => isItem(sg) || sg.list)) continue;
    const segs = l.path.segs.slice(0, -1);
    const prefix = pathKey({ root: l.path.root, segs });
    if (!out.has(prefix)) out.set(prefix, { path: segs.map((s) => s.name), pieces: [] });
    out.get(prefix).pieces.push(...l.entries);
  }
  return out;
}

/**
 * snapshotTexts records the visible characters of every text of obj, so that
 * textChanges can later say what a change did to them.
 */
export function snapshotTexts(obj) {
  const snap = new Map();
  for (const [prefix, t] of textsOf(obj)) {
    const vis = new Map();
    for (const c of fugueOf(t.pieces).order) if (c.live) vis.set(`${c.r}/${c.s}`, c.c);
    snap.set(prefix, vis);
  }
  return snap;
}

/**
 * textChanges returns, for each text of obj that changed since snap, its path
 * (field names; [] for a text object) and the edits that turn the text as it
 * was into the text now: {index, delete, insert, index16, delete16}, applied
 * in order, each at index (code points; index16 in UTF-16 units, what a
 * browser's editor counts) deleting `delete` characters then inserting
 * `insert`.
 */
export function textChanges(snap, obj) {
  const out = [];
  for (const [prefix, t] of textsOf(obj)) {
    const before = snap.get(prefix) || new Map();
    const edits = [];
    let pos = 0;
    let pos16 = 0;
    let ins = 0;
    const open = (forInsert) => {
      const e = edits[edits.length - 1];
      if (e && (forInsert ? e.index + ins === pos : e.index === pos && ins === 0)) return e;
      ins = 0;
      edits.push({ index: pos, delete: 0, insert: '', index16: pos16, delete16: 0 });
      return edits[edits.length - 1];
    };
    for (const c of fugueOf(t.pieces).order) {
      const id = `${c.r}/${c.s}`;
      const was = before.has(id);
      if (was && c.live) {
        pos++;
        pos16 += c.c.length;
      } else if (was) {
        const e = open(false);
        e.delete++;
        e.delete16 += before.get(id).length;
      } else if (c.live) {
        open(true).insert += c.c;
        ins++;
        pos++;
        pos16 += c.c.length;
      }
    }
    if (edits.length) out.push({ path: t.path, edits });
  }
  return out;
}
