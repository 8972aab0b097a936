// Client tests against an in-process fake cluster that speaks the protocol of
// docs/protocol.md through a mock WebSocket. They check the client's side of
// the contract (offline edits, pending deltas, resend after reconnect,
// failover across URLs, cursors, errors, persistence) deterministically and
// without a network; e2e.test.js checks the same against real nodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, CrdtObject, MemoryStore } from '../lattice.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(what, fn, timeout = 3000) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    if (fn()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// FakeCluster holds one keyspace shared by its fake nodes (as if replication
// were instant) and one log per node, numbered like the real node logs.
class FakeCluster {
  constructor(names) {
    this.objects = new Map();
    this.log = []; // [{node, seq, key, delta}]
    this.nodes = new Map(names.map((n, i) => [`ws://${n}/v1/ws`, { name: n, id: `00000000-0000-4000-8000-0000000001${String(i).padStart(2, '0')}`, seq: 0, up: true }]));
    this.conns = new Set();
    this.received = []; // every client message, for assertions
    const cluster = this;
    this.WebSocket = class MockWebSocket {
      constructor(url) {
        this.url = url;
        this.node = cluster.nodes.get(url);
        this.closed = false;
        setTimeout(() => {
          if (!this.node || !this.node.up) return this._close(1006, 'connection refused');
          cluster.conns.add(this);
          this.subs = new Map();
          this.onopen && this.onopen({});
        }, 1);
      }
      send(text) {
        if (this.closed) throw new Error('closed');
        const msg = JSON.parse(text);
        setTimeout(() => !this.closed && cluster.handle(this, msg), 1);
      }
      close(code = 1000, reason = '') {
        this._close(code, reason);
      }
      _close(code, reason) {
        if (this.closed) return;
        this.closed = true;
        cluster.conns.delete(this);
        setTimeout(() => this.onclose && this.onclose({ code, reason }), 1);
      }
      _push(msg) {
        if (!this.closed) setTimeout(() => !this.closed && this.onmessage && this.onmessage({ data: JSON.stringify(msg) }), 1);
      }
    };
  }

  cursor() {
    const c = {};
    for (const n of this.nodes.values()) if (n.seq) c[n.id] = n.seq;
    return c;
  }

  covers(sub, key) {
    return sub.prefix !== undefined ? key.startsWith(sub.prefix) : key === sub.key;
  }

  handle(ws, msg) {
    this.received.push({ node: ws.node.name, ...msg });
    switch (msg.t) {
      case 'hello':
        ws.hello = msg;
        return ws._push({ t: 'welcome', v: 1, node: ws.node.name, node_id: ws.node.id, cluster: this.clusterID, cursor: this.cursor(), ...(this.features ? { features: this.features } : {}) });
      case 'sub': {
        ws.subs.set(msg.id, msg);
        const from = ws.hello.cursor;
        if (from) {
          for (const e of this.log) {
            if (e.seq > (from[e.nodeId] || 0) && this.covers(msg, e.key)) ws._push({ t: 'delta', key: e.key, delta: e.delta, cursor: this.cursor() });
          }
          return ws._push({ t: 'catchup', sub: msg.id, cursor: this.cursor() });
        }
        const objects = [...this.objects].filter(([k]) => this.covers(msg, k)).map(([key, o]) => ({ key, state: o.toWire() }));
        return ws._push({ t: 'snapshot', sub: msg.id, objects, done: true, cursor: this.cursor() });
      }
      case 'delta': {
        let d;
        try {
          d = CrdtObject.fromJSON(msg.delta);
        } catch (e) {
          return ws._push({ t: 'error', code: 'invalid_delta', message: e.message, id: msg.id });
        }
        const o = this.objects.get(msg.key) || new CrdtObject();
        if (o.types && d.types && !(o.types & d.types)) {
          return ws._push({ t: 'error', code: 'wrong_type', message: 'type confusion', id: msg.id });
        }
        o.join(d);
        this.objects.set(msg.key, o);
        ws.node.seq++;
        const e = { nodeId: ws.node.id, seq: ws.node.seq, key: msg.key, delta: msg.delta };
        this.log.push(e);
        if (!this.dropAcks) ws._push({ t: 'ack', id: msg.id });
        for (const c of this.conns) {
          if (c !== ws && [...c.subs.values()].some((s) => this.covers(s, msg.key))) {
            c._push({ t: 'delta', key: msg.key, delta: msg.delta, cursor: this.cursor() });
          }
        }
        return;
      }
      case 'ping':
        return ws._push({ t: 'pong', id: msg.id });
    }
  }

