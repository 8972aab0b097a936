// End-to-end tests against a real cluster of `lattice serve` processes.
//
// Run with: node --experimental-websocket --test clients/js/test/
// The binary is built from the repository unless LATTICE_BIN names one.
// Without a global WebSocket, or if the node does not answer the WebSocket
// protocol, every test here is skipped with a message saying so (the CRDT
// tests still run); under CI=true they fail instead, since CI must run them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { Client, CrdtObject, MemoryStore } from '../lattice.js';

const EMPTY = new CrdtObject().toJSON();

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const NODES = 3;
const tmp = mkdtempSync(join(tmpdir(), 'lattice-js-e2e-'));
const procs = [];
const nodes = []; // {id, http, ws, gossip, log}
let skipReason = null;

// unavailable skips the tests for reason, or under CI=true fails them:
// a missing prerequisite must not pass CI unnoticed.
function unavailable(reason) {
  if (process.env.CI === 'true') throw new Error(`${reason}; CI=true, so the end-to-end tests fail rather than skip`);
  skipReason = reason;
}
let latticeBin = null; // the binary, for the auth test's node and `lattice token`

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function waitFor(what, fn, timeout = 15000) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

async function httpGet(node, key) {
  const r = await fetch(`${node.http}/v1/objects/${key.split('/').map(encodeURIComponent).join('/')}`);
  return { status: r.status, body: await r.json() };
}

async function httpPost(node, key, op) {
  const r = await fetch(`${node.http}/v1/objects/${key.split('/').map(encodeURIComponent).join('/')}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(op),
  });
  const body = await r.json();
  assert.equal(r.status, 200, `POST ${key} ${JSON.stringify(op)}: ${JSON.stringify(body)}`);
  return body;
}

// wsAvailable opens a WebSocket to the node and says whether it speaks the
// protocol (answers hello with welcome).
function wsAvailable(url) {
  return new Promise((res) => {
    let ws;
    let settled = false;
    const done = (ok) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        ws.close();
      } catch {}
      res(ok);
    };
    const timer = setTimeout(() => done(false), 3000);
    try {
      ws = new WebSocket(url);
    } catch {
      return done(false);
    }
    ws.onopen = () => ws.send(JSON.stringify({ t: 'hello', v: 1, replica: '00000000-0000-4000-8000-0000000000ff' }));
    ws.onmessage = (ev) => done(JSON.parse(ev.data).t === 'welcome');
    ws.onerror = () => done(false);
    ws.onclose = () => done(false);
  });
}

before(async () => {
  if (typeof WebSocket !== 'function') {
    unavailable('no global WebSocket: run node with --experimental-websocket (Node 20)');
    return;
  }
  let bin = process.env.LATTICE_BIN;
  if (!bin) {
    bin = join(tmp, 'lattice');
    const b = spawnSync('go', ['build', '-o', bin, './cmd/lattice'], { cwd: ROOT, encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`go build ./cmd/lattice failed:\n${b.stderr}`);
  }
  latticeBin = bin;
  for (let i = 0; i < NODES; i++) {
    const [httpPort, gossipPort] = [await freePort(), await freePort()];
    const id = `js${i + 1}`;
    const log = join(tmp, `${id}.log`);
    const args = [
      'serve', '--id', id, '--data', join(tmp, id), '--http', `127.0.0.1:${httpPort}`,
      '--gossip', `127.0.0.1:${gossipPort}`, '--ae-interval', '200ms', '--admin', '--dev', '--log-format', 'text',
      '--snapshot-chunk', '16384', // small pages, so a long text's snapshot takes several
    ];
    if (i > 0) args.push('--join', nodes[0].gossip);
    const fd = openSync(log, 'a');
    const p = spawn(bin, args, { stdio: ['ignore', fd, fd] });
    procs.push(p);
    nodes.push({ id, http: `http://127.0.0.1:${httpPort}`, ws: `ws://127.0.0.1:${httpPort}/v1/ws`, gossip: `127.0.0.1:${gossipPort}`, log });
  }
  for (const n of nodes) {
    await waitFor(`${n.id} /readyz`, async () => (await fetch(`${n.http}/readyz`)).ok).catch((e) => {
      throw new Error(`${e.message}\n${readFileSync(n.log, 'utf8').slice(-2000)}`);
    });
  }
  // Every node must see the others before edits on different nodes can meet.
  await waitFor('cluster membership', async () => {
    for (const n of nodes) {
      const r = await fetch(`${n.http}/v1/cluster`);
      const text = await r.text();
      if (!nodes.every((m) => text.includes(m.id))) return false;
    }
    return true;
  });
  if (!(await wsAvailable(nodes[0].ws))) {
    unavailable(`the node does not answer the WebSocket protocol at ${nodes[0].ws} (no welcome to hello)`);
  }
});

