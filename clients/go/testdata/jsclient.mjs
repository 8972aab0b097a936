// Used by js_test.go: connects the JavaScript client (clients/js/lattice.js)
// to one node, subscribes to a prefix, waits until the subscription is
// answered, and prints {key: {canonical, value}} for every key under it.
//
//   node --experimental-websocket jsclient.mjs LATTICE_JS_PATH WS_URL PREFIX
import { pathToFileURL } from 'node:url';

const [libPath, url, prefix] = process.argv.slice(2);
const { Client, MemoryStore } = await import(pathToFileURL(libPath).href);
const c = new Client({ urls: [url], store: new MemoryStore() });
c.on('error', (e) => console.error('lattice error', e.code, e.message));
await c.open();
c.subscribe(prefix, { prefix: true });
const target = `p:${prefix}`;
const end = Date.now() + 20000;
// _synced holds the targets a snapshot or catch-up has answered.
while (!(c.status === 'online' && c._synced.has(target))) {
  if (Date.now() > end) {
    console.error(`timed out: status ${c.status}`);
    process.exit(2);
  }
  await new Promise((r) => setTimeout(r, 20));
}
const out = {};
for (const k of c.keys(prefix)) out[k] = { canonical: c.canonical(k), value: c.get(k) };
console.log(JSON.stringify(out));
await c.close();
process.exit(0);