  value(key) {
    const o = this.objects.get(key);
    return o ? o.value() : null;
  }

  kill(name) {
    for (const n of this.nodes.values()) if (n.name === name) n.up = false;
    for (const c of [...this.conns]) if (c.node.name === name) c._close(1006, 'node died');
  }
}

const mk = (cluster, urls, extra = {}) =>
  new Client({ urls, store: new MemoryStore(), WebSocket: cluster.WebSocket, backoff: { initial: 5, max: 20 }, ...extra });

test('offline edits apply locally, queue, and sync exactly once when online', async () => {
  const cl = new FakeCluster(['n1']);
  const c = mk(cl, ['ws://n1/v1/ws']);
  const changes = [];
  c.on('change', (e) => changes.push(e));
  const statuses = [];
  c.on('status', (s) => statuses.push(s));
  c.setOffline(true);
  await c.open();
  c.inc('k/votes', 2);
  c.inc('k/votes', 3);
  c.add('k/tags', 'a');
  assert.equal(c.get('k/votes'), 5);
  assert.equal(c.pending, 2, 'offline edits to one key are joined into one pending delta');
  assert.deepEqual(changes.map((e) => [e.key, e.value, e.source]), [['k/votes', 2, 'local'], ['k/votes', 5, 'local'], ['k/tags', ['a'], 'local']]);
  assert.equal(c.status, 'offline');
  c.setOffline(false);
  await waitFor('acks', () => c.pending === 0);
  assert.deepEqual(statuses, ['connecting', 'online']);
  assert.equal(cl.value('k/votes'), 5);
  await c.close();
  assert.equal(c.status, 'offline');
});

test('wrong-type local ops throw before anything changes', async () => {
  const cl = new FakeCluster(['n1']);
  const c = mk(cl, ['ws://n1/v1/ws']);
  c.setOffline(true);
  await c.open();
  c.add('k', 'x');
  const before = c.canonical('k');
  let events = 0;
  c.on('change', () => events++);
  assert.throws(() => c.inc('k'), { name: 'CrdtError', code: 'wrong_type' });
  assert.throws(() => c.apply('k', { type: 'set', op: 'explode' }), { code: 'invalid_op' });
  assert.equal(c.canonical('k'), before);
  assert.equal(c.pending, 1);
  assert.equal(events, 0);
  assert.throws(() => new Client({ urls: [] }), /at least one/);
});

test('a lost ack means a resend after reconnect, and the effect happens once', async () => {
  const cl = new FakeCluster(['n1', 'n2']);
  cl.dropAcks = true;
  const c = mk(cl, ['ws://n1/v1/ws', 'ws://n2/v1/ws']);
  await c.open();
  await waitFor('online', () => c.status === 'online');
  c.inc('count', 1);
  await waitFor('the delta at the node', () => cl.value('count') === 1);
  assert.equal(c.pending, 1, 'no ack, still pending');
  cl.dropAcks = false;
  cl.kill('n1'); // the node dies before acking: the client fails over to n2
  await waitFor('resent and acked', () => c.pending === 0);
  assert.equal(c.node, 'n2');
  assert.equal(cl.value('count'), 1, 'the counter moved once');
  assert.equal(cl.received.filter((m) => m.t === 'delta').length, 2, 'sent twice');
  await c.close();
});