after(async () => {
  for (const p of procs) p.kill('SIGTERM');
  await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r() : (p.once('exit', r), setTimeout(() => { p.kill('SIGKILL'); r(); }, 5000))))));
  if (!process.env.LATTICE_KEEP) rmSync(tmp, { recursive: true, force: true });
});

function client(urls, extra = {}) {
  const c = new Client({ urls, store: new MemoryStore(), backoff: { initial: 50, max: 500 }, ...extra });
  c.on('error', (e) => {
    if (!extra.quietErrors) console.log(`client ${c.replica}: error ${e.code}: ${e.message}`);
  });
  return c;
}

const uniq = (name) => `${name}/${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}/`;

test('two clients edit offline, come back on different nodes, and converge', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const P = uniq('board');
  const a = client([nodes[0].ws]);
  const b = client([nodes[1].ws]);
  a.setOffline(true);
  b.setOffline(true);
  await a.open();
  await b.open();
  a.subscribe(P, { prefix: true });
  b.subscribe(P, { prefix: true });

  // Concurrent offline edits of every kind, some conflicting.
  a.inc(P + 'votes', 2);
  b.inc(P + 'votes', 3);
  b.dec(P + 'votes');
  a.add(P + 'tags', 'urgent');
  a.add(P + 'tags', 'home');
  b.add(P + 'tags', 'work');
  a.set(P + 'title', 'Plan A');
  b.set(P + 'title', 'Plan B');
  a.set(P + 'card', 'Buy milk', { path: ['title'] });
  b.inc(P + 'card', 1, { path: ['likes'] });
  b.add(P + 'card', 'x', { path: ['labels'] });
  a.enable(P + 'done');
  b.disable(P + 'done');
  assert.equal(a.status, 'offline');
  assert.ok(a.pending > 0 && b.pending > 0, 'offline edits are pending');
  assert.equal(a.get(P + 'votes'), 2, 'local edits apply at once');

  a.setOffline(false);
  b.setOffline(false);
  const keys = ['votes', 'tags', 'title', 'card', 'done'].map((k) => P + k);
  await waitFor('both clients to converge', () =>
    a.pending === 0 && b.pending === 0 && a.status === 'online' && b.status === 'online' &&
    keys.every((k) => a.canonical(k) === b.canonical(k) && a.canonical(k) !== EMPTY));
  assert.notEqual(a.node, b.node, 'the clients are on different nodes');
  assert.equal(a.get(P + 'votes'), 4);
  assert.deepEqual(new Set(a.get(P + 'tags')), new Set(['urgent', 'home', 'work']));
  assert.equal(a.get(P + 'done'), true, 'enable wins over a concurrent disable');
  assert.deepEqual(a.get(P + 'card'), b.get(P + 'card'));
  assert.deepEqual(a.get(P + 'card'), { title: 'Buy milk', likes: 1, labels: ['x'] });
  // The nodes agree too, a third one included.
  await waitFor('the third node to have the votes', async () => (await httpGet(nodes[2], P + 'votes')).body.value === 4);
  for (const k of keys) assert.deepEqual((await httpGet(nodes[2], k)).body.value, a.get(k), k);
  await a.close();
  await b.close();
});

test('collaborative text across a cut: both runs survive whole; presence cursors reach every node and vanish', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const K = uniq('card') + '1';
  const a = client([nodes[0].ws]);
  const b = client([nodes[1].ws]);
  const c = client([nodes[2].ws]);
  for (const x of [a, b, c]) {
    await x.open();
    x.subscribe(K);
  }
  await waitFor('online', () => [a, b, c].every((x) => x.status === 'online'));
  a.insertText(K, 0, '[]', { path: 'text' });
  await waitFor('b has the text', () => b.text(K, 'text') === '[]');
  // Cut off from each other, both type at the same place.
  a.setOffline(true);
  b.setOffline(true);
  for (const [i, ch] of [...'Hello'].entries()) a.insertText(K, 1 + i, ch, { path: 'text' });
  for (const [i, ch] of [...'World'].entries()) b.insertText(K, 1 + i, ch, { path: 'text' });
  a.setOffline(false);
  b.setOffline(false);
  await waitFor('the texts to converge', () => a.pending === 0 && b.pending === 0 &&
    a.text(K, 'text') === b.text(K, 'text') && c.text(K, 'text') === a.text(K, 'text') && a.text(K, 'text').length === 12);
  assert.ok(['[HelloWorld]', '[WorldHello]'].includes(a.text(K, 'text')), a.text(K, 'text'));

  // a's cursor after "Hello", as an anchor the others resolve.
  const at = a.text(K, 'text').indexOf('Hello') + 5;
  const started = Date.now();
  a.setPresence(K, { name: 'ann', cursor: a.anchor(K, at, 'text') });
  for (const x of [b, c]) {
    await waitFor('the cursor on another node', () => x.presence(K).some((p) => p.state.name === 'ann'));
    const p = x.presence(K).find((q) => q.state.name === 'ann');
    assert.equal(x.anchorIndex(K, p.state.cursor, 'text'), at);
  }
  console.log(`presence reached the clients on the other two nodes in ${Date.now() - started} ms`);
  const gone = Date.now();
  await a.close();
  for (const x of [b, c]) await waitFor('the cursor to vanish', () => x.presence(K).length === 0);
  console.log(`presence vanished ${Date.now() - gone} ms after the close`);
  await b.close();
  await c.close();
});

