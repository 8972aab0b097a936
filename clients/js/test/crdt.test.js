// Unit and law tests of the CRDT core. Random states come from a small seeded
// PRNG; the seed is logged, and LATTICE_SEED=<n> replays a failing run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Clock, CrdtError, CrdtObject, compareValues, parseOp, snapshotLists, listChanges } from '../crdt.js';

const SEED = Number(process.env.LATTICE_SEED) || (Date.now() % 2 ** 31);
console.log(`crdt.test.js: seed ${SEED} (rerun with LATTICE_SEED=${SEED})`);

// mulberry32: tiny, fast and good enough to explore states.
function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n), pick: (xs) => xs[Math.floor(next() * xs.length)] };
}

const R = ['00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-00000000000c'];
const VALUES = [null, true, false, 0, 1, 127, 128, -1, 0.5, 'x', 'y', 'é', ''];

// Op generators per family. The map family mixes field types, nested maps and
// deletes, so wrong-type refusals and type conflicts happen too.
const FAMILIES = {
  gcounter: (g) => ({ type: 'gcounter', op: 'inc', by: g.int(4) }),
  counter: (g) => ({ type: 'counter', op: g.pick(['inc', 'dec']), by: g.int(4) }),
  set: (g) => ({ type: 'set', op: g.pick(['add', 'add', 'remove']), value: g.pick(VALUES) }),
  lww: (g) => ({ type: 'lww', op: 'set', value: g.pick(VALUES) }),
  mvreg: (g) => ({ type: 'mvreg', op: 'set', value: g.pick(VALUES) }),
  flag: (g) => ({ type: 'flag', op: g.pick(['enable', 'disable']) }),
  map: (g) => {
    const path = g.int(3) === 0 ? [g.pick(['a', 'b'])] : [g.pick(['m', 'n']), g.pick(['a', 'b'])];
    const t = g.pick(['counter', 'set', 'lww', 'mvreg', 'flag', 'delete']);
    if (t === 'delete') return { type: 'map', op: 'delete', path: g.int(2) ? path : path.slice(0, 1) };
    const op = FAMILIES[t](g);
    return { ...op, path };
  },
  // Text ops are fitted to the text they edit, so most of them succeed.
  text: (g, obj) => textOp(g, obj, []),
  textfield: (g, obj) => textOp(g, obj, ['note']),
  // List ops are fitted to the list too; a map element's field is written
  // by its index in the path.
  list: (g, obj) => listOp(g, obj, []),
  listfield: (g, obj) => listOp(g, obj, ['todo']),
};

function listOp(g, obj, path) {
  const cur = path.length ? (obj.value() || {})[path[0]] || [] : obj.value() || [];
  const n = Array.isArray(cur) ? cur.length : 0;
  const p = path.length ? { path } : {};
  const k = n === 0 ? 0 : g.int(5);
  if (k === 1) {
    const index = g.int(n);
    return { type: 'list', op: 'delete', ...p, index, count: 1 + g.int(n - index) };
  }
  if (k === 2 || k === 3) return { type: 'list', op: 'move', ...p, from: g.int(n), to: g.int(n) };
  if (k === 4) return { type: 'lww', op: 'set', path: [...path, g.int(n), 't'], value: g.pick(VALUES) };
  return { type: 'list', op: 'insert', ...p, index: g.int(n + 1), value: g.int(2) ? g.pick(VALUES) : { t: g.pick(VALUES) } };
}

const RUNS = ['a', 'b', 'x', 'é', '😀', 'abc', 'Hello', 'wörld', '日本語'];

function textOp(g, obj, path) {
  const n = Array.from(obj.text(path)).length;
  const p = path.length ? { path } : {};
  if (n > 0 && g.int(3) === 0) {
    const index = g.int(n);
    return { type: 'text', op: 'delete', ...p, index, count: 1 + g.int(Math.min(3, n - index)) };
  }
  return { type: 'text', op: 'insert', ...p, index: g.int(n + 1), value: g.pick(RUNS) };
}