test('two clients converge through the cluster, live', async () => {
  const cl = new FakeCluster(['n1', 'n2']);
  const a = mk(cl, ['ws://n1/v1/ws']);
  const b = mk(cl, ['ws://n2/v1/ws']);
  a.subscribe('doc/', { prefix: true });
  b.subscribe('doc/', { prefix: true });
  const seen = [];
  b.onPrefix('doc/', (e) => seen.push(e));
  const titles = [];
  b.onKey('doc/title', (v) => titles.push(v));
  await a.open();
  await b.open();
  await waitFor('online', () => a.status === 'online' && b.status === 'online');
  a.set('doc/title', 'Plan');
  a.inc('doc/card', 1, { path: ['likes'] });
  b.inc('doc/card', 1, { path: ['likes'] });
  await waitFor('convergence', () => a.pending === 0 && b.pending === 0 && a.canonical('doc/card') === b.canonical('doc/card') && b.get('doc/title') === 'Plan');
  assert.deepEqual(a.get('doc/card'), { likes: 2 });
  assert.deepEqual(titles, ['Plan']);
  assert.ok(seen.some((e) => e.source === 'remote' && e.key === 'doc/title'));
  assert.ok(b.cursor && Object.keys(b.cursor).length > 0, 'live deltas carry the cursor');
  await a.close();
  await b.close();
});

test('collaborative text: concurrent typing converges and change events are edits an editor applies', async () => {
  const cl = new FakeCluster(['n1', 'n2']);
  const a = mk(cl, ['ws://n1/v1/ws']);
  const b = mk(cl, ['ws://n2/v1/ws']);
  a.subscribe('card/', { prefix: true });
  b.subscribe('card/', { prefix: true });
  // b's editor: a textarea's value, kept in step only through the events.
  let editor = '';
  b.onKey('card/1', (_, ev) => {
    for (const ch of ev.text || []) {
      if (ch.path.join('/') !== 'note') continue;
      for (const e of ch.edits) editor = editor.slice(0, e.index16) + e.insert + editor.slice(e.index16 + e.delete16);
    }
  });
  await a.open();
  await b.open();
  await waitFor('online', () => a.status === 'online' && b.status === 'online');
  a.insertText('card/1', 0, '[]', { path: 'note' });
  await waitFor('b has the text', () => b.text('card/1', 'note') === '[]');
  for (const c of 'Hi😀') a.insertText('card/1', a.text('card/1', 'note').length - 1, c, { path: 'note', index16: true });
  for (const c of [...'yo'].reverse()) b.insertText('card/1', 1, c, { path: 'note' });
  await waitFor('convergence', () => a.pending === 0 && b.pending === 0 &&
    a.canonical('card/1') === b.canonical('card/1') && a.text('card/1', 'note').length === 8);
  const text = a.text('card/1', 'note');
  assert.ok(text === '[Hi😀yo]' || text === '[yoHi😀]', text);
  b.deleteText('card/1', 1, 2, { path: 'note', index16: true });
  assert.equal(editor, b.text('card/1', 'note'), 'the edits in b\'s events rebuild its text');
  await a.close();
  await b.close();
});

