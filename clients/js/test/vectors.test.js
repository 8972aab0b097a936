// Replays every conformance vector of crdt/testdata/vectors: the JS core must
// reach the same plain values and the same canonical state text, byte for
// byte, as the Go core that generated them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { CrdtObject } from '../crdt.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../../crdt/testdata/vectors');
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

// Error codes as the vectors name them: a limit is a kind of invalid input.
const vectorCode = (code) => (code === 'limit' ? 'invalid' : code);

// sortKeys makes plain values comparable as JSON data: objects by keys.
function sortKeys(x) {
  if (Array.isArray(x)) return x.map(sortKeys);
  if (x && typeof x === 'object') {
    const out = {};
    for (const k of Object.keys(x).sort()) out[k] = sortKeys(x[k]);
    return out;
  }
  return x;
}

test('there are at least 40 vectors', () => {
  assert.ok(files.length >= 40, `found ${files.length} vectors in ${dir}, want at least 40`);
});

for (const file of files) {
  test(`vector ${file}`, () => {
    const v = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const objs = {};
    for (const name of Object.keys(v.replicas)) objs[name] = new CrdtObject();
    const deltas = {};
    // Deltas and synced states travel as canonical JSON text, as they do on
    // the wire, so the replay exercises the codec as well as the join.
    const joinText = (to, text) => {
      assert.ok(objs[to], `unknown replica ${to}`);
      objs[to].join(CrdtObject.fromJSON(text));
    };
    v.steps.forEach((s, i) => {
      const where = `${file} step ${i}`;
      if (s.op !== undefined) {
        const o = objs[s.at];
        assert.ok(o, `${where}: unknown replica ${s.at}`);
        const before = o.toJSON();
        if (s.error) {
          assert.throws(
            () => o.apply(v.replicas[s.at], s.time, s.op),
            (e) => {
              assert.equal(vectorCode(e.code), s.error, `${where}: ${JSON.stringify(s.op)} failed with ${e.code} (${e.message})`);
              return true;
            },
            `${where}: ${JSON.stringify(s.op)} should fail with ${s.error}`,
          );
          assert.equal(o.toJSON(), before, `${where}: a failing op changed the state`);
          return;
        }
        const d = o.apply(v.replicas[s.at], s.time, s.op);
        if (s.delta) deltas[s.delta] = d.toJSON();
      } else if (s.deliver !== undefined) {
        assert.ok(s.deliver in deltas, `${where}: delta ${s.deliver} not made yet`);
        joinText(s.to, deltas[s.deliver]);
      } else if (s.sync !== undefined) {
        joinText(s.to, objs[s.sync].toJSON());
      } else if (s.fold !== undefined) {
        // A node folds a writer of its counter (crdt/fold.go).
        const o = objs[s.at];
        assert.ok(o, `${where}: unknown replica ${s.at}`);
        const d = o.fold(v.replicas[s.fold], s.into);
        if (s.delta) deltas[s.delta] = d.toJSON();
      } else {
        assert.fail(`${where}: not an op, fold, deliver or sync step`);
      }
    });
    for (const [name, want] of Object.entries(v.expect)) {
      const o = objs[name];
      assert.deepEqual(sortKeys(o.value()), sortKeys(want.value), `${file}: replica ${name}: value`);
      assert.equal(o.toJSON(), JSON.stringify(want.state), `${file}: replica ${name}: canonical state`);
    }
    const conv = v.converged || [];
    for (const name of conv.slice(1)) {
      assert.equal(objs[name].toJSON(), objs[conv[0]].toJSON(), `${file}: ${name} and ${conv[0]} differ`);
    }
  });
}