// randomHistory runs random ops on three replicas with random, lossy,
// duplicated delivery, and returns every state and delta it saw.
function randomHistory(g, family, steps = 40) {
  const reps = R.map(() => new CrdtObject());
  const deltas = [];
  const states = [];
  let wall = 1000;
  for (let i = 0; i < steps; i++) {
    const k = g.int(R.length);
    if (g.int(3) > 0) {
      const op = FAMILIES[family](g, reps[k]);
      const before = reps[k].toJSON();
      const old = reps[k].clone();
      let d;
      try {
        d = reps[k].apply(R[k], { wall: wall + g.int(5) - 2, logical: g.int(2) }, op);
      } catch (e) {
        assert.ok(e instanceof CrdtError, `${JSON.stringify(op)} threw ${e}`);
        assert.equal(reps[k].toJSON(), before, `failed ${JSON.stringify(op)} changed the state`);
        continue;
      }
      // Delta-mutator law: old ⊔ δ = new.
      assert.equal(old.join(d).toJSON(), reps[k].toJSON(), `old ⊔ delta != new for ${JSON.stringify(op)}`);
      deltas.push(d);
      wall += g.int(3);
    } else if (deltas.length) {
      reps[k].join(g.pick(deltas));
    }
    if (g.int(4) === 0) states.push(reps[k].clone());
  }
  return { reps, deltas, states: [...states, ...reps, ...deltas, new CrdtObject()] };
}

const joined = (a, b) => a.clone().join(b);

for (const family of Object.keys(FAMILIES)) {
  test(`join is a semilattice and deltas are mutators: ${family}`, () => {
    const g = prng(SEED ^ family.length * 7919);
    for (let round = 0; round < 15; round++) {
      const { states } = randomHistory(g, family);
      for (let i = 0; i < 25; i++) {
        const a = g.pick(states);
        const b = g.pick(states);
        const c = g.pick(states);
        assert.equal(joined(a, b).toJSON(), joined(b, a).toJSON(), 'join is not commutative');
        assert.equal(joined(joined(a, b), c).toJSON(), joined(a, joined(b, c)).toJSON(), 'join is not associative');
        assert.equal(joined(a, a).toJSON(), a.toJSON(), 'join is not idempotent');
        // JSON round trip: the canonical text decodes to the same state.
        const back = CrdtObject.fromJSON(a.toJSON());
        assert.equal(back.toJSON(), a.toJSON(), 'JSON round trip changed the state');
        assert.deepEqual(back.value(), a.value());
      }
    }
  });

  test(`replicas converge once every delta is delivered: ${family}`, () => {
    const g = prng(SEED ^ family.length * 104729);
    for (let round = 0; round < 10; round++) {
      const { reps, deltas } = randomHistory(g, family);
      // Deliver everything, in a random order, twice.
      for (const r of reps) for (const d of [...deltas, ...deltas].sort(() => g.next() - 0.5)) r.join(d);
      const want = reps[0].toJSON();
      for (const r of reps) assert.equal(r.toJSON(), want);
    }
  });
}

const A = R[0];
const B = R[1];
const t = (wall, logical = 0) => ({ wall, logical });

test('plain values of every type', () => {
  const c = new CrdtObject();
  c.apply(A, t(1), { type: 'counter', op: 'inc', by: 5 });
  c.apply(A, t(2), { type: 'counter', op: 'dec', by: 2 });
  assert.equal(c.value(), 3);

  const s = new CrdtObject();
  for (const v of ['bread', 'milk', 1, 200, null]) s.apply(A, t(1), { type: 'set', op: 'add', value: v });
  s.apply(A, t(1), { type: 'set', op: 'remove', value: 'milk' });
  // Canonical order: null, other integers, strings (by length), small integers.
  assert.deepEqual(s.value(), [null, 200, 'bread', 1]);

  const m = new CrdtObject();
  m.apply(A, t(1), { type: 'lww', op: 'set', path: ['cards', 'c1', 'title'], value: 'Plan' });
  m.apply(A, t(1), { type: 'counter', op: 'inc', path: ['cards', 'c1', 'votes'] });
  m.apply(A, t(1), { type: 'set', op: 'add', path: ['cards', 'c1', 'tags'], value: 'urgent' });
  m.apply(A, t(1), { type: 'flag', op: 'enable', path: ['done'] });
  assert.deepEqual(m.value(), { cards: { c1: { title: 'Plan', votes: 1, tags: ['urgent'] } }, done: true });
  m.apply(A, t(1), { type: 'map', op: 'delete', path: ['cards', 'c1'] });
  assert.deepEqual(m.value(), { done: true }, 'a map field holding nothing is gone');

  const f = new CrdtObject();
  assert.equal(f.value(), null, 'an object never written reads null');
  f.apply(A, t(1), { type: 'flag', op: 'disable' });
  assert.equal(f.value(), false);

  const proto = new CrdtObject();
  proto.apply(A, t(1), { type: 'lww', op: 'set', path: ['__proto__'], value: 1 });
  assert.deepEqual(Object.keys(proto.value()), ['__proto__'], 'a field named __proto__ is a field');
});