test('lists: a move and an insert made concurrently converge, and change events rebuild the array', async () => {
  const cl = new FakeCluster(['n1', 'n2']);
  const a = mk(cl, ['ws://n1/v1/ws']);
  const b = mk(cl, ['ws://n2/v1/ws']);
  a.subscribe('board/', { prefix: true });
  b.subscribe('board/', { prefix: true });
  let column = [];
  b.onKey('board/1', (_, ev) => {
    for (const ch of ev.list || []) {
      if (ch.path.join('/') !== 'todo') continue;
      for (const e of ch.edits) {
        if (e.op === 'insert') column.splice(e.index, 0, e.value);
        else if (e.op === 'delete') column.splice(e.index, e.count);
        else if (e.op === 'move') column.splice(e.to, 0, ...column.splice(e.from, 1));
        else column[e.index] = e.value;
      }
    }
  });
  await a.open();
  await b.open();
  await waitFor('online', () => a.status === 'online' && b.status === 'online');
  for (const [i, title] of ['one', 'two', 'three'].entries()) a.insertItem('board/1', i, { title }, { path: 'todo' });
  await waitFor('b has the column', () => JSON.stringify(b.get('board/1')) === JSON.stringify(a.get('board/1')));
  a.moveItem('board/1', 0, 2, { path: 'todo' });
  b.insertItem('board/1', 3, 'note', { path: 'todo' });
  b.apply('board/1', { type: 'lww', op: 'set', path: ['todo', 0, 'title'], value: 'ONE' });
  await waitFor('convergence', () => a.pending === 0 && b.pending === 0 && a.canonical('board/1') === b.canonical('board/1') &&
    b.get('board/1').todo.length === 4);
  // a's moved card and b's note both land right after "three"; which
  // comes first depends on the replicas' ids, the same on both.
  const got = JSON.stringify(b.get('board/1').todo);
  assert.ok(got === '[{"title":"two"},{"title":"three"},{"title":"ONE"},"note"]' ||
    got === '[{"title":"two"},{"title":"three"},"note",{"title":"ONE"}]', got);
  assert.deepEqual(column, b.get('board/1').todo, 'the edits in b\'s events rebuild its column');
  await a.close();
  await b.close();
});

test('state, pending deltas, cursor and replica id persist; a resumed client sends its cursor', async () => {
  const cl = new FakeCluster(['n1']);
  const store = new MemoryStore();
  const a = mk(cl, ['ws://n1/v1/ws'], { store });
  a.subscribe('p/', { prefix: true });
  await a.open();
  await waitFor('snapshot', () => a.cursor !== null);
  a.inc('p/x', 7);
  await waitFor('ack', () => a.pending === 0);
  a.setOffline(true);
  a.add('p/s', 'offline');
  await a.close();

  const b = mk(cl, ['ws://n1/v1/ws'], { store });
  b.subscribe('p/', { prefix: true });
  b.setOffline(true);
  await b.open();
  assert.equal(b.replica, a.replica);
  assert.equal(b.get('p/x'), 7);
  assert.equal(b.pending, 1, 'the offline edit is still pending after a reload');
  assert.deepEqual(b.cursor, a.cursor);
  b.setOffline(false);
  await waitFor('resent', () => b.pending === 0);
  const hellos = cl.received.filter((m) => m.t === 'hello');
  assert.equal(hellos.length, 2);
  assert.equal(hellos[0].cursor, undefined, 'a new client has no cursor');
  assert.ok(hellos[1].cursor, 'a resumed client sends its cursor');
  assert.deepEqual(cl.value('p/s'), ['offline']);
  await b.close();

  // A new subscription is not covered by the cursor: no cursor in hello.
  const c = mk(cl, ['ws://n1/v1/ws'], { store });
  c.subscribe('p/', { prefix: true });
  c.subscribe('other/', { prefix: true });
  await c.open();
  await waitFor('online', () => c.status === 'online');
  assert.equal(cl.received.filter((m) => m.t === 'hello')[2].cursor, undefined);
  await c.close();
  assert.throws(() => new Client({ urls: ['ws://x'], replica: 'NOT-A-UUID' }), /lowercase UUID/);
});

test('refused deltas and node errors become error events', async () => {
  const cl = new FakeCluster(['n1']);
  const other = new CrdtObject();
  other.apply('00000000-0000-4000-8000-0000000000ee', { wall: 1, logical: 0 }, { type: 'flag', op: 'enable' });
  cl.objects.set('t', other); // the node thinks "t" is a flag
  const c = mk(cl, ['ws://n1/v1/ws']);
  const errors = [];
  c.on('error', (e) => errors.push(e));
  await c.open();
  c.inc('t'); // the local replica does not know "t" yet
  await waitFor('the error', () => errors.length > 0);
  assert.equal(errors[0].code, 'wrong_type');
  assert.equal(errors[0].key, 't');
  assert.equal(c.pending, 0, 'a delta the node will always refuse is not resent forever');
  await c.close();
});