test('a delta whose ack was lost is resent and counts once', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const K = uniq('lost') + 'count';
  let ignored = 0;
  let c;
  c = client([nodes[0].ws, nodes[1].ws], {
    testHooks: {
      // Lose the first ack, then fail over to the next node, as a client
      // whose connection died just before the ack would.
      ignoreAck: () => {
        if (ignored > 0) return false;
        ignored++;
        setTimeout(() => c.reconnect({ next: true }), 0);
        return true;
      },
    },
  });
  await c.open();
  await waitFor('online', () => c.status === 'online');
  c.inc(K, 1);
  await waitFor('the resent delta to be acknowledged', () => ignored === 1 && c.pending === 0);
  assert.equal(c.node, nodes[1].id, 'the resend went to the other node');
  for (const n of nodes) {
    await waitFor(`${n.id} to count the increment`, async () => (await httpGet(n, K)).body.value === 1);
  }
  await sleep(500); // anti-entropy rounds: a double count would show up now
  for (const n of nodes) assert.equal((await httpGet(n, K)).body.value, 1, `${n.id} counted once`);
  await c.close();
});

test('a connection closed right after sending: the delta counts once', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const K = uniq('closed') + 'count';
  let closed = 0;
  let c;
  c = client([nodes[2].ws], {
    testHooks: {
      afterSend: () => {
        if (closed++ === 0) c.reconnect(); // the ack, if any, goes to a dead socket
      },
    },
  });
  await c.open();
  await waitFor('online', () => c.status === 'online');
  c.inc(K, 5);
  await waitFor('the delta to be acknowledged', () => closed >= 2 && c.pending === 0);
  await sleep(500);
  for (const n of nodes) {
    await waitFor(`${n.id} to have the counter`, async () => (await httpGet(n, K)).body.value === 5);
  }
  await c.close();
});

test('a client resuming with its cursor gets only what it missed', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const P = uniq('resume');
  for (let i = 0; i < 5; i++) await httpPost(nodes[0], `${P}old${i}`, { type: 'counter', op: 'inc', by: i + 1 });
  // A write elsewhere, so the cursor a node hands out (which may trail its
  // newest commit by one) covers every write above.
  await httpPost(nodes[0], `${uniq('filler')}x`, { type: 'flag', op: 'enable' });
  const store = new MemoryStore();
  const first = client([nodes[0].ws], { store });
  first.subscribe(P, { prefix: true });
  await first.open();
  await waitFor('the snapshot', () => first.keys(P).length === 5 && first.cursor);
  const replica = first.replica;
  await first.close();

  // While the client is away, two keys change and one is new.
  await httpPost(nodes[0], `${P}old1`, { type: 'counter', op: 'inc', by: 10 });
  await httpPost(nodes[1], `${P}new`, { type: 'lww', op: 'set', value: 'hello' });
  await waitFor('node 3 to have the missed writes', async () =>
    (await httpGet(nodes[2], `${P}new`)).status === 200 && (await httpGet(nodes[2], `${P}old1`)).body.value === 12);

  const seen = [];
  const again = client([nodes[2].ws], { store, testHooks: { onMessage: (m) => seen.push(m) } });
  again.subscribe(P, { prefix: true });
  await again.open();
  assert.equal(again.replica, replica, 'the replica id persists in the store');
  await waitFor('the catch-up', () => again.get(`${P}new`) === 'hello' && again.get(`${P}old1`) === 12);
  await waitFor('the catchup message', () => seen.some((m) => m.t === 'catchup' || (m.t === 'snapshot' && m.done)));
  const snapshots = seen.filter((m) => m.t === 'snapshot');
  const deltas = seen.filter((m) => m.t === 'delta');
  assert.equal(snapshots.length, 0, `a resumed subscription gets no snapshot: ${JSON.stringify(snapshots).slice(0, 300)}`);
  const keys = new Set(deltas.map((m) => m.key));
  assert.ok(keys.has(`${P}new`) && keys.has(`${P}old1`), `the missed keys arrive: ${[...keys]}`);
  for (const k of keys) {
    assert.ok([`${P}new`, `${P}old1`, `${P}old4`].includes(k), `only missed changes arrive, not ${k}`);
  }
  assert.equal(again.get(`${P}old4`), 5, 'what it had is still there');
  await again.close();
});