test('lww: timestamp decides, replica id breaks ties, a later write beats what it saw', () => {
  const a = new CrdtObject();
  const b = new CrdtObject();
  const da = a.apply(A, t(1000), { type: 'lww', op: 'set', value: 'alice' });
  const db = b.apply(B, t(1000), { type: 'lww', op: 'set', value: 'bob' });
  a.join(db);
  b.join(da);
  assert.equal(a.value(), 'bob');
  assert.equal(a.toJSON(), b.toJSON());
  // A's clock is far behind, but its write has seen bob's: it must win.
  a.apply(A, t(5), { type: 'lww', op: 'set', value: 'late' });
  assert.equal(a.value(), 'late');
  assert.match(a.toJSON(), /1000,1,"late"/, 'the write is stamped past what it supersedes');
});

test('mvreg keeps concurrent writes, in canonical order', () => {
  const a = new CrdtObject();
  const b = new CrdtObject();
  const da = a.apply(A, t(1), { type: 'mvreg', op: 'set', value: 'alice' });
  const db = b.apply(B, t(1), { type: 'mvreg', op: 'set', value: 'bob' });
  a.join(db);
  b.join(da);
  assert.deepEqual(a.value(), ['bob', 'alice']);
  a.apply(A, t(2), { type: 'mvreg', op: 'set', value: 'merged' });
  assert.deepEqual(a.value(), ['merged']);
});

test('wrong-type ops throw and change nothing', () => {
  const o = new CrdtObject();
  o.apply(A, t(1), { type: 'set', op: 'add', value: 'x' });
  const before = o.toJSON();
  for (const op of [
    { type: 'counter', op: 'inc' },
    { type: 'lww', op: 'set', path: ['f'], value: 1 },
  ]) {
    assert.throws(() => o.apply(A, t(2), op), (e) => e instanceof CrdtError && e.code === 'wrong_type' && /not a/.test(e.message));
    assert.equal(o.toJSON(), before);
  }
  const m = new CrdtObject();
  m.apply(A, t(1), { type: 'counter', op: 'inc', path: ['votes'] });
  const mb = m.toJSON();
  assert.throws(() => m.apply(A, t(2), { type: 'set', op: 'add', path: ['votes'], value: 1 }), { code: 'wrong_type' });
  assert.throws(() => m.apply(A, t(2), { type: 'lww', op: 'set', path: ['votes', 'x'], value: 1 }), { code: 'wrong_type' });
  assert.equal(m.toJSON(), mb);
  // delete frees the name for another type.
  m.apply(A, t(3), { type: 'map', op: 'delete', path: ['votes'] });
  m.apply(A, t(4), { type: 'set', op: 'add', path: ['votes'], value: 1 });
  assert.deepEqual(m.value(), { votes: [1] });
});

test('invalid ops are refused with their codes', () => {
  const cases = [
    [{ type: 'gcounter', op: 'dec' }, 'invalid_op'],
    [{ type: 'set', op: 'add' }, 'invalid'],
    [{ type: 'set', op: 'add', value: {} }, 'invalid'],
    [{ type: 'widget', op: 'set', value: 1 }, 'invalid'],
    [{ type: 'counter', op: 'inc', by: 0.5 }, 'invalid'],
    [{ type: 'counter', op: 'inc', by: 2 ** 53 }, 'invalid'],
    [{ type: 'map', op: 'delete' }, 'invalid_op'],
    [{ type: 'lww', op: 'set', value: '\ud800' }, 'invalid'],
    [{ type: 'lww', op: 'set', path: Array(33).fill('a'), value: 1 }, 'limit'],
    ['{not json', 'invalid'],
  ];
  for (const [op, code] of cases) assert.throws(() => parseOp(op), { code }, JSON.stringify(op));
  assert.throws(() => new CrdtObject().apply('not-a-uuid', t(1), { type: 'flag', op: 'enable' }), { code: 'invalid' });
  assert.throws(() => new CrdtObject().apply(A, t(-1), { type: 'flag', op: 'enable' }), { code: 'invalid' });
});

