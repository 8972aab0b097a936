// crdt_op.js: operations, parsed and checked (crdt/op.go)
//
// Part of the CRDT core; crdt.js is its entry point and describes how values
// are represented.

import { CrdtError, INT64_LIMIT, invalid, MAX_DEPTH, MAX_FIELD_NAME, MAX_LIST_FIELDS, MAX_SAFE_INT, MAX_TEXT_INSERT, OP_NAMES, OPS_OF, T, TYPE_NAMES, typeNumber } from './crdt_types.js';
import { isWellFormed, scalar, textEncoder } from './crdt_value.js';
import { codePoints } from './crdt_text.js';

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
