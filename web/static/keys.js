// The key browser: every object on the cluster under a prefix, listed by
// the tab's node (GET /v1/objects, paged) and shown live from the tab's
// own replica, which subscribes to the prefix. What a terminal writes
// (lattice inc board/likes, curl) shows up here, not only the board's keys.
import { h, replace, setText } from './dom.js';

const POLL_MS = 2000;
const MAX_KEYS = 300; // three pages: a demo, not a database browser

function show(v) {
  if (v === null || v === undefined) return '…';
  const s = JSON.stringify(v);
  return s.length > 120 ? s.slice(0, 119) + '…' : s;
}

export class KeyBrowser {
  // nodeURL(): the URL of the tab's node; client(): the tab's client.
  constructor(root, { nodeURL, client }) {
    this.nodeURL = nodeURL;
    this.client = client;
    this.prefix = '';
    this.listed = []; // [{key, type}] as the node listed them
    this.more = false;
    this.error = '';
    this.unsub = null;
    this.els = {
      input: root.querySelector('#keys-prefix'),
      table: root.querySelector('#keys'),
      count: root.querySelector('#keys-count'),
    };
    this.els.input.addEventListener('change', () => this.setPrefix(this.els.input.value.trim()));
  }

  start() {
    const tick = async () => {
      await this.poll();
      this.timer = setTimeout(tick, POLL_MS);
    };
    tick();
  }

  setPrefix(prefix) {
    this.prefix = prefix;
    this.listed = [];
    this.subscribe();
    this.poll();
  }

  // subscribe keeps the tab's replica up to date with the prefix, so the
  // values shown change as soon as anyone writes them.
  subscribe() {
    const c = this.client();
    if (!c) return;
    if (this.unsub?.prefix === this.prefix && this.unsub.client === c) return;
    this.unsub?.off();
    this.unsub = { prefix: this.prefix, client: c, off: c.subscribe(this.prefix, { prefix: true }) };
  }

  async poll() {
    this.subscribe();
    const prefix = this.prefix;
    const keys = [];
    let after = '';
    let more = false;
    try {
      do {
        const q = new URLSearchParams({ prefix, limit: '100' });
        if (after) q.set('after', after);
        const res = await fetch(`${this.nodeURL()}/v1/objects?${q}`, { cache: 'no-store', signal: AbortSignal.timeout(1500) });
        const body = await res.json();
        if (!res.ok) throw new Error(body?.error?.message || `${res.status}`);
        keys.push(...body.objects);
        after = body.next || '';
        more = !!after && keys.length >= MAX_KEYS;
      } while (after && !more);
      this.error = '';
    } catch (err) {
      this.error = `The node did not list its keys (${err.message}); showing this tab's.`;
    }
    if (prefix !== this.prefix) return; // the prefix changed meanwhile
    if (!this.error) {
      this.listed = keys;
      this.more = more;
    }
    this.render();
  }

  render() {
    const c = this.client();
    // The node's list, plus what this tab holds and the node has not
    // listed yet (an offline edit).
    const rows = new Map(this.listed.map((k) => [k.key, k.type]));
    for (const key of c ? c.keys(this.prefix) : []) if (!rows.has(key)) rows.set(key, c.typeOf(key));
    const keys = [...rows.keys()].sort();
    setText(this.els.count, this.error || `${keys.length}${this.more ? '+' : ''} key${keys.length === 1 ? '' : 's'}`);
    const body = keys.map((key) => h('tr', { dataset: { key } },
      h('th', { scope: 'row' }, h('code', {}, key)),
      h('td', { class: 'muted' }, rows.get(key) || ''),
      h('td', {}, h('code', { class: 'key-value' }, show(c?.get(key))))));
    const html = body.map((r) => r.outerHTML).join('');
    if (this.shown === html) return;
    this.shown = html;
    replace(this.els.table,
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'key'), h('th', { scope: 'col' }, 'type'), h('th', { scope: 'col' }, 'value'))),
      h('tbody', {}, body));
  }
}