test('canonical JSON text and malformed input', () => {
  const o = new CrdtObject();
  o.apply('a1000000-0000-0000-0000-000000000000', t(1000), { type: 'set', op: 'add', path: ['cards', 'c1', 'tags'], value: 'urgent' });
  o.apply('a1000000-0000-0000-0000-000000000000', t(1000), { type: 'counter', op: 'inc', by: 2, path: ['cards', 'c1', 'votes'] });
  o.apply('a1000000-0000-0000-0000-000000000000', t(1000), { type: 'lww', op: 'set', path: ['cards', 'c1', 'title'], value: 'Plan' });
  // The example of docs/crdt-encoding.md, "The JSON encoding".
  assert.equal(o.toJSON(), '{"types":["map"],"leaves":[[["map",["cards","map"],["c1","map"],["tags","set"],"urgent"],[["a1000000-0000-0000-0000-000000000000",1]]],[["map",["cards","map"],["c1","map"],["votes","counter"]],[["a1000000-0000-0000-0000-000000000000",2,2,0]]],[["map",["cards","map"],["c1","map"],["title","lww"]],[["a1000000-0000-0000-0000-000000000000",3,1000,0,"Plan"]]]],"ctx":{"vv":[["a1000000-0000-0000-0000-000000000000",3]],"cloud":[]}}');
  // Lenient input: whitespace, key order, missing types and ctx dots.
  const lenient = CrdtObject.fromJSON(' { "ctx": {"cloud": [], "vv": []}, "leaves": [[["flag"], [["00000000-0000-4000-8000-00000000000b", 2]]]], "types": [] } ');
  assert.equal(lenient.toJSON(), '{"types":["flag"],"leaves":[[["flag"],[["00000000-0000-4000-8000-00000000000b",2]]]],"ctx":{"vv":[],"cloud":[["00000000-0000-4000-8000-00000000000b",2]]}}');
  const bad = [
    '[]',
    '{"types":[],"leaves":[]}',
    '{"types":["nope"],"leaves":[],"ctx":{"vv":[],"cloud":[]}}',
    '{"types":[],"leaves":[[["map"],[["00000000-0000-4000-8000-00000000000b",1]]]],"ctx":{"vv":[],"cloud":[]}}',
    '{"types":[],"leaves":[[["set"],[["00000000-0000-4000-8000-00000000000b",1]]]],"ctx":{"vv":[],"cloud":[]}}',
    '{"types":[],"leaves":[[["flag"],[]]],"ctx":{"vv":[],"cloud":[]}}',
    '{"types":[],"leaves":[[["flag"],[["00000000-0000-4000-8000-00000000000B",1]]]],"ctx":{"vv":[],"cloud":[]}}',
    '{"types":[],"leaves":[[["flag"],[["00000000-0000-4000-8000-00000000000b",0]]]],"ctx":{"vv":[],"cloud":[]}}',
    '{"types":[],"leaves":[[["counter"],[["00000000-0000-4000-8000-00000000000b",1,-1,0]]]],"ctx":{"vv":[],"cloud":[]}}',
    '{"types":[],"leaves":[],"ctx":{"vv":[["00000000-0000-4000-8000-00000000000b",1],["00000000-0000-4000-8000-00000000000b",2]],"cloud":[]}}',
    '{"types":[],"leaves":[],"ctx":{"vv":[],"cloud":[]},"extra":1}',
  ];
  for (const text of bad) assert.throws(() => CrdtObject.fromJSON(text), (e) => e instanceof CrdtError && /json/.test(e.message), text);
});

test('value order is the binary encoding order', () => {
  const sorted = [null, false, true, -1, 128, -100, 1.5e-7, 0.1, 1e21, '', 'x', 'é', 'say', 0, 1, 127];
  const shuffled = [...sorted].reverse();
  assert.deepEqual(shuffled.sort(compareValues), sorted);
});

test('hybrid clock never goes backwards and passes what it receives', () => {
  const c = new Clock();
  assert.deepEqual(c.now(100), { wall: 100, logical: 0 });
  assert.deepEqual(c.now(90), { wall: 100, logical: 1 });
  assert.deepEqual(c.update(95, { wall: 500, logical: 3 }), { wall: 500, logical: 4 });
  assert.deepEqual(c.now(600), { wall: 600, logical: 0 });
  const full = new Clock({ wall: 7, logical: 2 ** 32 - 1 });
  assert.deepEqual(full.now(0), { wall: 8, logical: 0 });
});

