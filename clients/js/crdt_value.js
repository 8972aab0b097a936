// crdt_value.js: scalars and their binary encoding (crdt/value.go, crdt/wire.go)
//
// Part of the CRDT core; crdt.js is its entry point and describes how values
// are represented.

import { invalid, MAX_SAFE_INT, SMALL_INT_LIMIT, SMALL_INT_TAG } from './crdt_types.js';

export const textEncoder = new TextEncoder();

/** isWellFormed reports whether s has no lone surrogates (it is valid UTF-8 once encoded). */
export function isWellFormed(s) {
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
export function utf8Key(s) {
  return bytesToKey(textEncoder.encode(s));
}

/** uvarint is the unsigned varint of n (a number or a bigint) as a byte string. */
export function uvarint(n) {
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
