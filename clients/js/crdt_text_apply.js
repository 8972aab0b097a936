// crdt_text_apply.js: applying a text op, inserts and deletes, to an object
// (crdt/text_apply.go).
//
// Part of the CRDT core; crdt.js is its entry point and describes how values
// are represented.

import { CrdtError, invalid, MAX_SEQ } from './crdt_types.js';
import { blockStart, pathKey } from './crdt_path.js';
import { dotId, fugueOf } from './crdt_fugue.js';
import { codePoints, compressChars } from './crdt_text.js';
import { TextIndex } from './crdt_text_index.js';

// textDelta fills delta with a text op by replica, whose highest sequence so
// far is last, on the text whose leaves start with prefix (path its path).
// An insert mints the next dots of replica; a delete is context only.
export function textDelta(obj, prefix, path, delta, replica, last, op) {
  // An object applying its own edit keeps the index for the next one.
  const keep = obj._editing;
  let x = keep && obj._texts ? obj._texts.get(prefix) : undefined;
  if (!x) {
    const es = [];
    for (const k of obj.keysUnder(prefix)) es.push(...obj.leaf(k));
    x = new TextIndex(fugueOf(es));
  }
  const n = x.visibleLen();
  if (op.kind === 'delete') {
    if (op.index + op.count > n) {
      throw invalid(`delete of ${op.count} at ${op.index} beyond the text's ${n} characters`);
    }
    const gone = [];
    let delete16 = 0;
    for (let i = op.index; i < op.index + op.count; i++) {
      const p = x.visible(i);
      gone.push(p);
      const c = x.at(p);
      delete16 += c.c.length;
      delta.ctx.add(c.r, c.s);
    }
    obj.lastTextEdit = { path: [...op.path], edits: [{ index: op.index, delete: op.count, insert: '', index16: x.offset16(op.index), delete16 }] };
    if (keep) {
      for (const p of gone) x.kill(p);
      obj._keepText(prefix, x);
    }
    return;
  }
  if (op.index > n) throw invalid(`insert at ${op.index} beyond the text's ${n} characters`);
  const chars = codePoints(op.value);
  if (last + chars.length > MAX_SEQ) throw new CrdtError('seq_exhausted', `replica ${replica} has minted ${MAX_SEQ} dots for this object`);
  // Fugue's rule: the left origin L is the character before the index (or
  // the root); with no right children it takes the new one as its right
  // child, else the next character in the order takes it as its left child.
  // Either way the run lands right after L.
  let at = [-1, -1];
  let or = null;
  let os = 0;
  let left = false;
  if (op.index > 0) {
    at = x.visible(op.index - 1);
    const c = x.at(at);
    or = c.r;
    os = c.s;
  }
  if (x.hasRight.has(dotId(or, os))) {
    const next = x.at(x.next(at));
    or = next.r;
    os = next.s;
    left = true;
  }
  obj.lastTextEdit = { path: [...op.path], edits: [{ index: op.index, delete: 0, insert: op.value, index16: x.offset16(op.index), delete16: 0 }] };
  const ins = chars.map((c, i) => {
    const s = last + 1 + i;
    const ch = { r: replica, s, or, os, left, live: true, c };
    or = replica;
    os = s;
    left = false;
    delta.ctx.add(replica, s);
    return ch;
  });
  for (const e of compressChars(ins)) {
    const bp = { root: path.root, segs: [...path.segs, { block: [replica, blockStart(e.s)] }] };
    const key = pathKey(bp);
    delta.setLeaf(key, bp, [...delta.leaf(key), e]);
  }
  if (keep) {
    for (const c of ins) if (!c.left) x.hasRight.add(dotId(c.or, c.os));
    x.insertAfter(at, ins);
    obj._keepText(prefix, x);
  }
}