test('text: Fugue keeps concurrent runs whole, typed forwards or backwards', () => {
  const C = R[2];
  for (const [wayA, wayB] of [['fwd', 'fwd'], ['back', 'back'], ['fwd', 'back']]) {
    const reps = [new CrdtObject(), new CrdtObject(), new CrdtObject()];
    const d0 = reps[0].apply(A, t(1), { type: 'text', op: 'insert', index: 0, value: '[]' });
    reps[1].join(d0);
    reps[2].join(d0);
    const deltas = [];
    const type = (k, id, word, way) => {
      const cs = Array.from(word);
      cs.forEach((c, i) => {
        const index = way === 'fwd' ? 1 + i : 1;
        const ch = way === 'fwd' ? c : cs[cs.length - 1 - i];
        deltas.push(reps[k].apply(id, t(2), { type: 'text', op: 'insert', index, value: ch }));
      });
    };
    type(0, A, 'Hello', wayA);
    type(1, B, 'World', wayB);
    type(2, C, 'Moon', 'back');
    for (const r of reps) for (const d of deltas) r.join(CrdtObject.fromJSON(d.toJSON()));
    const got = reps[0].value();
    assert.equal(reps[1].toJSON(), reps[0].toJSON());
    assert.equal(reps[2].toJSON(), reps[0].toJSON());
    assert.equal(got.length, '[HelloWorldMoon]'.length, got);
    for (const w of ['Hello', 'World', 'Moon']) assert.ok(got.includes(w), `${wayA}/${wayB}: ${got} lost the run ${w}`);
  }
});

test('text: indices count code points; deletes keep places, not characters', () => {
  const o = new CrdtObject();
  o.apply(A, t(1), { type: 'text', op: 'insert', index: 0, value: 'h😀llo' });
  o.apply(A, t(1), { type: 'text', op: 'delete', index: 1, count: 1 });
  o.apply(A, t(1), { type: 'text', op: 'insert', index: 1, value: 'e' });
  assert.equal(o.value(), 'hello');
  assert.equal(o.text(), 'hello');
  const wire = o.toWire();
  const pieces = wire.leaves[0][1];
  assert.deepEqual(pieces.map((p) => [p[1], p[2], p[4]]), [[1, 1, 'h'], [2, 1, null], [3, 3, 'llo'], [6, 1, 'e']]);
  assert.throws(() => o.apply(A, t(1), { type: 'text', op: 'insert', index: 6, value: 'x' }), (e) => e.code === 'invalid');
  assert.throws(() => o.apply(A, t(1), { type: 'text', op: 'delete', index: 4, count: 2 }), (e) => e.code === 'invalid');
});

test('text: changes as positions replay every edit and join', async () => {
  const { snapshotTexts, textChanges } = await import('../crdt.js');
  const g = prng(SEED ^ 0x7e47);
  const reps = R.map(() => new CrdtObject());
  const deltas = [];
  const paths = [['a'], ['m', 'b']];
  const textAt = (o, p) => o.text(p);
  for (let step = 0; step < 300; step++) {
    const k = g.int(3);
    const o = reps[k];
    const snap = snapshotTexts(o);
    const before = paths.map((p) => textAt(o, p));
    if (deltas.length && g.int(2) === 0) {
      o.join(CrdtObject.fromJSON(g.pick(deltas).toJSON()));
    } else {
      const p = g.pick(paths);
      deltas.push(o.apply(R[k], t(1), textOp(g, o, p)));
    }
    const changes = textChanges(snap, o);
    paths.forEach((p, i) => {
      const ch = changes.find((c) => c.path.join('/') === p.join('/'));
      let s = before[i];
      let s16 = before[i];
      for (const e of (ch ? ch.edits : [])) {
        const cps = Array.from(s);
        s = [...cps.slice(0, e.index), ...Array.from(e.insert), ...cps.slice(e.index + e.delete)].join('');
        s16 = s16.slice(0, e.index16) + e.insert + s16.slice(e.index16 + e.delete16);
      }
      assert.equal(s, textAt(o, p), `code point edits of ${p} (seed ${SEED})`);
      assert.equal(s16, textAt(o, p), `UTF-16 edits of ${p} (seed ${SEED})`);
    });
  }
});

