// Many writers per object (issue 13): a counter keeps its entries by writer,
// so an increment and a join cost the writer's entries, not the counter's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CrdtError, CrdtObject, MAX_SAFE_INT } from '../crdt.js';
import { CounterLeaf } from '../counter_leaf.js';

const writer = (i) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
const t = (w) => ({ wall: 1000 + w, logical: 0 });
const inc = (by) => ({ type: 'counter', op: 'inc', by });

function manyWriters(n) {
  const o = new CrdtObject();
  for (let i = 0; i < n; i++) o.join(new CrdtObject().apply(writer(i), t(i), inc(1)));
  return o;
}

test('an increment and its join into a 5,000-writer counter never list the other writers', () => {
  const o = manyWriters(5000);
  const leaf = [...o.leaves.values()][0];
  assert.ok(leaf instanceof CounterLeaf);
  assert.equal(leaf._list, null, 'building by joins listed the writers');
  const mine = o.clone();
  const d = mine.apply(writer(7), t(9), inc(4));
  assert.equal([...mine.leaves.values()][0]._list, null, 'the increment listed the writers');
  o.join(d);
  assert.equal(leaf._list, null, 'the join listed the writers');
  assert.equal(o.value(), 5004);
  assert.equal(mine.value(), 5004);
  assert.equal(leaf._list, null, 'reading the value listed the writers');
  // The same state as joining the plain leaves: compare the encodings.
  const ref = new CrdtObject();
  ref.join(o);
  assert.equal(ref.toJSON(), o.toJSON());
  assert.ok(o.equals(mine));
});

test('counter sums stay exact past 2^53 and a write that passes the bound is refused', () => {
  const o = new CrdtObject();
  for (let i = 0; i < 3; i++) o.join(new CrdtObject().apply(writer(i), t(i), inc(MAX_SAFE_INT - 1)));
  const [p] = o.counterSums([...o.leaves.keys()][0]);
  assert.equal(p, 3n * BigInt(MAX_SAFE_INT - 1));
  assert.throws(() => o.apply(writer(0), t(5), inc(1)), (e) => e instanceof CrdtError && e.code === 'out_of_range');
  // A decrement may go on while the increments are past the bound.
  o.apply(writer(0), t(5), { type: 'counter', op: 'dec', by: 1 });
});
