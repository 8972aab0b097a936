// crdt_json.js: decoding the JSON form (crdt/codec_json_decode.go)
//
// Part of the CRDT core; crdt.js is its entry point and describes how values
// are represented.

import { normalizeCounter } from './counter_leaf.js';
import { CrdtError, invalid, LEAF_COUNTER, LEAF_DOTS, LEAF_ITEM, LEAF_LWW, LEAF_MV, LEAF_TEXT, MAX_DEPTH, MAX_FIELD_NAME, MAX_KEY_LEN, MAX_LOGICAL, MAX_REPLICAS, MAX_SAFE_INT, MAX_SEQ, pathLeafKind, T, TEXT_BLOCK, TYPE_NAMES, typeBit, typeNumber } from './crdt_types.js';
import { isWellFormed, scalar, textEncoder } from './crdt_value.js';
import { pathKey } from './crdt_path.js';
import { compareEntryDot, entry, isReplicaId } from './crdt_context.js';
import { CrdtObject } from './crdt.js';
import { checkPieces, eachDot, piece } from './crdt_text.js';
import { checkItem, itemEntry, LIST_MAP_ITEM } from './crdt_list.js';

export function decodeObject(x) {
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
      // A counter writer's base is [REPLICA,SEQ,P,N,"base"] (crdt/fold.go).
      const isBase = lk === LEAF_COUNTER && Array.isArray(e) && e.length === 5;
      if (isBase && e[4] !== 'base') throw fail(`counter entry: want "base" after N, got ${JSON.stringify(e[4])}`);
      if (!Array.isArray(e) || (e.length !== want && !isBase)) throw fail(`entry: want an array of ${want} elements`);
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
        case LEAF_COUNTER: {
          const c = entry(r, s, uint(e[2], 'P', 0, MAX_SAFE_INT), uint(e[3], 'N', 0, MAX_SAFE_INT));
          if (isBase) c.base = true;
          return c;
        }
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
    // A base and the raw entries it covers read as a join keeps them.
    if (lk === LEAF_COUNTER) es = normalizeCounter(es);
    for (const e of es) {
      // A counter base is not a write: no dot of its own (crdt/fold.go).
      if (e.base) continue;
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