test('a snapshot cut off mid-text resumes from its last page after the reconnect', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const K = `${uniq('longtext')}doc`;
  const chunk = '0123456789'.repeat(1000);
  for (let i = 0; i < 10; i++) await httpPost(nodes[0], K, { type: 'text', op: 'insert', index: i * chunk.length, value: chunk });
  const want = (await httpGet(nodes[0], K)).body.value;
  assert.equal(want.length, 100000);
  let pages = 0;
  let cut = false;
  const sent = [];
  const c = client([nodes[0].ws], {
    testHooks: {
      onMessage: (m, cl) => {
        if (m.t !== 'snapshot') return;
        pages++;
        if (!m.done && pages === 3 && !cut) {
          cut = true;
          cl._conn.ws.close(); // the connection drops mid-snapshot
        }
      },
    },
  });
  const send = c._send.bind(c);
  c._send = (conn, msg) => {
    sent.push(msg);
    return send(conn, msg);
  };
  c.subscribe(K);
  await c.open();
  await waitFor('the whole text', () => c.get(K) === want, 30000);
  assert.ok(cut, 'the connection was cut mid-snapshot');
  const resumed = sent.filter((m) => m.t === 'sub' && m.resume);
  assert.ok(resumed.length >= 1, `a sub carried the resume position: ${JSON.stringify(sent.filter((m) => m.t === 'sub'))}`);
  assert.equal(resumed[0].resume.key, K);
  await c.close();
});

test('with auth on, a session whose token expires is closed (4004), refreshed and resumed', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const key = join(tmp, 'signing.pem');
  const k = spawnSync(latticeBin, ['token', '--new-key', key], { encoding: 'utf8' });
  assert.equal(k.status, 0, k.stderr);
  const [httpPort, gossipPort] = [await freePort(), await freePort()];
  const log = join(tmp, 'auth1.log');
  const fd = openSync(log, 'a');
  procs.push(spawn(latticeBin, ['serve', '--id', 'auth1', '--data', join(tmp, 'auth1'), '--http', `127.0.0.1:${httpPort}`,
    '--gossip', `127.0.0.1:${gossipPort}`, '--auth-key', `${key}.pub`, '--log-format', 'text'], { stdio: ['ignore', fd, fd] }));
  const http = `http://127.0.0.1:${httpPort}`;
  await waitFor('auth1 /readyz', async () => (await fetch(`${http}/readyz`)).ok).catch((e) => {
    throw new Error(`${e.message}\n${readFileSync(log, 'utf8').slice(-2000)}`);
  });
  const mint = (replica, ttl, ...rights) => {
    const r = spawnSync(latticeBin, ['token', '--key', key, '--replica', replica, '--ttl', ttl, ...rights], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  const ws = `ws://127.0.0.1:${httpPort}/v1/ws`;

  // Without a token the node says unauthorized (4003).
  const anon = client([ws], { quietErrors: true });
  const anonErrors = [];
  anon.on('error', (e) => anonErrors.push(e.code));
  await anon.open();
  await waitFor('unauthorized', () => anonErrors.includes('unauthorized'));
  await anon.close();
  assert.equal((await fetch(`${http}/v1/digest`)).status, 401, 'HTTP without a token is 401');

  // The first token lives 2 s (JWT expiry has second resolution), later ones an hour.
  const replica = crypto.randomUUID();
  let minted = 0;
  const c = client([ws], {
    replica, quietErrors: true,
    token: async () => mint(replica, minted++ === 0 ? '2s' : '1h', '--read', 'doc/', '--write', 'doc/'),
  });
  const errors = [];
  c.on('error', (e) => errors.push(e.code));
  c.subscribe('doc/', { prefix: true });
  await c.open();
  c.inc('doc/c');
  await waitFor('the first write', () => c.status === 'online' && c.pending === 0);
  await waitFor('the token to expire', () => errors.includes('token_expired'), 5000);
  await waitFor('the session to resume with a new token', () => c.status === 'online' && minted === 2);
  c.inc('doc/c');
  c.inc('nope/c'); // outside the token's write prefixes
  await waitFor('the second write, and the refusal', () => c.pending === 0 && errors.includes('forbidden'));
  const reader = mint(crypto.randomUUID(), '1m', '--read-all');
  const r = await fetch(`${http}/v1/objects/doc/c`, { headers: { authorization: `Bearer ${reader}` } });
  assert.deepEqual(await r.json(), { key: 'doc/c', type: 'counter', value: 2 });
  const nope = await fetch(`${http}/v1/objects/nope/c`, { headers: { authorization: `Bearer ${reader}` } });
  assert.equal(nope.status, 404, 'the refused delta wrote nothing');
  await c.close();
});
