// crdt_path.js: paths and their leaf keys (crdt/path.go)
//
// A path is {root, segs}; a segment is a map field {name, type}, a set
// element {elem} or a text block {block: [replica, first seq]}. Its key is
// the root type byte, then per field uvarint(utf8len(name)<<3 | type) and the
// name's bytes (types 8 and up: uvarint(utf8len(name)<<3), the type byte,
// then the name), then for a set element the element's value encoding, for a
// text block the replica's 16 bytes and uvarint((seq-1)/TEXT_BLOCK).
//
// Part of the CRDT core; crdt.js is its entry point and describes how values
// are represented.

import { isBlock, isElem, isItem, TEXT_BLOCK, TYPE_NAMES } from './crdt_types.js';
import { encodeValue, utf8Key, uvarint } from './crdt_value.js';

export function fieldKey(name, t) {
  const bytes = utf8Key(name);
  if (t > 7) return uvarint(bytes.length * 8) + String.fromCharCode(t) + bytes;
  return uvarint(bytes.length * 8 + t) + bytes;
}

/** replicaKey is a replica id's 16 bytes as a byte string. */
function replicaKey(r) {
  const hex = r.replace(/-/g, '');
  let k = '';
  for (let i = 0; i < 32; i += 2) k += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  return k;
}

export const blockStart = (s) => Math.floor((s - 1) / TEXT_BLOCK) * TEXT_BLOCK + 1;
const blockKey = (r, s) => replicaKey(r) + uvarint(Math.floor((s - 1) / TEXT_BLOCK));

export function segKey(s) {
  if (isItem(s)) return itemKey(s.item[0], s.item[1], s.kind);
  if (isBlock(s)) return (s.list ? '\x00' : '') + blockKey(s.block[0], s.block[1]);
  return isElem(s) ? encodeValue(s.elem) : fieldKey(s.name, s.type);
}

export function pathKey(path) {
  let k = String.fromCharCode(path.root);
  for (const s of path.segs) k += segKey(s);
  return k;
}

export function pathJSON(path) {
  const out = [TYPE_NAMES[path.root]];
  for (const s of path.segs) {
    out.push(isItem(s) ? [...s.item, TYPE_NAMES[s.kind]] : isBlock(s) ? [...s.block] : isElem(s) ? s.elem : [s.name, TYPE_NAMES[s.type]]);
  }
  return out;
}

function itemKey(r, s, kind) {
  return '\x01' + replicaKey(r) + uvarint(s) + String.fromCharCode(kind);
}
