// crdt.js: Lattice's CRDT core in JavaScript, a port of the Go package crdt/.
//
// It must agree with the Go core on semantics and on the canonical JSON text
// byte for byte: both replay crdt/testdata/vectors/*.json. Like the Go core it
// is pure: no I/O, no timers, no clock reads (time comes in as a Timestamp the
// caller made). The client (lattice.js) is plumbing around it.
//
// Representation notes, each chosen to match the Go encodings exactly:
// - A leaf key is the path's binary form (see crdt/path.go) held as a
//   "byte string": one char per byte, codes 0..255. JavaScript compares
//   strings by UTF-16 code units, which for such strings is byte order, so
//   sorting keys with < gives the canonical leaf order for free.
// - Scalars are plain JS values: null, booleans, numbers, strings. A number
//   is an integer when it is whole and within ±(2^53-1), otherwise a float,
//   as in Go's crdt.Float; -0 becomes 0.
// - Integers (sequences, counter totals, wall times) are JS numbers; every
//   limit below keeps them exact.

/** Type names by number; the numbers are part of the encodings. */
import { CounterLeaf } from './counter_leaf.js';

export const TYPE_NAMES = Object.freeze(['', 'gcounter', 'counter', 'set', 'map', 'lww', 'mvreg', 'flag', 'text', 'list']);
const T = Object.freeze({ gcounter: 1, counter: 2, set: 3, map: 4, lww: 5, mvreg: 6, flag: 7, text: 8, list: 9 });
const MAX_TYPE = 9;