test('reconnect backs off and walks the URL list', async () => {
  const cl = new FakeCluster(['n1', 'n2', 'n3']);
  cl.kill('n1');
  cl.kill('n2');
  const c = mk(cl, ['ws://n1/v1/ws', 'ws://n2/v1/ws', 'ws://n3/v1/ws']);
  await c.open();
  await waitFor('online on n3', () => c.status === 'online');
  assert.equal(c.node, 'n3');
  await c.close();
});

test('a session whose token expires (4004) reconnects at once with a fresh token and its cursor', async () => {
  const cl = new FakeCluster(['n1', 'n2']);
  let minted = 0;
  const c = mk(cl, ['ws://n1/v1/ws', 'ws://n2/v1/ws'], {
    token: async () => `token-${++minted}`,
    backoff: { initial: 60_000, max: 60_000 }, // a backoff would show as a timeout
  });
  const errors = [];
  c.on('error', (e) => errors.push(e));
  await c.open();
  c.subscribe('doc/', { prefix: true });
  await waitFor('online', () => c.status === 'online');
  c.inc('doc/c');
  await waitFor('the write reaches the node', () => cl.value('doc/c') === 1 && c.pending === 0);
  await waitFor('the subscription is answered', () => cl.received.some((m) => m.t === 'sub'));
  await sleep(20);
  const hellos = () => cl.received.filter((m) => m.t === 'hello');
  assert.equal(hellos().length, 1);
  assert.equal(hellos()[0].token, 'token-1');

  // The node closes the session when the token expires.
  const [ws] = [...cl.conns];
  ws._close(4004, 'token_expired');
  await waitFor('a second hello', () => hellos().length === 2, 1000);
  const again = hellos()[1];
  assert.equal(again.token, 'token-2', 'the token function is asked again');
  assert.equal(again.node, 'n1', 'the same node, not the next URL');
  assert.ok(again.cursor, 'the session resumes from its cursor');
  assert.ok(errors.some((e) => e.code === 'token_expired' && e.closeCode === 4004));
  await waitFor('online again', () => c.status === 'online');
  c.inc('doc/c');
  await waitFor('writes flow again', () => cl.value('doc/c') === 2 && c.pending === 0);
  await c.close();
});

test('a replica refuses the nodes of another cluster than the one it synced with', async () => {
  const first = new FakeCluster(['n1']);
  first.clusterID = 'first';
  const store = new MemoryStore();
  const a = mk(first, ['ws://n1/v1/ws'], { store });
  a.subscribe('p/', { prefix: true });
  await a.open();
  a.inc('p/x', 5);
  await waitFor('ack', () => a.pending === 0);
  assert.equal(a.cluster, 'first');
  await a.close();

  const second = new FakeCluster(['n1']);
  second.clusterID = 'second';
  const b = mk(second, ['ws://n1/v1/ws'], { store });
  const errors = [];
  b.on('error', (e) => errors.push(e.code));
  b.subscribe('p/', { prefix: true });
  b.setOffline(true);
  await b.open();
  assert.equal(b.cluster, 'first', 'the cluster id persists with the replica');
  b.inc('p/x', 1);
  b.setOffline(false);
  await waitFor('the refusal', () => errors.includes('wrong_cluster'));
  assert.notEqual(b.status, 'online');
  assert.equal(b.pending, 1, 'the edit waits for its own cluster');
  assert.equal(second.value('p/x'), null, 'nothing reached the other cluster');
  assert.ok(!second.received.some((m) => m.t === 'sub' || m.t === 'delta'), 'no subscription or delta sent to it');
  await b.close();

  // A new replica adopts the cluster it first meets.
  const c = mk(second, ['ws://n1/v1/ws']);
  await c.open();
  await waitFor('online', () => c.status === 'online');
  assert.equal(c.cluster, 'second');
  await c.close();
});

