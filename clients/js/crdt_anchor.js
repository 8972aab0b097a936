// crdt_anchor.js: anchors, cursor positions that follow concurrent edits
//
// Part of the CRDT core; crdt.js is its entry point and describes how values
// are represented.

import { T } from './crdt_types.js';
import { fieldKey } from './crdt_path.js';
import { fugueOf } from './crdt_fugue.js';

/**
 * textAnchor returns a stable anchor for the place before code point index
 * in the text at path of obj: the character just before it, as [replica,
 * seq], or null for the start. Unlike an index it stays put when others type
 * or delete before it; anchorIndex reads it back.
 */
export function textAnchor(obj, path, index) {
  if (index <= 0) return null;
  let last = null;
  let n = 0;
  for (const c of textFugue(obj, path).order) {
    if (!c.live) continue;
    last = c;
    if (++n === index) break;
  }
  return last ? [last.r, last.s] : null;
}

/**
 * anchorIndex returns where anchor now is in the text at path of obj: the
 * number of visible characters up to and including it (a deleted anchor
 * counts as the place it had); 0 for null or an anchor not (yet) known.
 */
export function anchorIndex(obj, path, anchor) {
  if (!Array.isArray(anchor)) return 0;
  let n = 0;
  for (const c of textFugue(obj, path).order) {
    if (c.live) n++;
    if (c.r === anchor[0] && c.s === anchor[1]) return n;
  }
  return 0;
}

export function textFugue(obj, path) {
  let key = String.fromCharCode(path.length ? T.map : T.text);
  path.forEach((name, i) => {
    key += fieldKey(name, i === path.length - 1 ? T.text : T.map);
  });
  const es = [];
  for (const k of obj.keysUnder(key)) es.push(...obj.leaf(k));
  return fugueOf(es);
}