/** Operations each type has (crdt/op.go opsOf). */
const OPS_OF = Object.freeze({
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
const OP_NAMES = Object.freeze(['inc', 'dec', 'add', 'remove', 'set', 'enable', 'disable', 'delete', 'insert', 'move']);

// Limits, the same as the Go core's (docs/crdt.md, "Decoding limits").
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
const MAX_LOGICAL = 2 ** 32 - 1;
// Go decodes `by` into an int64 before range checks; a number beyond int64
// is a decoding error (invalid) whatever else is wrong with the op.
const INT64_LIMIT = 2 ** 63;

// The one-byte form of small non-negative integers in the value encoding:
// 0x80|i for 0..127 (crdt/wire.go). It decides the canonical order of set
// elements and mvreg values (these integers sort after every other value), so
// it must match the Go core exactly; vector 015 checks it.
const SMALL_INT_TAG = 0x80;
const SMALL_INT_LIMIT = 128;

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
const invalid = (msg) => new CrdtError('invalid', msg);

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
const typeBit = (t) => 1 << t;
const hasType = (set, t) => (set & typeBit(t)) !== 0;
function firstType(set) {
  for (let t = 1; t <= MAX_TYPE; t++) if (hasType(set, t)) return t;
  return 0;
}
function typeList(set) {
  const out = [];
  for (let t = 1; t <= MAX_TYPE; t++) if (hasType(set, t)) out.push(t);
  return out;
}

// What a leaf's entries carry, decided by the type owning the leaf.
const LEAF_DOTS = 0; // flags and set elements
const LEAF_COUNTER = 1; // gcounter, counter: P, N
const LEAF_MV = 2; // mvreg: value
const LEAF_LWW = 3; // lww: timestamp, value
const LEAF_TEXT = 4; // text block, list positions: pieces (see the text section)
const LEAF_ITEM = 5; // list element: timestamp, position, value (see the list section)
function leafKindOf(t) {
  if (t === T.gcounter || t === T.counter) return LEAF_COUNTER;
  if (t === T.mvreg) return LEAF_MV;
  if (t === T.lww) return LEAF_LWW;
  if (t === T.text) return LEAF_TEXT;
  return LEAF_DOTS;
}
function pathLeafKind(path) {
  if (path.segs.length === 0) return leafKindOf(path.root);
  const last = path.segs[path.segs.length - 1];
  if (isBlock(last)) return LEAF_TEXT;
  if (isItem(last)) return LEAF_ITEM;
  return isElem(last) ? LEAF_DOTS : leafKindOf(last.type);
}
const isBlock = (seg) => 'block' in seg;
const isItem = (seg) => 'item' in seg;
const isElem = (seg) => !('type' in seg) && !isBlock(seg) && !isItem(seg);

// ---------------------------------------------------------------------------
// Scalars and their binary encoding (crdt/value.go, crdt/wire.go)

const textEncoder = new TextEncoder();

/** isWellFormed reports whether s has no lone surrogates (it is valid UTF-8 once encoded). */
function isWellFormed(s) {
  if (typeof s.isWellFormed === 'function') return s.isWellFormed();
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?:[^\ud800-\udbff]|^)[\udc00-\udfff]/.test(s);
}

/**
 * scalar checks that x is a JSON scalar the data model holds and returns its
 * canonical JS form. Strings with lone surrogates are refused because they
 * have no UTF-8 form (Go refuses invalid UTF-8 the same way).
 */
export function scalar(x, what = 'value') {
  if (x === null || typeof x === 'boolean') return x;
  if (typeof x === 'string') {
    if (!isWellFormed(x)) throw invalid(`${what}: string is not valid Unicode (lone surrogate)`);
    return x;
  }
  if (typeof x === 'number') {
    if (!Number.isFinite(x)) throw invalid(`${what}: number ${x} is not finite`);
    return x === 0 ? 0 : x; // -0 is 0, as Go's Float makes it the integer 0
  }
  throw invalid(`${what}: ${Array.isArray(x) ? 'an array' : typeof x} is not a JSON scalar`);
}

const isInt = (x) => typeof x === 'number' && Number.isInteger(x) && Math.abs(x) <= MAX_SAFE_INT;

function bytesToKey(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/** utf8Key is s's UTF-8 bytes as a byte string. */
function utf8Key(s) {
  return bytesToKey(textEncoder.encode(s));
}

/** uvarint is the unsigned varint of n (a number or a bigint) as a byte string. */
function uvarint(n) {
  if (typeof n === 'number' && n < 2 ** 31) {
    let s = '';
    while (n >= 0x80) {
      s += String.fromCharCode((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    return s + String.fromCharCode(n);
  }
  let b = BigInt(n);
  let s = '';
  while (b >= 0x80n) {
    s += String.fromCharCode(Number(b & 0x7fn) | 0x80);
    b >>= 7n;
  }
  return s + String.fromCharCode(Number(b));
}

const floatView = new DataView(new ArrayBuffer(8));

/**
 * encodeValue is the binary encoding of a scalar (crdt/wire.go appendValue),
 * as a byte string. Its byte order is the canonical order of values.
 */
export function encodeValue(v) {
  if (v === null) return '\x00';
  if (v === false) return '\x01';
  if (v === true) return '\x02';
  if (typeof v === 'number') {
    if (isInt(v)) {
      if (v >= 0 && v < SMALL_INT_LIMIT) return String.fromCharCode(SMALL_INT_TAG | v);
      const b = BigInt(v);
      const zz = b >= 0n ? b << 1n : (-b << 1n) - 1n; // zigzag
      return '\x03' + uvarint(zz);
    }
    floatView.setFloat64(0, v, false); // IEEE 754, big-endian
    let s = '\x04';
    for (let i = 0; i < 8; i++) s += String.fromCharCode(floatView.getUint8(i));
    return s;
  }
  const bytes = utf8Key(v);
  return '\x05' + uvarint(bytes.length) + bytes;
}

/** compareValues orders scalars canonically: by their binary encoding. */
export function compareValues(a, b) {
  const x = encodeValue(a);
  const y = encodeValue(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Paths (crdt/path.go)
//
// A path is {root, segs}; a segment is a map field {name, type}, a set
// element {elem} or a text block {block: [replica, first seq]}. Its key is
// the root type byte, then per field uvarint(utf8len(name)<<3 | type) and the
// name's bytes (types 8 and up: uvarint(utf8len(name)<<3), the type byte,
// then the name), then for a set element the element's value encoding, for a
// text block the replica's 16 bytes and uvarint((seq-1)/TEXT_BLOCK).

function fieldKey(name, t) {
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

const blockStart = (s) => Math.floor((s - 1) / TEXT_BLOCK) * TEXT_BLOCK + 1;
const blockKey = (r, s) => replicaKey(r) + uvarint(Math.floor((s - 1) / TEXT_BLOCK));

function segKey(s) {
  if (isItem(s)) return itemKey(s.item[0], s.item[1], s.kind);
  if (isBlock(s)) return (s.list ? '\x00' : '') + blockKey(s.block[0], s.block[1]);
  return isElem(s) ? encodeValue(s.elem) : fieldKey(s.name, s.type);
}

function pathKey(path) {
  let k = String.fromCharCode(path.root);
  for (const s of path.segs) k += segKey(s);
  return k;
}

function pathJSON(path) {
  const out = [TYPE_NAMES[path.root]];
  for (const s of path.segs) {
    out.push(isItem(s) ? [...s.item, TYPE_NAMES[s.kind]] : isBlock(s) ? [...s.block] : isElem(s) ? s.elem : [s.name, TYPE_NAMES[s.type]]);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Timestamps and the hybrid logical clock (crdt/hlc.go)

/** compareTimestamps orders hybrid timestamps {wall, logical}. */
export function compareTimestamps(a, b) {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1;
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1;
  return 0;
}

function successor(t) {
  return t.logical === MAX_LOGICAL ? { wall: t.wall + 1, logical: 0 } : { wall: t.wall, logical: t.logical + 1 };
}

/**
 * Clock is a hybrid logical clock (Kulkarni et al.). It never reads the time:
 * callers pass physical time in milliseconds. Readings never go backwards and
 * a reading taken after update(remote) exceeds remote, so a replica whose
 * wall clock is behind still stamps its later writes after what it has seen.
 */
export class Clock {
  constructor(last = { wall: 0, logical: 0 }) {
    this.last = { wall: last.wall, logical: last.logical };
  }

  /** now issues a timestamp for a local event at physical time pt. */
  now(pt) {
    this.last = pt > this.last.wall ? { wall: pt, logical: 0 } : successor(this.last);
    return this.last;
  }

  /** update folds in a timestamp seen in a message and returns the receive event's timestamp. */
  update(pt, remote) {
    const m = compareTimestamps(remote, this.last) > 0 ? remote : this.last;
    this.last = pt > m.wall ? { wall: pt, logical: 0 } : successor(m);
    return this.last;
  }
}

// ---------------------------------------------------------------------------
// Dots and entries (crdt/dot.go, crdt/leaf.go)
//
// An entry is {r, s, p, n, w, l, v}: the dot (replica, seq) and the payload
// its leaf kind uses (P and N for counters, w and l the LWW timestamp, v the
// value); unused fields are 0 or null. Entries are never modified in place.

function compareDot(ar, as, br, bs) {
  if (ar !== br) return ar < br ? -1 : 1;
  return as < bs ? -1 : as > bs ? 1 : 0;
}
const compareEntryDot = (a, b) => compareDot(a.r, a.s, b.r, b.s);

function entry(r, s, p = 0, n = 0, w = 0, l = 0, v = null) {
  return { r, s, p, n, w, l, v };
}

// comparePayload orders entries carrying the same dot; only forged input has
// two, and keeping the greater keeps join a semilattice even then.
function comparePayload(a, b) {
  if (a.p !== b.p) return a.p < b.p ? -1 : 1;
  if (a.n !== b.n) return a.n < b.n ? -1 : 1;
  const c = compareTimestamps({ wall: a.w, logical: a.l }, { wall: b.w, logical: b.l });
  if (c !== 0) return c;
  if (a.or !== b.or || a.os !== b.os) return compareDot(a.or || '', a.os || 0, b.or || '', b.os || 0);
  return compareValues(a.v, b.v);
}

function sameEntry(a, b) {
  return a.r === b.r && a.s === b.s && a.p === b.p && a.n === b.n && a.w === b.w && a.l === b.l &&
    encodeValue(a.v) === encodeValue(b.v) && a.len === b.len && a.or === b.or && a.os === b.os && a.left === b.left;
}

function sameEntries(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!sameEntry(a[i], b[i])) return false;
  return true;
}

// ---------------------------------------------------------------------------
// Causal context (crdt/context.go)

const REPLICA_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** isReplicaId reports whether s is a lowercase UUID, the only replica id form on the wire. */
export function isReplicaId(s) {
  return typeof s === 'string' && REPLICA_RE.test(s);
}

/**
 * Context is a causal context: a version vector plus a cloud of dots seen out
 * of order. It keeps Go's invariant that vv[r]+1 is never in the cloud and no
 * cloud dot is at or below vv[r], so equal dot sets have equal encodings.
 */
export class Context {
  constructor() {
    this.vv = new Map(); // replica -> highest seq with every lower one seen
    this.cloud = new Map(); // replica -> Set of seqs
  }

  contains(r, s) {
    if (s >= 1 && s <= (this.vv.get(r) || 0)) return true;
    const c = this.cloud.get(r);
    return c !== undefined && c.has(s);
  }

  add(r, s) {
    if (s === 0 || this.contains(r, s)) return;
    if (s === (this.vv.get(r) || 0) + 1) {
      this.vv.set(r, s);
      this._compact(r);
      return;
    }
    let c = this.cloud.get(r);
    if (!c) this.cloud.set(r, (c = new Set()));
    c.add(s);
  }

  /** max is the highest sequence seen from r, in the vector or the cloud. */
  max(r) {
    let m = this.vv.get(r) || 0;
    const c = this.cloud.get(r);
    if (c) for (const s of c) if (s > m) m = s;
    return m;
  }

  join(o) {
    const touched = new Set();
    for (const [r, s] of o.vv) {
      if (s > (this.vv.get(r) || 0)) {
        this.vv.set(r, s);
        touched.add(r);
      }
    }
    for (const [r, seqs] of o.cloud) {
      for (const s of seqs) {
        if (!this.contains(r, s)) {
          let c = this.cloud.get(r);
          if (!c) this.cloud.set(r, (c = new Set()));
          c.add(s);
          touched.add(r);
        }
      }
    }
    for (const r of touched) this._compact(r);
  }

  // _compact moves the cloud dots of r that the vector reaches into it and
  // drops the ones it covers.
  _compact(r) {
    const c = this.cloud.get(r);
    if (!c) return;
    let top = this.vv.get(r) || 0;
    while (c.has(top + 1)) {
      c.delete(top + 1);
      top++;
    }
    if (top > 0) this.vv.set(r, top);
    for (const s of c) if (s <= top) c.delete(s);
    if (c.size === 0) this.cloud.delete(r);
  }

  clone() {
    const n = new Context();
    for (const [r, s] of this.vv) n.vv.set(r, s);
    for (const [r, c] of this.cloud) n.cloud.set(r, new Set(c));
    return n;
  }

  isEmpty() {
    return this.vv.size === 0 && this.cloud.size === 0;
  }

  /** ranges calls fn(r, lo, hi) for every run of dots held: one per vector entry, one per cloud dot. */
  ranges(fn) {
    for (const [r, s] of this.vv) if (s > 0) fn(r, 1, s);
    for (const [r, c] of this.cloud) for (const s of c) fn(r, s, s);
  }

  /** toWire is the canonical {vv, cloud} of the JSON encoding. */
  toWire() {
    const vv = [...this.vv].filter(([, s]) => s > 0).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const cloud = [];
    for (const [r, c] of this.cloud) for (const s of c) cloud.push([r, s]);
    cloud.sort((a, b) => compareDot(a[0], a[1], b[0], b[1]));
    return { vv, cloud };
  }
}

// ---------------------------------------------------------------------------
// Operations (crdt/op.go)

/**
 * Op is a decoded, validated operation. Build one with parseOp from the JSON
 * form: {"type":"counter","op":"inc","by":1}, {"type":"set","op":"add","value":"x"},
 * {"type":"lww","op":"set","path":["title"],"value":"Plan"},
 * {"type":"map","op":"delete","path":["cards","c1"]},
 * {"type":"text","op":"insert","index":3,"value":"abc"},
 * {"type":"text","op":"delete","index":3,"count":2}. A text's index and
 * count are in Unicode code points, not UTF-16 units.
 */
export class Op {
  constructor(type, kind, path, value, by, index = 0, count = 0, to = 0, map = null, item = null) {
    this.type = type; // type number
    this.kind = kind; // op name
    this.path = path; // field names, root first
    this.value = value;
    this.by = by;
    this.index = index; // a list move's from
    this.count = count;
    this.to = to; // a list move's to
    this.map = map; // a list insert's map element: {name: scalar}, else null
    this.item = item; // a list index in the path: {at, index} (path[at] is the first field inside the element)
    Object.freeze(this);
  }

  /** toJSON is the op's JSON form. */
  toJSON() {
    const j = { type: TYPE_NAMES[this.type], op: this.kind };
    if (this.path.length) {
      j.path = [...this.path];
      if (this.item) j.path.splice(this.item.at, 0, this.item.index);
    }
    if (this.kind === 'inc' || this.kind === 'dec') j.by = this.by;
    if (this.kind === 'add' || this.kind === 'remove' || this.kind === 'set' || this.kind === 'insert') j.value = this.map ? { ...this.map } : this.value;
    if (this.kind === 'move') {
      j.from = this.index;
      j.to = this.to;
    } else if (this.type === T.text || this.type === T.list) {
      j.index = this.index;
      if (this.kind === 'delete') j.count = this.count;
    }
    return j;
  }
}

// int64Field reads an optional integer field of an op the way Go decodes it
// into an *int64: absent or null is undefined, anything else must be an
// integer within int64.
function int64Field(x, name) {
  const v = x[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || Math.abs(v) >= INT64_LIMIT) {
    throw invalid(`op: "${name}" must be an integer, got ${JSON.stringify(v)}`);
  }
  return v === 0 ? 0 : v;
}

/**
 * parseOp decodes and validates an operation from its JSON form (an object or
 * JSON text). The checks run in the Go decoder's order, so a bad op fails with
 * the same code in every implementation: malformed fields ('invalid'), then an
 * unknown op name ('invalid_op'), a missing value ('invalid'), an unknown type
 * ('invalid'), an op the type lacks ('invalid_op'), then limits and ranges.
 */
export function parseOp(x) {
  if (x instanceof Op) return x;
  if (typeof x === 'string') {
    try {
      x = JSON.parse(x);
    } catch (e) {
      throw invalid(`op: ${e.message}`);
    }
  }
  if (x === null || typeof x !== 'object' || Array.isArray(x)) throw invalid('op: want a JSON object');
  // Decoding: every field must have the JSON type the Go struct declares.
  let type = 0;
  if (x.type !== undefined) {
    if (typeof x.type !== 'string') throw invalid('op: "type" must be a string');
    type = typeNumber(x.type);
    if (!type) throw invalid(`op: unknown type "${x.type}"`);
  }
  if (x.op !== undefined && x.op !== null && typeof x.op !== 'string') throw invalid('op: "op" must be a string');
  let path = [];
  let item = null;
  if (x.path !== undefined && x.path !== null) {
    if (!Array.isArray(x.path)) throw invalid('op: "path" must be an array of field names');
    for (const f of x.path) {
      if (typeof f === 'string') path.push(f);
      else if (typeof f === 'number' && Number.isInteger(f) && Math.abs(f) < INT64_LIMIT && item === null) item = { at: path.length, index: f };
      else throw invalid('op: "path" must be a list of field names and at most one list index (a whole number)');
    }
  }
  let by = 1;
  if (x.by !== undefined && x.by !== null) {
    if (typeof x.by !== 'number' || !Number.isInteger(x.by) || Math.abs(x.by) >= INT64_LIMIT) {
      throw invalid(`op: "by" must be an integer, got ${JSON.stringify(x.by)}`);
    }
    by = x.by === 0 ? 0 : x.by;
  }
  const rawIndex = int64Field(x, 'index');
  const rawCount = int64Field(x, 'count');
  const rawFrom = int64Field(x, 'from');
  const rawTo = int64Field(x, 'to');
  const kind = x.op || '';
  if (!OP_NAMES.includes(kind)) throw new CrdtError('invalid_op', `unknown op "${kind}"`);
  let value = null;
  let map = null;
  if (kind === 'add' || kind === 'remove' || kind === 'set' || kind === 'insert') {
    if (!Object.hasOwn(x, 'value') || x.value === undefined) {
      throw invalid(`${x.type} ${kind} needs a value`);
    }
    if (type === T.list && kind === 'insert' && x.value !== null && typeof x.value === 'object' && !Array.isArray(x.value)) {
      map = {};
      for (const [name, v] of Object.entries(x.value)) map[name] = scalar(v, `field "${name}"`);
    } else {
      value = scalar(x.value, 'op value');
    }
  }
  if (kind !== 'inc' && kind !== 'dec') by = 0;
  let index = 0;
  let count = 0;
  let to = 0;
  if (type === T.list && kind === 'move') {
    if (rawFrom === undefined || rawTo === undefined || rawIndex !== undefined) throw invalid('list move needs from and to, and no index');
    index = rawFrom;
    to = rawTo;
  } else if (rawFrom !== undefined || rawTo !== undefined) {
    throw invalid('only a list move takes from and to');
  }
  if (type === T.text || (type === T.list && kind !== 'move')) {
    if (rawIndex === undefined) throw invalid(`${TYPE_NAMES[type]} ${kind} needs an index`);
    index = rawIndex;
    if (kind === 'delete') count = rawCount === undefined ? 1 : rawCount;
  }
  // Validation (Go's Op.Validate).
  if (!type) throw invalid('op: unknown type 0 (missing "type")');
  if (!OPS_OF[type].includes(kind)) {
    throw new CrdtError('invalid_op', `a ${TYPE_NAMES[type]} has no "${kind}" operation`);
  }
  if (item && (item.at >= path.length || item.index < 0 || item.index > MAX_SAFE_INT)) {
    throw invalid('a list index in a path needs a field after it and must be from 0 to 2^53-1');
  }
  if (map && (type !== T.list || kind !== 'insert')) throw invalid('only a list insert takes an object value');
  if (type === T.map && path.length === 0) throw new CrdtError('invalid_op', 'delete needs the path of a map field');
  if (path.length > MAX_DEPTH) throw new CrdtError('limit', `path of ${path.length} fields exceeds ${MAX_DEPTH}`);
  for (const f of path) {
    if (!isWellFormed(f)) throw invalid('field name is not valid Unicode (lone surrogate)');
    const n = textEncoder.encode(f).length;
    if (n > MAX_FIELD_NAME) throw new CrdtError('limit', `field name of ${n} bytes exceeds ${MAX_FIELD_NAME}`);
  }
  if (kind === 'inc' || kind === 'dec') {
    if (Math.abs(by) > MAX_SAFE_INT) throw invalid(`by ${by} is beyond ±2^53-1`);
    if (type === T.gcounter && by < 0) throw new CrdtError('invalid_op', `a gcounter only grows (by ${by})`);
  }
  if (type === T.text) {
    if (index < 0 || index > MAX_SAFE_INT) throw invalid(`index ${index} is negative or beyond 2^53-1`);
    if (kind === 'delete') {
      if (count < 1 || count > MAX_SAFE_INT) throw invalid(`a text delete needs a count from 1 to 2^53-1, not ${count}`);
    } else {
      if (typeof value !== 'string' || value === '') throw invalid('a text insert needs a non-empty string value');
      const n = codePoints(value).length;
      if (n > MAX_TEXT_INSERT) throw new CrdtError('limit', `insert of ${n} characters exceeds ${MAX_TEXT_INSERT}`);
    }
  }
  if (type === T.list) {
    if (index < 0 || index > MAX_SAFE_INT || to < 0 || to > MAX_SAFE_INT) throw invalid('a list index is from 0 to 2^53-1');
    if (kind === 'delete' && (count < 1 || count > MAX_SAFE_INT)) throw invalid(`a list delete needs a count from 1 to 2^53-1, not ${count}`);
    if (map && Object.keys(map).length > MAX_LIST_FIELDS) throw new CrdtError('limit', `an element of ${Object.keys(map).length} fields exceeds ${MAX_LIST_FIELDS}`);
    for (const f of Object.keys(map || {})) {
      if (!isWellFormed(f)) throw invalid('field name is not valid Unicode (lone surrogate)');
      if (textEncoder.encode(f).length > MAX_FIELD_NAME) throw new CrdtError('limit', `field name exceeds ${MAX_FIELD_NAME} bytes`);
    }
  }
  return new Op(type, kind, Object.freeze(path), value, by, index, count, to, map && Object.freeze(map), item && Object.freeze(item));
}

// ---------------------------------------------------------------------------
// Objects

/**
 * CrdtObject is the state of one key: a set of leaves keyed by path key, a dot
 * index, a causal context and a type set. A delta is a CrdtObject too, and so
 * is the empty state. Not safe to share between concurrent mutators (there are
 * none in JavaScript, but a caller must not mutate a delta it also keeps).
 */
export class CrdtObject {
  constructor() {
    this.types = 0; // type set bit mask
    this.ctx = new Context();
    this.leaves = new Map(); // key -> {path, entries}
    this.dots = new Map(); // "replica/seq" -> leaf key
    this._sorted = null; // sorted leaf keys, rebuilt lazily
    this._texts = null; // prefix -> TextIndex of texts this object edits
    this._editing = false; // set while apply runs a text edit, whose own writes keep _texts
    this.lastTextEdit = null; // the last text edit apply made, as a textChanges entry
  }

  _keepText(prefix, x) {
    if (!this._texts) this._texts = new Map();
    this._texts.set(prefix, x);
  }

  // --- the store interface the algorithms run against -----------------------

  leaf(key) {
    const l = this.leaves.get(key);
    return l ? l.entries : [];
  }

  setLeaf(key, path, entries) {
    if (!this._editing) this._texts = null;
    const old = this.leaves.get(key);
    // The dot index changes only where the live dots differ: a text block
    // gains or loses a few characters, not its whole content.
    diffLiveDots(old ? old.entries : [], entries,
      (r, s) => this.dots.delete(`${r}/${s}`),
      (r, s) => this.dots.set(`${r}/${s}`, key));
    if (entries.length === 0) {
      if (old) {
        this.leaves.delete(key);
        this._sorted = null;
      }
      return;
    }
    if (!old) this._sorted = null;
    this.leaves.set(key, { path, entries });
  }

  // --- counters, by writer (counter_leaf.js) --------------------------------

  /** replicaLeaf returns writer r's entries in the counter leaf at key. */
  replicaLeaf(key, r) {
    const l = this.leaves.get(key);
    if (!l) return [];
    return l instanceof CounterLeaf ? l.replica(r) : l.entries.filter((e) => e.r === r);
  }

  /** setReplicaLeaf replaces writer r's entries in the counter leaf at key. */
  setReplicaLeaf(key, path, r, entries) {
    if (!this._editing) this._texts = null;
    let l = this.leaves.get(key);
    if (!(l instanceof CounterLeaf)) {
      if (!l) this._sorted = null;
      l = new CounterLeaf(path, l ? l.entries : []);
      this.leaves.set(key, l);
    }
    diffLiveDots(l.replica(r), entries,
      (rr, s) => this.dots.delete(`${rr}/${s}`),
      (rr, s) => this.dots.set(`${rr}/${s}`, key));
    l.set(r, entries);
    if (l.by.size === 0) {
      this.leaves.delete(key);
      this._sorted = null;
    }
  }

  /** counterSums returns the counter leaf's sums [p, n] as BigInts. */
  counterSums(key) {
    let l = this.leaves.get(key);
    if (!l) return [0n, 0n];
    if (!(l instanceof CounterLeaf)) {
      l = new CounterLeaf(l.path, l.entries);
      this.leaves.set(key, l);
    }
    return [l.p, l.n];
  }

  sortedKeys() {
    if (!this._sorted) this._sorted = [...this.leaves.keys()].sort();
    return this._sorted;
  }

  /** leavesUnder returns the keys starting with prefix, in key order. */
  keysUnder(prefix) {
    const keys = this.sortedKeys();
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (keys[mid] < prefix) lo = mid + 1;
      else hi = mid;
    }
    const out = [];
    for (let i = lo; i < keys.length && keys[i].startsWith(prefix); i++) out.push(keys[i]);
    return out;
  }

  // dotsIn calls fn(key) for the leaf of every dot of r with lo <= seq <= hi.
  // Small ranges, which is what deltas carry, are probed dot by dot; large
  // ones (a whole state's vector) scan the index.
  _dotsIn(r, lo, hi, fn) {
    if (hi - lo < 64 || this.dots.size > hi - lo) {
      for (let s = lo; s <= hi; s++) {
        const k = this.dots.get(`${r}/${s}`);
        if (k !== undefined) fn(r, s, k);
      }
      return;
    }
    for (const [d, k] of this.dots) {
      const i = d.lastIndexOf('/');
      if (d.slice(0, i) !== r) continue;
      const s = Number(d.slice(i + 1));
      if (s >= lo && s <= hi) fn(r, s, k);
    }
  }

  // --- reading --------------------------------------------------------------

  /** type is the object's type number (the lowest of its type set), 0 if never written. */
  type() {
    return firstType(this.types);
  }

  /** typeName is the object's type name, or null if it was never written. */
  typeName() {
    const t = this.type();
    return t ? TYPE_NAMES[t] : null;
  }

  /** typeNames lists every type the object has been written as. */
  typeNames() {
    return typeList(this.types).map((t) => TYPE_NAMES[t]);
  }

  isEmpty() {
    return this.leaves.size === 0 && this.ctx.isEmpty() && this.types === 0;
  }

  /**
   * value renders the plain value: a number for counters, an array of scalars
   * in canonical order for sets and mvregs, an object for maps, a scalar or
   * null for lww, a boolean for flags, null for an object never written.
   */
  value() {
    const t = this.type();
    if (!t) return null;
    const leaves = [];
    for (const k of this.sortedKeys()) {
      if (k.charCodeAt(0) === t) leaves.push(this.leaves.get(k));
    }
    return render(t, leaves, 0);
  }

  /**
   * text returns the text at path (field names; none for a text object): ""
   * where there is none. It reads the text even where a concurrent write
   * made the object or field another type too, which value() would show.
   */
  text(path = []) {
    return textFugue(this, path).string();
  }

  // --- mutating -------------------------------------------------------------

  /**
   * apply performs op (an Op or its JSON form) as replica at time now
   * ({wall, logical}), changes this object, and returns the delta: join it
   * into any replica, any number of times, in any order. It is the
   * delta-mutator of every type: the delta is computed from the current
   * state, then joined in. A wrong-type or invalid op throws a CrdtError and
   * changes nothing.
   */
  apply(replica, now, op) {
    if (!isReplicaId(replica)) throw invalid(`replica id ${JSON.stringify(replica)} is not a lowercase UUID`);
    op = parseOp(op);
    if (!now || !Number.isInteger(now.wall) || now.wall < 0 || now.wall > MAX_SAFE_INT ||
      !Number.isInteger(now.logical) || now.logical < 0 || now.logical > MAX_LOGICAL) {
      throw invalid(`time ${JSON.stringify(now)} out of range`);
    }
    const { key, path } = this._resolve(op);
    const delta = new CrdtObject();
    delta.types = typeBit(path.root);
    if (op.type === T.list) {
      listDelta(this, key, path, delta, replica, this.ctx.max(replica), now, op);
      this.join(delta);
      return delta;
    }
    if (op.type === T.text) {
      this._editing = true;
      try {
        textDelta(this, key, path, delta, replica, this.ctx.max(replica), op);
        this.join(delta);
      } catch (e) {
        this._texts = null;
        throw e;
      } finally {
        this._editing = false;
      }
      return delta;
    }
    const seq = this.ctx.max(replica) + 1;
    if (seq > MAX_SEQ) throw new CrdtError('seq_exhausted', `replica ${replica} has minted ${MAX_SEQ} dots for this object`);
    // covers puts the dots of the entries a mutation supersedes into the
    // delta's context: that is how the delta removes them everywhere.
    const covers = (es) => {
      for (const e of es) eachLiveDot(e, (r, s) => delta.ctx.add(r, s));
    };
    const put = (e) => {
      delta.ctx.add(replica, seq);
      delta.setLeaf(key, path, [e]);
    };
    if (op.kind === 'delete') {
      const parent = key;
      const name = op.path[op.path.length - 1];
      for (let t = 1; t <= MAX_TYPE; t++) {
        for (const k of this.keysUnder(parent + fieldKey(name, t))) covers(this.leaf(k));
      }
    } else {
      // A counter reads only its writer's entries and the sums.
      const es = op.kind === 'inc' || op.kind === 'dec' ? [] : this.leaf(key);
      switch (op.kind) {
        case 'inc':
        case 'dec': {
          const by = op.kind === 'dec' ? -op.by : op.by;
          // by 0 counts nothing, but the delta still names the type, so
          // before ⊔ delta = after holds.
          if (by === 0) break;
          // One entry per replica holding its running totals; the new entry
          // replaces this replica's old ones.
          const mine = this.replicaLeaf(key, replica);
          let last = null;
          for (const e of mine) if (!last || e.s > last.s) last = e;
          let p = last ? last.p : 0;
          let n = last ? last.n : 0;
          if (by > 0) p += by;
          else n -= by;
          if (p > MAX_SAFE_INT || n > MAX_SAFE_INT) throw new CrdtError('out_of_range', 'counter total would exceed 2^53-1');
          // The sum over every replica must stay exact too (crdt/apply.go).
          const [sp, sn] = this.counterSums(key);
          const tp = sp - BigInt(last ? last.p : 0) + BigInt(p);
          const tn = sn - BigInt(last ? last.n : 0) + BigInt(n);
          // Only the sum this write raises is held to it (crdt/leaf.go
          // counterRaise): a decrement may go on while increments are at it.
          if (by > 0 ? tp > BigInt(MAX_SAFE_INT) : tn > BigInt(MAX_SAFE_INT)) throw new CrdtError('out_of_range', 'counter value would pass 2^53-1');
          covers(mine);
          put(entry(replica, seq, p, n));
          break;
        }
        case 'add':
        case 'enable':
          covers(es);
          put(entry(replica, seq));
          break;
        case 'remove':
        case 'disable':
          covers(es);
          break;
        case 'set': {
          let w = 0;
          let l = 0;
          if (op.type === T.lww) {
            // A write that has seen others must beat them whatever the
            // caller's clock says: stamp it past everything it supersedes.
            let ts = { wall: now.wall, logical: now.logical };
            for (const old of es) {
              const ots = { wall: old.w, logical: old.l };
              if (compareTimestamps(ots, ts) >= 0) ts = successor(ots);
            }
            w = ts.wall;
            l = ts.logical;
          }
          covers(es);
          put(entry(replica, seq, 0, 0, w, l, op.value));
          break;
        }
      }
    }
    this.join(delta);
    return delta;
  }

  // _resolve checks op's types against what the object holds and returns the
  // key (and path) of the leaf op acts on; for delete, the prefix of the map
  // holding the field.
  _resolve(op) {
    const root = op.item && op.item.at === 0 ? T.list : op.path.length ? T.map : op.type;
    if (this.types !== 0 && !hasType(this.types, root)) {
      throw new CrdtError('wrong_type', `the object is a ${TYPE_NAMES[firstType(this.types)]}, not a ${TYPE_NAMES[root]}`);
    }
    let key = String.fromCharCode(root);
    const segs = [];
    for (let i = 0; i < op.path.length; i++) {
      const name = op.path[i];
      if (op.item && op.item.at === i) {
        const it = itemAt(this, key, { root, segs: [...segs] }, op.item.index);
        key = it.key;
        segs.push({ item: it.id, kind: it.kind });
      }
      const last = i === op.path.length - 1;
      if (last && op.type === T.map) break;
      const want = last ? op.type : op.item && op.item.at === i + 1 ? T.list : T.map;
      // As at the root, a field written concurrently as two types stays
      // writable as either; only a type it does not hold is refused.
      let present = 0;
      for (let t = 1; t <= MAX_TYPE; t++) {
        if (this.keysUnder(key + fieldKey(name, t)).length > 0) present |= typeBit(t);
      }
      if (present !== 0 && !hasType(present, want)) {
        throw new CrdtError('wrong_type', `field "${name}" is a ${TYPE_NAMES[firstType(present)]}, not a ${TYPE_NAMES[want]}`);
      }
      key += fieldKey(name, want);
      segs.push({ name, type: want });
    }
    if (op.type === T.set) {
      key += encodeValue(op.value);
      segs.push({ elem: op.value });
    }
    if (key.length > MAX_KEY_LEN) throw new CrdtError('limit', `leaf key of ${key.length} bytes exceeds ${MAX_KEY_LEN}`);
    return { key, path: { root, segs } };
  }

  /**
   * join merges d (any state or delta of any replica) into this object. It is
   * the lattice join: commutative, associative and idempotent. For each dot:
   * keep it if both sides have it, or if one side has it and the other has
   * not seen it; drop it if the other side saw it and no longer holds it.
   */
  join(d) {
    for (const [key, l] of d.leaves) {
      if (pathLeafKind(l.path) === LEAF_COUNTER) {
        this._joinCounter(key, l, d.ctx);
        continue;
      }
      const cur = this.leaf(key);
      const res = pathLeafKind(l.path) === LEAF_TEXT ? joinText(cur, l.entries, this.ctx, d.ctx) : joinEntries(cur, l.entries, this.ctx, d.ctx);
      if (!sameEntries(cur, res)) this.setLeaf(key, l.path, res);
    }
    // Dots d's context covers that sit in leaves d does not hold were
    // removed where d came from, so they go here too.
    const removed = new Map(); // key -> [[r, s]]
    d.ctx.ranges((r, lo, hi) => {
      this._dotsIn(r, lo, hi, (rr, s, key) => {
        if (d.leaves.has(key)) return;
        if (!removed.has(key)) removed.set(key, []);
        removed.get(key).push(`${rr}/${s}`);
      });
    });
    for (const [key, gone] of removed) {
      const drop = new Set(gone);
      const l = this.leaves.get(key);
      if (pathLeafKind(l.path) === LEAF_TEXT) this.setLeaf(key, l.path, deleteChars(l.entries, drop));
      else this.setLeaf(key, l.path, l.entries.filter((e) => !drop.has(`${e.r}/${e.s}`)));
    }
    this.ctx.join(d.ctx);
    this.types |= d.types;
    return this;
  }

  // _joinCounter joins a delta's counter leaf l writer by writer: only the
  // writers l names or d's context covers can change (crdt/join.go).
  _joinCounter(key, l, dctx) {
    const writers = new Map(); // replica -> the delta's entries of it
    for (const e of l.entries) {
      if (!writers.has(e.r)) writers.set(e.r, []);
      writers.get(e.r).push(e);
    }
    dctx.ranges((r) => {
      if (!writers.has(r)) writers.set(r, []);
    });
    for (const [r, theirs] of writers) {
      const cur = this.replicaLeaf(key, r);
      const res = joinEntries(cur, theirs, this.ctx, dctx);
      if (!sameEntries(cur, res)) this.setReplicaLeaf(key, l.path, r, res);
    }
  }

  /** clone returns an independent copy (entries are shared: they are immutable). */
  clone() {
    const c = new CrdtObject();
    c.types = this.types;
    c.ctx = this.ctx.clone();
    for (const [k, l] of this.leaves) c.leaves.set(k, l instanceof CounterLeaf ? l.clone() : l);
    for (const [d, k] of this.dots) c.dots.set(d, k);
    return c;
  }

  /** equals reports whether both objects hold the same state. */
  equals(o) {
    return this.toJSON() === o.toJSON();
  }

  /** lwwTimestamps returns the greatest LWW timestamp the object holds, for a hybrid clock to fold in. */
  maxTimestamp() {
    let best = { wall: 0, logical: 0 };
    for (const l of this.leaves.values()) {
      const lk = pathLeafKind(l.path);
      if (lk !== LEAF_LWW && lk !== LEAF_ITEM) continue;
      for (const e of l.entries) {
        const ts = { wall: e.w, logical: e.l };
        if (compareTimestamps(ts, best) > 0) best = ts;
      }
    }
    return best;
  }

  // --- encoding -------------------------------------------------------------

  /**
   * toWire is the canonical JSON structure: JSON.stringify(o.toWire()) is the
   * canonical text. Embed it in protocol messages.
   */
  toWire() {
    const leaves = [];
    for (const k of this.sortedKeys()) {
      const l = this.leaves.get(k);
      const kind = pathLeafKind(l.path);
      leaves.push([pathJSON(l.path), l.entries.map((e) => entryJSON(kind, e))]);
    }
    return { types: this.typeNames(), leaves, ctx: this.ctx.toWire() };
  }

  /**
   * toJSON returns the canonical JSON text, byte for byte what the Go core's
   * MarshalJSON writes. Note that JSON.stringify(object) therefore embeds the
   * state as a string; use toWire() to embed it as a JSON object.
   */
  toJSON() {
    return JSON.stringify(this.toWire());
  }

  /**
   * fromJSON decodes a state or delta from its JSON form (text or parsed).
   * The input is untrusted: like the Go decoder it accepts any order of keys,
   * leaves and entries, adds leaf root types to the type set and leaf dots to
   * the context, and refuses anything malformed with a CrdtError that says
   * where.
   */
  static fromJSON(x) {
    if (typeof x === 'string') {
      if (x.length > MAX_ENCODED_SIZE) throw new CrdtError('limit', `${x.length} bytes of JSON exceeds ${MAX_ENCODED_SIZE}`);
      try {
        x = JSON.parse(x);
      } catch (e) {
        throw invalid(`json: ${e.message}`);
      }
    }
    return decodeObject(x);
  }
}

function entryJSON(kind, e) {
  switch (kind) {
    case LEAF_COUNTER:
      return [e.r, e.s, e.p, e.n];
    case LEAF_MV:
      return [e.r, e.s, e.v];
    case LEAF_LWW:
      return [e.r, e.s, e.w, e.l, e.v];
    case LEAF_ITEM:
      return [e.r, e.s, e.w, e.l, [e.or, e.os], e.v];
    case LEAF_TEXT:
      return [e.r, e.s, e.len, e.or === null ? null : [e.or, e.os, e.left ? 'left' : 'right'], e.v];
  }
  return [e.r, e.s];
}

// joinEntries is the join of two dot stores (Almeida et al., section 5) for
// one leaf: s and o sorted by dot, sc and oc their contexts.
function joinEntries(s, o, sc, oc) {
  const out = [];
  let i = 0;
  let j = 0;
  while (i < s.length || j < o.length) {
    let c;
    if (i === s.length) c = 1;
    else if (j === o.length) c = -1;
    else c = compareEntryDot(s[i], o[j]);
    if (c === 0) {
      out.push(comparePayload(o[j], s[i]) > 0 ? o[j] : s[i]);
      i++;
      j++;
    } else if (c < 0) {
      if (!oc.contains(s[i].r, s[i].s)) out.push(s[i]);
      i++;
    } else {
      if (!sc.contains(o[j].r, o[j].s)) out.push(o[j]);
      j++;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Rendering plain values (crdt/read.go)

// counterTotal sums, per replica, the entry with the highest sequence: an
// entry holds that replica's running totals, so an older one still present
// must not count twice.
// The sums saturate at 2^53-1, as in Go: writers refuse to pass it, so only
// state from a replica that broke the rule gets there.
function counterTotal(es) {
  const [p, n] = counterSums(es);
  return [Math.min(p, MAX_SAFE_INT), Math.min(n, MAX_SAFE_INT)];
}

// counterSums is counterTotal without the saturation, for the writer's check.
function counterSums(es) {
  const latest = new Map();
  for (const e of es) {
    const l = latest.get(e.r);
    if (!l || e.s > l.s) latest.set(e.r, e);
  }
  let p = 0;
  let n = 0;
  for (const e of latest.values()) {
    p += e.p;
    n += e.n;
  }
  return [p, n];
}

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
function render(t, leaves, depth) {
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

// ---------------------------------------------------------------------------
// Decoding the JSON form (crdt/codec_json.go)

function decodeObject(x) {
  const obj = new CrdtObject();
  const vv = new Map();
  const seen = new Map(); // replica -> [seq] of cloud and leaf dots
  const held = new Set(); // "replica/seq" of every dot the leaves cover
  const replicas = new Set();
  const where = [];
  const fail = (msg) => invalid(`json${where.length ? ' ' + where.join('') : ''}: ${msg}`);
  const kind = (v) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

  const fields = (v, what, keys) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw fail(`${what}: want an object, got ${kind(v)}`);
    for (const k of Object.keys(v)) if (!keys.includes(k)) throw fail(`${what}: unexpected key "${k}"`);
    for (const k of keys) if (!Object.hasOwn(v, k)) throw fail(`${what}: missing key "${k}"`);
  };
  const array = (v, what) => {
    if (!Array.isArray(v)) throw fail(`${what}: want an array, got ${kind(v)}`);
    return v;
  };
  const uint = (v, what, lo, hi) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      throw fail(`${what} ${JSON.stringify(v)} is not an integer in ${lo}..${hi}`);
    }
    return v;
  };
  const typeOf = (v, what) => {
    const t = typeNumber(v);
    if (!t) throw fail(`${what}: unknown type ${JSON.stringify(v)}`);
    return t;
  };
  const dot = (v, i) => {
    const r = v[i];
    if (!isReplicaId(r)) throw fail(`replica ${JSON.stringify(r)} is not a lowercase UUID`);
    if (!replicas.has(r)) {
      if (replicas.size >= MAX_REPLICAS) throw new CrdtError('limit', `more than ${MAX_REPLICAS} replicas`);
      replicas.add(r);
    }
    return [r, uint(v[i + 1], 'seq', 1, MAX_SEQ)];
  };
  const sc = (v, what) => {
    try {
      return scalar(v, what);
    } catch (e) {
      throw fail(e.message);
    }
  };
  const remember = (r, s) => {
    if (!seen.has(r)) seen.set(r, []);
    seen.get(r).push(s);
  };

  fields(x, 'object', ['types', 'leaves', 'ctx']);
  for (const name of array(x.types, 'types')) obj.types |= typeBit(typeOf(name, 'type'));

  array(x.leaves, 'leaves').forEach((leaf, li) => {
    where.push(`leaves[${li}]`);
    if (!Array.isArray(leaf) || leaf.length !== 2) throw fail('a leaf is [PATH, [ENTRY, ...]]');
    const path = decodePath(leaf[0], fail, typeOf, sc, (b) => dot(b, 0));
    const key = pathKey(path);
    if (key.length > MAX_KEY_LEN) throw new CrdtError('limit', `leaf key of ${key.length} bytes exceeds ${MAX_KEY_LEN}`);
    // A leaf is proof of a write of its root type.
    obj.types |= typeBit(path.root);
    if (obj.leaves.has(key)) throw fail(`leaf ${JSON.stringify(leaf[0])} appears twice`);
    const lk = pathLeafKind(path);
    const want = { [LEAF_DOTS]: 2, [LEAF_COUNTER]: 4, [LEAF_MV]: 3, [LEAF_LWW]: 5, [LEAF_TEXT]: 5, [LEAF_ITEM]: 6 }[lk];
    let es = array(leaf[1], 'entries').map((e) => {
      if (!Array.isArray(e) || e.length !== want) throw fail(`entry: want an array of ${want} elements`);
      const [r, s] = dot(e, 0);
      switch (lk) {
        case LEAF_TEXT: {
          const len = uint(e[2], 'piece length', 1, TEXT_BLOCK);
          let or = null;
          let os = 0;
          let left = false;
          if (e[3] !== null) {
            if (!Array.isArray(e[3]) || e[3].length !== 3) throw fail('origin: want null or [REPLICA,SEQ,SIDE]');
            [or, os] = dot(e[3], 0);
            if (e[3][2] !== 'left' && e[3][2] !== 'right') throw fail(`side ${JSON.stringify(e[3][2])} is neither "left" nor "right"`);
            left = e[3][2] === 'left';
          }
          return piece(r, s, len, or, os, left, sc(e[4], 'piece value'));
        }
        case LEAF_ITEM: {
          if (!Array.isArray(e[4]) || e[4].length !== 2) throw fail('position: want [REPLICA,SEQ]');
          const [or, os] = dot(e[4], 0);
          return itemEntry(r, s, uint(e[2], 'wall', 0, MAX_SAFE_INT), uint(e[3], 'logical', 0, MAX_LOGICAL), or, os, sc(e[5], 'value'));
        }
        case LEAF_COUNTER:
          return entry(r, s, uint(e[2], 'P', 0, MAX_SAFE_INT), uint(e[3], 'N', 0, MAX_SAFE_INT));
        case LEAF_MV:
          return entry(r, s, 0, 0, 0, 0, sc(e[2], 'value'));
        case LEAF_LWW:
          return entry(r, s, 0, 0, uint(e[2], 'wall', 0, MAX_SAFE_INT), uint(e[3], 'logical', 0, MAX_LOGICAL), sc(e[4], 'value'));
      }
      return entry(r, s);
    });
    if (es.length === 0) throw fail('a leaf has no entries');
    es.sort(compareEntryDot);
    if (lk === LEAF_TEXT) {
      const err = checkPieces(path, es);
      if (typeof err === 'string') throw fail(err);
      es = err;
    }
    if (lk === LEAF_ITEM) {
      const err = checkItem(path, es);
      if (err) throw fail(err);
    }
    for (const e of es) {
      let dup = false;
      eachDot(e, (r, s) => {
        const d = `${r}/${s}`;
        if (held.has(d)) dup = true;
        held.add(d);
        remember(r, s);
      });
      if (dup) throw fail(`dot ${e.r}:${e.s} appears twice`);
    }
    obj.setLeaf(key, path, es);
    where.pop();
  });

  fields(x.ctx, 'ctx', ['vv', 'cloud']);
  for (const p of array(x.ctx.vv, 'vv')) {
    if (!Array.isArray(p) || p.length !== 2) throw fail('vv: want [REPLICA, SEQ] pairs');
    const [r, s] = dot(p, 0);
    if (vv.has(r)) throw fail(`vv: replica ${r} appears twice`);
    vv.set(r, s);
  }
  for (const p of array(x.ctx.cloud, 'cloud')) {
    if (!Array.isArray(p) || p.length !== 2) throw fail('cloud: want [REPLICA, SEQ] pairs');
    const [r, s] = dot(p, 0);
    remember(r, s);
  }
  // The context is the sent vector plus every other dot, leaf dots included,
  // in compact form: sorted once per replica rather than added one by one.
  const ctx = obj.ctx;
  for (const [r, s] of vv) ctx.vv.set(r, s);
  for (const [r, seqs] of seen) {
    seqs.sort((a, b) => a - b);
    let top = ctx.vv.get(r) || 0;
    for (const s of seqs) {
      if (s <= top) continue;
      if (s === top + 1) {
        top = s;
        continue;
      }
      if (!ctx.cloud.has(r)) ctx.cloud.set(r, new Set());
      ctx.cloud.get(r).add(s);
    }
    if (top > 0) ctx.vv.set(r, top);
    const c = ctx.cloud.get(r);
    if (c) for (const s of c) if (s <= top) c.delete(s);
  }
  return obj;
}

// decodePath reads [ROOT, SEG...], letting the type reached so far decide what
// the next segment must be: a map takes a field, a set one element, and
// anything else ends the path.
function decodePath(v, fail, typeOf, sc, dotOf) {
  if (!Array.isArray(v) || v.length === 0) throw fail('path: want [ROOT, SEG...]');
  const root = typeOf(v[0], 'path root');
  const path = { root, segs: [] };
  let cur = root;
  for (let i = 1; i < v.length; i++) {
    if (cur === T.map) {
      if (path.segs.length >= MAX_DEPTH) throw new CrdtError('limit', `path deeper than ${MAX_DEPTH}`);
      const f = v[i];
      if (!Array.isArray(f) || f.length !== 2 || typeof f[0] !== 'string') throw fail('path: a map field is [NAME, TYPE]');
      if (!isWellFormed(f[0])) throw fail('path: field name is not valid Unicode');
      const n = textEncoder.encode(f[0]).length;
      if (n > MAX_FIELD_NAME) throw new CrdtError('limit', `field name of ${n} bytes exceeds ${MAX_FIELD_NAME}`);
      const t = typeOf(f[1], 'field type');
      path.segs.push({ name: f[0], type: t });
      cur = t;
    } else if (cur === T.list) {
      const b = v[i];
      if (!Array.isArray(b) || (b.length !== 2 && b.length !== 3)) throw fail('path: a list segment is [REPLICA, SEQ] or [REPLICA, SEQ, KIND]');
      const [r, s] = dotOf(b);
      if (b.length === 2) {
        if ((s - 1) % TEXT_BLOCK !== 0) throw fail(`path: block sequence ${s} is not 1 more than a multiple of ${TEXT_BLOCK}`);
        path.segs.push({ block: [r, s], list: true });
        cur = 0;
      } else {
        if (b[2] !== 'lww' && b[2] !== 'map') throw fail(`path: a list element's kind is "lww" or "map", not ${JSON.stringify(b[2])}`);
        const kind = b[2] === 'map' ? T.map : T.lww;
        path.segs.push({ item: [r, s], kind });
        cur = kind === T.map ? LIST_MAP_ITEM : 0;
      }
    } else if (cur === LIST_MAP_ITEM) {
      const f = v[i];
      if (!Array.isArray(f) || f.length !== 2 || typeof f[0] !== 'string') throw fail('path: a map field is [NAME, TYPE]');
      if (path.segs.length >= MAX_DEPTH) throw new CrdtError('limit', `path deeper than ${MAX_DEPTH}`);
      const t = typeOf(f[1], 'field type');
      path.segs.push({ name: f[0], type: t });
      cur = t;
    } else if (cur === T.set) {
      path.segs.push({ elem: sc(v[i], 'set element') });
      cur = 0; // an element ends the path
    } else if (cur === T.text) {
      const b = v[i];
      if (!Array.isArray(b) || b.length !== 2) throw fail('path: a text block is [REPLICA, SEQ]');
      const [r, s] = dotOf(b);
      if ((s - 1) % TEXT_BLOCK !== 0) throw fail(`path: block sequence ${s} is not 1 more than a multiple of ${TEXT_BLOCK}`);
      path.segs.push({ block: [r, s] });
      cur = 0; // a block ends the path
    } else {
      throw fail(`path: nothing may follow a ${TYPE_NAMES[cur] || 'set element'} leaf`);
    }
  }
  if (cur === T.map) throw fail('path: a map is not a leaf; name a field');
  if (cur === T.set) throw fail('path: a set leaf needs an element');
  if (cur === T.text) throw fail('path: a text leaf needs a block');
  if (cur === T.list) throw fail('path: a list leaf needs a block or an element');
  return path;
}

// ---------------------------------------------------------------------------
// Text (crdt/text.go, crdt/text_apply.go, crdt/text_codec.go)
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

function piece(r, s, len, or, os, left, v) {
  return { r, s, p: 0, n: 0, w: 0, l: 0, v, len, or, os: or === null ? 0 : os, left: or === null ? false : left };
}

const isPiece = (e) => e.len !== undefined;
const liveEntry = (e) => !isPiece(e) || typeof e.v === 'string';

function eachDot(e, fn) {
  const n = isPiece(e) ? e.len : 1;
  for (let i = 0; i < n; i++) fn(e.r, e.s + i);
}

function eachLiveDot(e, fn) {
  if (liveEntry(e)) eachDot(e, fn);
}

// expandPieces lists the characters of pieces es (sorted by dot) as
// {r, s, or, os, left, live, c}.
function expandPieces(es, out = []) {
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
function compressChars(cs) {
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
function joinText(s, o, sc, oc) {
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
function deleteChars(es, gone) {
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
function diffLiveDots(old, next, gone, came) {
  const text = (old.length && isPiece(old[0])) || (next.length && isPiece(next[0]));
  if (!text) {
    const had = new Set(old.map((e) => `${e.r}/${e.s}`));
    for (const e of next) if (!had.delete(`${e.r}/${e.s}`)) came(e.r, e.s);
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

const ROOT = '';
const dotId = (r, s) => (r === null ? ROOT : `${r}/${s}`);

// fugueOf walks the tree of the pieces es (any order): the characters in
// document order, deleted ones included. Characters whose parent is missing
// (it has not arrived yet) are left out, the same way at every replica. It
// works on indices: with the pieces in dot order a character's parent is the
// one before it (a continuation) or found by binary search, and children,
// gathered in index order, come in the dot order Fugue sorts siblings by.
function fugueOf(es) {
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

// TextIndex is one text's characters in Fugue order in chunks that count
// their live characters: what a local edit needs, in time proportional to
// the number of chunks. A CrdtObject keeps one per text it edits and updates
// it with its own edits; any other change drops it (crdt/text_index.go).
const CHUNK = 256;

class TextIndex {
  constructor(f) {
    this.hasRight = f.hasRight;
    this.chunks = [];
    for (let i = 0; i < f.order.length; i += CHUNK) this.chunks.push(chunkOf(f.order.slice(i, i + CHUNK)));
  }

  visibleLen() {
    let n = 0;
    for (const ch of this.chunks) n += ch.live;
    return n;
  }

  // visible returns [chunk, offset] of the i-th live character.
  visible(i) {
    for (let ci = 0; ci < this.chunks.length; ci++) {
      const ch = this.chunks[ci];
      if (i >= ch.live) {
        i -= ch.live;
        continue;
      }
      for (let off = 0; off < ch.cs.length; off++) {
        if (ch.cs[off].live && i-- === 0) return [ci, off];
      }
    }
    throw new Error('text index: visible index out of range');
  }

  at([ci, off]) {
    return this.chunks[ci].cs[off];
  }

  // offset16 is the UTF-16 length of the first i live characters.
  offset16(i) {
    let u = 0;
    for (const ch of this.chunks) {
      for (const c of ch.cs) {
        if (!c.live) continue;
        if (i-- === 0) return u;
        u += c.c.length;
      }
    }
    return u;
  }

  // next is the place after p ([-1, -1]: before the start), or null.
  next([ci, off]) {
    if (ci < 0) {
      ci = 0;
      off = -1;
    }
    for (; ci < this.chunks.length; ci++, off = -1) {
      if (off + 1 < this.chunks[ci].cs.length) return [ci, off + 1];
    }
    return null;
  }

  insertAfter([ci, off], cs) {
    if (this.chunks.length === 0) {
      for (let i = 0; i < cs.length; i += CHUNK) this.chunks.push(chunkOf(cs.slice(i, i + CHUNK)));
      return;
    }
    if (ci < 0) {
      ci = 0;
      off = -1;
    }
    const ch = this.chunks[ci];
    const merged = [...ch.cs.slice(0, off + 1), ...cs, ...ch.cs.slice(off + 1)];
    const parts = merged.length > CHUNK ? Math.ceil(merged.length / (CHUNK / 2)) : 1;
    const size = Math.ceil(merged.length / parts);
    const repl = [];
    for (let i = 0; i < merged.length; i += size) repl.push(chunkOf(merged.slice(i, i + size)));
    this.chunks.splice(ci, 1, ...repl);
  }

  kill([ci, off]) {
    const ch = this.chunks[ci];
    const c = ch.cs[off];
    if (c.live) {
      ch.cs[off] = { ...c, live: false, c: '' };
      ch.live--;
    }
  }
}

function chunkOf(cs) {
  let live = 0;
  for (const c of cs) if (c.live) live++;
  return { cs, live };
}

// textDelta fills delta with a text op by replica, whose highest sequence so
// far is last, on the text whose leaves start with prefix (path its path).
// An insert mints the next dots of replica; a delete is context only.
function textDelta(obj, prefix, path, delta, replica, last, op) {
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

// checkPieces validates a decoded text leaf's pieces (sorted by dot) and
// returns them merged into maximal pieces, or a message saying what is wrong.
function checkPieces(path, es) {
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

// ---------------------------------------------------------------------------
// Text changes as positions (crdt/text_edits.go)

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

// ---------------------------------------------------------------------------
// Anchors: cursor positions that follow concurrent edits

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

function textFugue(obj, path) {
  let key = String.fromCharCode(path.length ? T.map : T.text);
  path.forEach((name, i) => {
    key += fieldKey(name, i === path.length - 1 ? T.text : T.map);
  });
  const es = [];
  for (const k of obj.keysUnder(key)) es.push(...obj.leaf(k));
  return fugueOf(es);
}

// ---------------------------------------------------------------------------
// List (crdt/list.go)
//
// A list's positions are Fugue nodes kept as text pieces whose value is
// always null (leaf tag 0 + block); each element has a leaf (tag 1 + its
// id + its kind) of entries {w, l, or, os, v}: an LWW register of
// positions on the hybrid clock. The element whose insert entry (the head,
// dot = id) is present stands at its newest entry's position.

/** Elements and positions one client delta may add; fields of one map element. */
export const MAX_LIST_INSERT = 1 << 12;
export const MAX_LIST_FIELDS = 256;
const LIST_MAP_ITEM = 0xff; // while a path is read: inside a list's map element

function itemKey(r, s, kind) {
  return '\x01' + replicaKey(r) + uvarint(s) + String.fromCharCode(kind);
}

function itemEntry(r, s, w, l, or, os, v) {
  return { r, s, p: 0, n: 0, w, l, v, or, os };
}

function checkItem(path, es) {
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

function renderList(leaves, depth) {
  return listElems(leaves, depth).vals;
}

// listElems returns the elements of the list whose leaves are leaves, in
// order, and their plain values.
function listElems(leaves, depth) {
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
function itemAt(obj, prefix, path, index) {
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
function listDelta(obj, prefix, path, delta, replica, last, now, op) {
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

// ---------------------------------------------------------------------------
// List changes as positions (crdt/list_edits.go)

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
