// crdt_types.js: type names and numbers, type sets, leaf kinds, the limits
// shared with the Go core, and CrdtError.
//
// Part of the CRDT core; crdt.js is its entry point and describes how values
// are represented.

/** Type names by number; the numbers are part of the encodings. */
export const TYPE_NAMES = Object.freeze(['', 'gcounter', 'counter', 'set', 'map', 'lww', 'mvreg', 'flag', 'text', 'list']);
export const T = Object.freeze({ gcounter: 1, counter: 2, set: 3, map: 4, lww: 5, mvreg: 6, flag: 7, text: 8, list: 9 });
export const MAX_TYPE = 9;

/** Operations each type has (crdt/op.go opsOf). */
export const OPS_OF = Object.freeze({
  1: ['inc'],
  2: ['inc', 'dec'],
  3: ['add', 'remove'],
  4: ['delete'],
  5: ['set'],
  6: ['set'],
  7: ['enable', 'disable'],
  8: ['insert', 'delete'],
  9: ['insert', 'delete', 'move'],
});
export const OP_NAMES = Object.freeze(['inc', 'dec', 'add', 'remove', 'set', 'enable', 'disable', 'delete', 'insert', 'move']);

// Limits, the same as the Go core's (docs/crdt-encoding.md, "Decoding limits").
export const MAX_SAFE_INT = Number.MAX_SAFE_INTEGER; // 2^53-1
export const MAX_SEQ = 2 ** 48 - 1;
export const MAX_DEPTH = 32;
export const MAX_FIELD_NAME = 1024;
export const MAX_KEY_LEN = 64 * 1024;
export const MAX_REPLICAS = 1 << 22;
export const MAX_ENCODED_SIZE = 64 * 1024 * 1024;
/** Sequences of one replica in one text leaf, and characters in one piece. */
export const TEXT_BLOCK = 256;
/** Characters (code points) in one text insert. */
export const MAX_TEXT_INSERT = 65536;
export const MAX_LOGICAL = 2 ** 32 - 1;
// Go decodes `by` into an int64 before range checks; a number beyond int64
// is a decoding error (invalid) whatever else is wrong with the op.
export const INT64_LIMIT = 2 ** 63;

// The one-byte form of small non-negative integers in the value encoding:
// 0x80|i for 0..127 (crdt/wire.go). It decides the canonical order of set
// elements and mvreg values (these integers sort after every other value), so
// it must match the Go core exactly; vector 015 checks it.
export const SMALL_INT_TAG = 0x80;
export const SMALL_INT_LIMIT = 128;

/**
 * CrdtError is every error this module throws. `code` is one of the codes
 * the vectors and the protocol use: 'invalid' (malformed input), 'out_of_range'
 * (a counter passing 2^53-1), 'wrong_type',
 * 'invalid_op', 'limit' (beyond a limit above), 'seq_exhausted'.
 */
export class CrdtError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'CrdtError';
    this.code = code;
  }
}
export const invalid = (msg) => new CrdtError('invalid', msg);

// ---------------------------------------------------------------------------
// Types

/** typeNumber returns the number of a type name, or 0 if it is unknown. */
export function typeNumber(name) {
  return typeof name === 'string' && Object.hasOwn(T, name) ? T[name] : 0;
}

/** typeName returns the name of a type number. */
export function typeName(t) {
  return TYPE_NAMES[t] || `type(${t})`;
}

// A type set is a bit mask, bit t for type t, as in Go's TypeSet.
export const typeBit = (t) => 1 << t;
export const hasType = (set, t) => (set & typeBit(t)) !== 0;
export function firstType(set) {
  for (let t = 1; t <= MAX_TYPE; t++) if (hasType(set, t)) return t;
  return 0;
}
export function typeList(set) {
  const out = [];
  for (let t = 1; t <= MAX_TYPE; t++) if (hasType(set, t)) out.push(t);
  return out;
}

// What a leaf's entries carry, decided by the type owning the leaf.
export const LEAF_DOTS = 0; // flags and set elements
export const LEAF_COUNTER = 1; // gcounter, counter: P, N
export const LEAF_MV = 2; // mvreg: value
export const LEAF_LWW = 3; // lww: timestamp, value
export const LEAF_TEXT = 4; // text block, list positions: pieces (see the text section)
export const LEAF_ITEM = 5; // list element: timestamp, position, value (see the list section)
function leafKindOf(t) {
  if (t === T.gcounter || t === T.counter) return LEAF_COUNTER;
  if (t === T.mvreg) return LEAF_MV;
  if (t === T.lww) return LEAF_LWW;
  if (t === T.text) return LEAF_TEXT;
  return LEAF_DOTS;
}
export function pathLeafKind(path) {
  if (path.segs.length === 0) return leafKindOf(path.root);
  const last = path.segs[path.segs.length - 1];
  if (isBlock(last)) return LEAF_TEXT;
  if (isItem(last)) return LEAF_ITEM;
  return isElem(last) ? LEAF_DOTS : leafKindOf(last.type);
}
export const isBlock = (seg) => 'block' in seg;
export const isItem = (seg) => 'item' in seg;
export const isElem = (seg) => !('type' in seg) && !isBlock(seg) && !isItem(seg);


/** Elements and positions one client delta may add; fields of one map element. */
export const MAX_LIST_INSERT = 1 << 12;
export const MAX_LIST_FIELDS = 256;