test('presence: a presence_set replaces what a subscription held, and states nobody confirms within their ttl are forgotten', async () => {
  const cl = new FakeCluster(['n1']);
  const c = mk(cl, ['ws://n1/v1/ws']);
  c.subscribe('doc/', { prefix: true });
  c.subscribe('other');
  const events = [];
  c.on('presence', (e) => events.push(e));
  await c.open();
  await waitFor('the subscriptions', () => [...cl.conns].some((ws) => ws.subs && ws.subs.size === 2));
  const ws = [...cl.conns][0];
  const subOf = (field, v) => [...ws.subs.values()].find((m) => m[field] === v).id;
  const ann = { key: 'doc/1', conn: 'n1/ab.1', replica: 'r1', state: { name: 'ann' } };
  const bo = { key: 'doc/2', conn: 'n1/ab.2', replica: 'r2', state: { name: 'bo' } };
  const cy = { key: 'other', conn: 'n1/ab.3', replica: 'r3', state: { name: 'cy' } };
  for (const p of [ann, bo, cy]) ws._push({ t: 'presence', ...p, ttl: 45000 });
  await waitFor('three states', () => c.presence('doc/1').length + c.presence('doc/2').length + c.presence('other').length === 3);
  assert.deepEqual(c.presence('doc/1'), [{ conn: ann.conn, replica: 'r1', state: { name: 'ann' } }]);

  // bo's "gone" never came: the set under doc/ (in two pages) does not name
  // bo, so bo goes; ann is confirmed without an event; other is not under doc/.
  events.length = 0;
  const sub = subOf('prefix', 'doc/');
  ws._push({ t: 'presence_set', sub, states: [], done: false, ttl: 45000 });
  ws._push({ t: 'presence_set', sub, states: [ann], done: true, ttl: 45000 });
  await waitFor('bo to go', () => c.presence('doc/2').length === 0);
  assert.deepEqual(events, [{ key: 'doc/2', conn: bo.conn, replica: 'r2', state: null }]);
  assert.equal(c.presence('doc/1').length, 1);
  assert.equal(c.presence('other').length, 1);

  // Nothing confirms them any more: within the ttl they stay, after it they go.
  c._expirePresence(Date.now() + 30000);
  assert.equal(c.presence('doc/1').length + c.presence('other').length, 2);
  events.length = 0;
  c._expirePresence(Date.now() + 60000);
  assert.equal(c.presence('doc/1').length + c.presence('other').length, 0);
  assert.deepEqual(events.map((e) => [e.key, e.state]).sort(), [['doc/1', null], ['other', null]]);
  await c.close();
});

test('a sub says empty only when the replica holds no object and no pending delta under its target', async () => {
  const cl = new FakeCluster(['n1']);
  cl.features = ['empty_sub'];
  const c = mk(cl, ['ws://n1/v1/ws']);
  c.setOffline(true);
  await c.open();
  c.inc('b/x'); // pending under b/x and b/
  c.subscribe('a/', { prefix: true });
  c.subscribe('b/', { prefix: true });
  c.subscribe('b/x');
  c.subscribe('d');
  c.setOffline(false);
  await waitFor('four subs', () => cl.received.filter((m) => m.t === 'sub').length === 4);
  const empty = {};
  for (const m of cl.received.filter((x) => x.t === 'sub')) empty[m.prefix !== undefined ? `p:${m.prefix}` : `k:${m.key}`] = m.empty === true;
  assert.deepEqual(empty, { 'p:a/': true, 'p:b/': false, 'k:b/x': false, 'k:d': true });
  await c.close();
  // A node whose welcome does not list empty_sub (an older one refuses the
  // field) is never sent it.
  const old = new FakeCluster(['n1']);
  const c2 = mk(old, ['ws://n1/v1/ws']);
  await c2.open();
  c2.subscribe('a/', { prefix: true });
  await waitFor('a sub', () => old.received.filter((m) => m.t === 'sub').length === 1);
  assert.equal(old.received.find((m) => m.t === 'sub').empty, undefined);
  await c2.close();
});
