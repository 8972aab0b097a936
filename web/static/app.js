// The demo's entry point: one client per tab, the board, the cluster panel,
// the node picker and the Offline switch.
import { Client, IndexedDBStore, MemoryStore } from '/js/lattice.js';
import { Board, KEYS, PREFIX } from './board.js';
import { Cluster } from './cluster.js';
import { KeyBrowser } from './keys.js';
import { toast } from './dom.js';

const $ = (id) => document.getElementById(id);
const STATUS_TEXT = { online: 'Online', connecting: 'Connecting…', offline: 'Offline' };

const board = new Board(document);
const cluster = new Cluster(document.querySelector('.cluster'), { origin: location.origin, onNodes: fillPicker });
const keys = new KeyBrowser(document.querySelector('.keys'), { nodeURL: () => nodeURL, client: () => client });
const picker = $('node-picker');
const offline = $('offline');

let client = null;
let nodeURL = new URLSearchParams(location.search).get('node') || location.origin;
let nodeName = '';
let knownNodes = [];

function wsURL(httpURL) {
  const u = new URL('/v1/ws', httpURL);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}

// openStore gives this tab its own persistent store. Two tabs must never
// share one: they would load the same replica id and mint the same dots. A
// name kept in sessionStorage survives a reload; a Web Lock held for the
// page's life tells a duplicated tab (which copies sessionStorage) to take a
// new one. Without IndexedDB or Web Locks (plain http on a LAN address is no
// secure context) the tab keeps its replica in memory.
async function openStore() {
  if (!globalThis.indexedDB || !navigator.locks) return new MemoryStore();
  const fresh = () => 'demo-' + crypto.randomUUID();
  let name = sessionStorage.getItem('lattice-demo-store') || fresh();
  for (;;) {
    const got = await new Promise((resolve) => {
      navigator.locks.request('lattice-store:' + name, { ifAvailable: true }, (lock) => {
        resolve(!!lock);
        return lock ? new Promise(() => {}) : undefined; // hold it until the page goes
      });
    });
    if (got) break;
    name = fresh();
  }
  sessionStorage.setItem('lattice-demo-store', name);
  return new IndexedDBStore(name);
}

// urlsFor puts the chosen node first and the others after it: the client
// fails over to them in order when its node stops answering.
function urlsFor(url) {
  const others = knownNodes.map((n) => n.url).filter((u) => u !== url);
  return [url, ...others].map(wsURL);
}

// connect makes this tab's client sync through the node at url. The client
// stays the same replica with the same pending edits; only its URLs change.
async function connect(url) {
  nodeURL = url.replace(/\/$/, '');
  if (client) {
    // reconnect() dials its current URL at once; with the chosen node alone
    // in the list that is the chosen node. The others go back in as
    // failover targets after.
    client.urls = [wsURL(nodeURL)];
    client.reconnect();
    client.urls = urlsFor(nodeURL);
    return;
  }
  client = new Client({ urls: urlsFor(nodeURL), store: await openStore() });
  client.on('change', () => { board.render(); keys.render(); });
  client.on('status', renderStatus);
  client.on('error', (err) => {
    if (err?.code === 'wrong_cluster' && sessionStorage.getItem('lattice-demo-store')) {
      // The cluster this tab's replica knew is gone (a new demo, `demo
      // --fresh`): its cards exist nowhere else. Start this tab over with
      // a new replica of the new cluster, once.
      sessionStorage.removeItem('lattice-demo-store');
      toast('This is a new cluster: starting this tab over with a new replica', 'info');
      setTimeout(() => location.reload(), 1500);
      return;
    }
    toast(String(err?.message || err), 'error');
  });
  client.subscribe(PREFIX, { prefix: true });
  if (offline.checked) client.setOffline(true);
  await client.open();
  board.setClient(client);
  renderStatus();
}

function renderStatus() {
  const status = client?.status || 'connecting';
  const el = $('status');
  el.dataset.status = status;
  const via = client?.node || nodeName;
  let text = STATUS_TEXT[status] + (status === 'online' && via ? ` · ${via}` : '');
  // The client is 'offline' between reconnect attempts too; say which.
  if (status === 'offline' && client && !offline.checked) text = 'No connection · retrying';
  $('status-text').textContent = text;
  if (client?.node) cluster.setConnected(client.node);
  const n = pendingCount();
  $('pending').textContent = n ? `${n} edit${n === 1 ? '' : 's'} to sync` : '';
  renderIdentity();
  document.body.dataset.status = status;
}

// renderIdentity shows which replica this tab is and where its clock
// stands: the id its edits carry, and the timestamp its next edit follows.
function renderIdentity() {
  const el = $('tab-identity');
  if (!client?.replica) return;
  const c = client.clock;
  const when = c.wall ? new Date(c.wall).toLocaleTimeString([], { hour12: false }) + '.' + String(c.wall % 1000).padStart(3, '0') : 'no edit yet';
  const text = `This tab is replica ${client.replica.slice(0, 8)}… · clock ${when}${c.logical ? ` +${c.logical}` : ''}`;
  if (el.textContent !== text) el.textContent = text;
  el.dataset.replica = client.replica;
}

function pendingCount() {
  return client ? client.pending : 0;
}

function fillPicker(nodes) {
  knownNodes = nodes;
  if (client) client.urls = urlsFor(nodeURL);
  const current = nodes.find((n) => n.url === nodeURL) || nodes.find((n) => n.url === location.origin);
  nodeName = current ? current.name : nodeName;
  picker.replaceChildren(...nodes.map((n) => {
    const o = document.createElement('option');
    o.value = n.url;
    o.textContent = n.name + (n.url === location.origin ? ' (served this page)' : '');
    o.selected = n === current;
    return o;
  }));
  cluster.setConnected(nodeName);
  renderStatus();
}

picker.addEventListener('change', () => {
  const opt = picker.selectedOptions[0];
  if (!opt || opt.value === nodeURL) return;
  nodeName = opt.textContent.replace(/ \(.*\)$/, '');
  cluster.setConnected(nodeName);
  connect(opt.value);
});

offline.addEventListener('change', () => {
  client?.setOffline(offline.checked);
  renderStatus();
});

// The pending count changes without a status change (acks arrive while
// online), so refresh it a few times a second.
setInterval(renderStatus, 250);

connect(nodeURL).then(() => keys.start());
cluster.start();

// For tests and the curious: the client and what the board shows.
window.latticeDemo = {
  get client() { return client; },
  get node() { return nodeName; },
  status: () => client?.status,
  pending: pendingCount,
  snapshot: () => board.snapshot(),
  boardText: () => JSON.stringify(board.snapshot()),
  // The client's canonical states of the board's keys: byte-identical on
  // converged replicas.
  canonical: () => client ? Object.fromEntries(Object.values(KEYS).map((k) => [k, JSON.stringify(client.canonical(k))])) : null,
};
