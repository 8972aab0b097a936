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
//   limit (crdt_types.js) keeps them exact.
//
// The core is split into modules by concept; this one is the entry point and
// holds CrdtObject (apply, join, deltas, encode) and the counter totals. It
// re-exports the public API of the others, so callers import from crdt.js:
//   crdt_types.js      type names, type sets, leaf kinds, limits, CrdtError
//   crdt_value.js      scalars and their binary encoding
//   crdt_path.js       paths and leaf keys
//   crdt_clock.js      timestamps and the hybrid logical clock
//   crdt_context.js    dots, entries and the causal context
//   crdt_op.js         operations and their checks
//   crdt_render.js     plain values
//   crdt_json.js       decoding the JSON form
//   crdt_text.js       text pieces: code points, joins, deletes, checks
//   crdt_join.js       the join of a leaf's entries, counters' with bases
//   crdt_fugue.js      the Fugue tree walk (texts and lists)
//   crdt_text_index.js TextIndex, for local text edits
//   crdt_text_apply.js text ops applied to an object
//   crdt_text_edits.js text changes as positions
//   crdt_anchor.js     cursor anchors
//   crdt_list.js       lists: elements, positions, list ops
//   crdt_list_edits.js list changes as positions
// Where the algorithms recurse (rendering a list renders its elements,
// decoding builds a CrdtObject, rendering reads the counter totals) two
// modules import each other; such imports are called only inside functions,
// never while a module loads.

import { CrdtError, firstType, hasType, invalid, LEAF_COUNTER, LEAF_ITEM, LEAF_LWW, LEAF_MV, LEAF_TEXT, MAX_ENCODED_SIZE, MAX_KEY_LEN, MAX_LOGICAL, MAX_SAFE_INT, MAX_SEQ, MAX_TYPE, pathLeafKind, T, TYPE_NAMES, typeBit, typeList, typeName } from './crdt_types.js';
import { encodeValue } from './crdt_value.js';
import { fieldKey, pathJSON, pathKey } from './crdt_path.js';
import { compareTimestamps, successor } from './crdt_clock.js';
import { compareEntryDot, Context, entry, isReplicaId, sameEntries } from './crdt_context.js';
import { parseOp } from './crdt_op.js';
import { render } from './crdt_render.js';
import { decodeObject } from './crdt_json.js';
import { deleteChars, diffLiveDots, eachLiveDot, joinText } from './crdt_text.js';
import { textDelta } from './crdt_text_apply.js';
import { textFugue } from './crdt_anchor.js';
import { itemAt, listDelta } from './crdt_list.js';
import { CounterLeaf, counterShare } from './counter_leaf.js';
import { counterJoin, joinEntries } from './crdt_join.js';

// The public API of the other modules.
export { TYPE_NAMES, MAX_SAFE_INT, MAX_SEQ, MAX_DEPTH, MAX_FIELD_NAME, MAX_KEY_LEN, MAX_REPLICAS, MAX_ENCODED_SIZE, TEXT_BLOCK, MAX_TEXT_INSERT, CrdtError, typeNumber, typeName, MAX_LIST_INSERT, MAX_LIST_FIELDS } from './crdt_types.js';
export { scalar, encodeValue, compareValues } from './crdt_value.js';
export { compareTimestamps, Clock } from './crdt_clock.js';
export { isReplicaId, Context } from './crdt_context.js';
export { Op, parseOp } from './crdt_op.js';
export { codePoints, codePointIndex, utf16Index } from './crdt_text.js';
export { snapshotTexts, textChanges } from './crdt_text_edits.js';
export { textAnchor, anchorIndex } from './crdt_anchor.js';
export { snapshotLists, listChanges } from './crdt_list_edits.js';
export { counterTotal } from './crdt_join.js';

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
          // Its latest entry may be its base (crdt/fold.go): it goes on from it.
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
          const [op_, on] = counterShare(mine);
          const [np, nn] = counterShare([...mine.filter((e) => e.base), entry(replica, seq, p, n)]);
          const tp = sp - BigInt(op_) + BigInt(np);
          const tn = sn - BigInt(on) + BigInt(nn);
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
      else this.setLeaf(key, l.path, l.entries.filter((e) => e.base || !drop.has(`${e.r}/${e.s}`)));
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
      const res = counterJoin(cur, theirs, this.ctx, dctx);
      if (!sameEntries(cur, res)) this.setReplicaLeaf(key, l.path, r, res);
    }
  }

  /**
   * fold folds writer w of this root counter into the fold replica into
   * (crdt/fold.go Fold): w's base becomes its latest entry and into's entry
   * gains what w added. Only nodes fold (a client's delta with a base is
   * refused as forged_dot); it is here so that the conformance vectors
   * replay. Returns the delta.
   */
  fold(w, into) {
    const root = this.type();
    if (root !== T.gcounter && root !== T.counter) throw new CrdtError('invalid_op', 'fold: not a counter');
    if (w === into) throw new CrdtError('invalid_op', 'fold: a writer folds into itself');
    const path = { root, segs: [] };
    const key = pathKey(path);
    const mine = this.replicaLeaf(key, w);
    let last = null;
    for (const e of mine) if (!last || e.s > last.s) last = e;
    if (!last) throw new CrdtError('invalid_op', `fold: ${w} has no entry`);
    if (last.base) throw new CrdtError('invalid_op', `fold: ${w} is already folded at ${last.s}`);
    const [sp, sn] = counterShare(mine);
    const delta = new CrdtObject();
    delta.types = typeBit(root);
    const base = { ...entry(w, last.s, last.p, last.n), base: true };
    delta.ctx.add(w, last.s);
    const es = [base];
    if (sp !== 0 || sn !== 0) {
      const fes = this.replicaLeaf(key, into);
      let prev = null;
      for (const e of fes) if (!prev || e.s > prev.s) prev = e;
      const seq = this.ctx.max(into) + 1;
      const p = (prev ? prev.p : 0) + sp;
      const n = (prev ? prev.n : 0) + sn;
      if (p > MAX_SAFE_INT || n > MAX_SAFE_INT) throw new CrdtError('out_of_range', 'fold: totals would pass 2^53-1');
      for (const e of fes) delta.ctx.add(e.r, e.s);
      delta.ctx.add(into, seq);
      es.push(entry(into, seq, p, n));
      es.sort(compareEntryDot);
    }
    delta.setLeaf(key, path, es);
    this.join(delta);
    return delta;
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
      return e.base ? [e.r, e.s, e.p, e.n, 'base'] : [e.r, e.s, e.p, e.n];
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