test('text: anchors follow concurrent edits', async () => {
  const { textAnchor, anchorIndex } = await import('../crdt.js');
  const a = new CrdtObject();
  const b = new CrdtObject();
  b.join(a.apply(A, t(1), { type: 'text', op: 'insert', index: 0, value: 'hello world' }));
  const cursor = textAnchor(a, [], 6); // before "world"
  assert.equal(anchorIndex(a, [], cursor), 6);
  a.join(b.apply(B, t(1), { type: 'text', op: 'insert', index: 0, value: '>> ' }));
  assert.equal(anchorIndex(a, [], cursor), 9, 'text typed before the cursor moves it');
  a.apply(A, t(1), { type: 'text', op: 'delete', index: 7, count: 2 }); // the anchor character itself
  assert.equal(anchorIndex(a, [], cursor), 7, 'a deleted anchor keeps its place');
  assert.equal(anchorIndex(a, [], null), 0);
  assert.equal(textAnchor(a, [], 0), null);
});

test('text: the dot index holds exactly the live characters after edits and joins', () => {
  const g = prng(SEED ^ 0xd07);
  for (const family of ['text', 'textfield']) {
    const { reps, deltas } = randomHistory(g, family, 80);
    for (const o of [...reps, ...deltas]) {
      const want = [];
      for (const l of o.leaves.values()) {
        for (const e of l.entries) {
          if (e.len === undefined || typeof e.v === 'string') for (let k = 0; k < (e.len || 1); k++) want.push(`${e.r}/${e.s + k}`);
        }
      }
      assert.deepEqual([...o.dots.keys()].sort(), want.sort(), `${family}: dot index`);
    }
  }
});

test('list change events rebuild the list an app keeps in an array', () => {
  const g = prng(SEED ^ 0x11517);
  for (let round = 0; round < 20; round++) {
    const reps = R.map(() => new CrdtObject());
    const deltas = [];
    for (let i = 0; i < 30; i++) {
      const k = g.int(R.length);
      const o = reps[k];
      for (const d of deltas) {
        if (g.int(3) > 0) continue;
        const before = JSON.stringify(o.value() || []);
        const snap = snapshotLists(o);
        o.join(d);
        const arr = JSON.parse(before);
        for (const ch of listChanges(snap, o)) {
          for (const e of ch.edits) {
            if (e.op === 'insert') arr.splice(e.index, 0, e.value);
            else if (e.op === 'delete') arr.splice(e.index, e.count);
            else if (e.op === 'move') arr.splice(e.to, 0, ...arr.splice(e.from, 1));
            else arr[e.index] = e.value;
          }
        }
        assert.deepEqual(arr, o.value() || [], 'the edits rebuild the list');
      }
      try {
        deltas.push(o.apply(R[k], { wall: 1000 + i, logical: 0 }, listOp(g, o, [])));
      } catch (e) {
        assert.ok(e instanceof CrdtError, String(e));
      }
    }
  }
});

test('counter bases: a folded writer counts once, and the JSON form keeps its base', () => {
  const node = new CrdtObject();
  const w = '00000000-0000-4000-8000-00000000000b';
  const into = '4dab42a4-07b2-565c-9e3a-56a8f0c65fd9';
  const client = new CrdtObject();
  node.join(client.apply(w, { wall: 1000, logical: 0 }, { type: 'counter', op: 'inc', by: 5 }));
  const f = node.fold(w, into);
  assert.equal(node.value(), 5);
  assert.throws(() => node.fold(w, into), (e) => e.code === 'invalid_op');
  // Not seen: the client's running total 6 adds 1 where the base is known.
  const back = client.clone().apply(w, { wall: 1001, logical: 0 }, { type: 'counter', op: 'inc', by: 1 });
  const a = node.clone().join(back).join(back);
  assert.equal(a.value(), 6);
  // Seen: the client goes on from its base.
  const seen = client.clone().join(f);
  assert.equal(seen.value(), 5);
  const b = node.clone().join(seen.apply(w, { wall: 1001, logical: 0 }, { type: 'counter', op: 'inc', by: 1 }));
  assert.equal(b.value(), 6);
  assert.equal(CrdtObject.fromJSON(a.toJSON()).toJSON(), a.toJSON());
  assert.match(a.toJSON(), /,"base"\]/);
  const bad = a.toJSON().replace('"base"', '"based"');
  assert.throws(() => CrdtObject.fromJSON(bad), (e) => e.code === 'invalid');
});
