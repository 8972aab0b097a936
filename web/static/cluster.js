// The cluster panel: polls every node's /v1/cluster, /v1/digest and
// /v1/admin/faults, draws who reaches whom, the version vectors and whether
// the replicas agree, and drives the fault-injection endpoints.
import { h, replace, setText, toast } from './dom.js';

const POLL_MS = 500;
const TIMEOUT_MS = 1500;
const MS = 1e6; // nanoseconds per millisecond: the API's durations are ns

async function getJSON(url, init = {}) {
  const res = await fetch(url, { cache: 'no-store', signal: AbortSignal.timeout(TIMEOUT_MS), ...init });
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const err = new Error(body?.error?.message || `${res.status} ${res.statusText}`);
    err.status = res.status;
    err.code = body?.error?.code;
    throw err;
  }
  return body;
}

function faultBody(f) {
  return {
    drop: f.drop || 0, duplicate: f.duplicate || 0, reorder: f.reorder || 0,
    delay: f.delay || 0, jitter: f.jitter || 0, cut: [...(f.cut || [])],
  };
}

function clock() {
  return new Date().toLocaleTimeString([], { hour12: false });
}

function shortDigest(d) {
  return d ? d.slice(0, 8) : '—';
}

// digestColor gives equal digests equal colors, so agreement shows at a
// glance. Hues run from green through blue to purple only: red and orange
// mean trouble everywhere else on the page, and a digest is no trouble.
function digestColor(d) {
  if (!d) return 'transparent';
  return `hsl(${110 + parseInt(d.slice(0, 6), 16) % 190} 60% 45%)`;
}

// faultText says what faults a node applies, for the activity log.
function faultText(f) {
  const parts = [];
  if (f.cut?.length) parts.push(`cuts ${f.cut.join(', ')}`);
  if (f.drop) parts.push(`${pct(f.drop)} loss`);
  if (f.delay) parts.push(`${Math.round(f.delay / MS)} ms delay`);
  if (f.jitter) parts.push(`±${Math.round(f.jitter / MS)} ms jitter`);
  if (f.duplicate) parts.push(`${pct(f.duplicate)} duplicated`);
  if (f.reorder) parts.push(`${pct(f.reorder)} reordered`);
  return parts.join(', ');
}

function faultKey(f) {
  return f ? JSON.stringify(faultBody(f)) : '';
}

// swap replaces a table's contents only if they changed, so tooltips and
// text selection survive polls.
const shown = new WeakMap(); // table -> the HTML it shows
function swap(table, ...parts) {
  const html = parts.map((p) => p.outerHTML).join('');
  if (shown.get(table) === html) return;
  shown.set(table, html);
  replace(table, ...parts);
}

function pct(p) {
  return `${Math.round((p || 0) * 100)}%`;
}

export class Cluster {
  // origin: the URL of the node that served the page.
  // onNodes(nodes): called when the set of known nodes changes.
  constructor(root, { origin, onNodes }) {
    this.root = root;
    this.origin = origin;
    this.onNodes = onNodes;
    this.nodes = new Map(); // name -> node state
    this.connected = ''; // name of the node this tab's client uses
    this.admin = false;
    this.prev = null; // previous poll's facts, for the activity log
    this.divergedAt = 0;
    this.healedAt = 0; // when the last fault was cleared, by any tab
    this.els = {
      badge: root.querySelector('#converged'),
      summary: root.querySelector('#cluster-summary'),
      nodes: root.querySelector('#nodes'),
      reach: root.querySelector('#reach'),
      vv: root.querySelector('#vv'),
      faults: root.querySelector('#faults'),
      adminOff: root.querySelector('#admin-off'),
      log: root.querySelector('#activity'),
      heal: root.querySelector('#heal'),
    };
    this.setupFaultForm();
  }

  start() {
    const tick = async () => {
      await this.poll();
      this.timer = setTimeout(tick, POLL_MS);
    };
    tick();
  }

  setConnected(name) {
    if (this.connected === name) return;
    this.connected = name;
    this.render();
  }

  // poll asks every known node, all at once, and renders what answered.
  async poll() {
    if (this.nodes.size === 0) this.nodes.set('', { name: '', url: this.origin });
    await Promise.all([...this.nodes.values()].map((n) => this.pollNode(n)));
    // Learn nodes from every view: a node can know peers another lost.
    let changed = false;
    for (const n of [...this.nodes.values()]) {
      if (!n.cluster) continue;
      if (n.name === '') { // the first answer names the serving node
        this.nodes.delete('');
        n.name = n.cluster.name;
        n.url = this.origin;
        this.nodes.set(n.name, n);
        changed = true;
      }
      n.id = n.cluster.id;
      for (const m of n.cluster.members || []) {
        if (!this.nodes.has(m.name) && m.http) {
          this.nodes.set(m.name, { name: m.name, id: m.id, url: m.http.replace(/\/$/, '') });
          changed = true;
        }
      }
    }
    if (changed) {
      this.nodes = new Map([...this.nodes].sort((a, b) => a[0].localeCompare(b[0])));
      this.onNodes?.(this.list().map(({ name, url }) => ({ name, url })));
    }
    this.admin = this.list().some((n) => n.admin);
    this.observe();
    this.render();
  }

  async pollNode(n) {
    const started = Date.now();
    const [cluster, digest, faults] = await Promise.allSettled([
      getJSON(n.url + '/v1/cluster'),
      getJSON(n.url + '/v1/digest'),
      getJSON(n.url + '/v1/admin/faults'),
    ]);
    n.up = cluster.status === 'fulfilled' && digest.status === 'fulfilled';
    if (n.up) {
      n.cluster = cluster.value;
      n.digest = digest.value;
      n.seen = Date.now();
    }
    if (faults.status === 'fulfilled' && started < (n.faultsSetAt || 0)) {
      // Asked before this tab's own change was answered: stale.
    } else if (faults.status === 'fulfilled') {
      n.admin = true;
      // A change this tab did not make (another tab, curl) goes in the log
      // too; this tab's own are already in n.faults from its PUT.
      const before = faultKey(n.faults);
      if (n.faults && before !== faultKey(faults.value.faults)) this.faultsChanged(n, faults.value.faults);
      n.faults = faults.value.faults;
      n.stats = faults.value.stats;
    } else if (faults.reason?.status) {
      n.admin = false; // 403: admin off; 501: no fault transport
    }
  }

  list() {
    return [...this.nodes.values()].filter((n) => n.name !== '');
  }

  nameOf(id) {
    for (const n of this.nodes.values()) if (n.id === id) return n.name;
    return id.slice(0, 8);
  }

  // convergence: 'converged' when every node answered with one digest.
  convergence() {
    const nodes = this.list();
    if (nodes.length === 0) return { state: 'unknown', text: 'Looking for nodes…' };
    const down = nodes.filter((n) => !n.up);
    const digests = new Set(nodes.filter((n) => n.up).map((n) => n.digest.digest));
    if (digests.size > 1) {
      return { state: 'diverged', text: `${digests.size} different states across ${nodes.length - down.length} nodes` };
    }
    if (down.length) {
      return { state: 'unknown', text: `${down.map((n) => n.name).join(', ')} not answering` };
    }
    const objects = nodes[0].digest.objects;
    return { state: 'converged', text: `${nodes.length} nodes hold identical state · ${objects} object${objects === 1 ? '' : 's'}` };
  }

  // observe turns changes between polls into activity-log lines.
  observe() {
    const conv = this.convergence();
    const reach = new Map();
    for (const n of this.list()) {
      if (!n.up) continue;
      for (const m of n.cluster.members || []) reach.set(`${n.name}→${m.name}`, m.reachable);
    }
    const up = new Map(this.list().filter((n) => n.up !== undefined).map((n) => [n.name, n.up]));
    const prev = this.prev;
    this.prev = { conv: conv.state, reach, up };
    if (!prev) {
      if (conv.state === 'diverged') this.divergedAt = Date.now();
      return;
    }
    for (const [name, isUp] of up) {
      if (prev.up.has(name) && prev.up.get(name) !== isUp) {
        this.log(isUp ? `${name} answers again` : `${name} stopped answering`, isUp ? 'good' : 'bad');
      }
    }
    for (const [pair, ok] of reach) {
      if (prev.reach.has(pair) && prev.reach.get(pair) !== ok) {
        const [a, b] = pair.split('→');
        this.log(ok ? `${a} reaches ${b} again` : `${a} lost contact with ${b}`, ok ? 'good' : 'bad');
      }
    }
    if (prev.conv !== 'diverged' && conv.state === 'diverged') {
      this.divergedAt = Date.now();
      this.log('Replicas diverged: nodes hold different states', 'warn');
    } else if (prev.conv === 'diverged' && conv.state === 'converged') {
      // Counted from the heal when there was one since the divergence: the
      // time the partition lasted is the person's, not the system's.
      if (this.healedAt > this.divergedAt) {
        const s = ((Date.now() - this.healedAt) / 1000).toFixed(1);
        this.log(`Replicas converged ${s} s after the heal (diverged for ${((this.healedAt - this.divergedAt) / 1000).toFixed(1)} s)`, 'good');
      } else {
        const s = ((Date.now() - this.divergedAt) / 1000).toFixed(1);
        this.log(`Replicas converged after ${s} s`, 'good');
      }
    }
  }

  // faultsChanged logs a node's faults changing without this tab.
  faultsChanged(n, f) {
    const text = faultText(f);
    if (!text) this.healedAt = Date.now();
    this.log(text ? `${n.name} now ${text} (changed elsewhere)` : `${n.name}'s faults were cleared (elsewhere)`, text ? 'warn' : 'good');
  }

  log(text, kind = 'info') {
    const li = h('li', { class: `log-${kind}` }, h('time', {}, clock()), ' ', text);
    this.els.log.prepend(li);
    while (this.els.log.children.length > 12) this.els.log.lastChild.remove();
  }

  render() {
    const nodes = this.list();
    const conv = this.convergence();
    const badge = this.els.badge;
    badge.dataset.state = conv.state;
    setText(badge, { converged: 'Converged', diverged: 'Diverged', unknown: 'Checking…' }[conv.state]);
    let text = conv.text;
    if (conv.state === 'diverged' && this.divergedAt) {
      text += ` · for ${((Date.now() - this.divergedAt) / 1000).toFixed(0)} s`;
    }
    setText(this.els.summary, text);
    this.renderNodes(nodes);
    this.renderReach(nodes);
    this.renderVV(nodes);
    this.els.faults.hidden = !this.admin;
    this.els.adminOff.hidden = this.admin || nodes.length === 0;
    this.syncFaultForm(nodes);
  }

  isCutOff(n) {
    const others = this.list().filter((o) => o !== n).map((o) => o.name);
    return others.length > 0 && others.every((o) => n.faults?.cut?.includes(o));
  }

  // renderNodes updates one persistent element per node, so a button is
  // never replaced under the pointer by a poll.
  renderNodes(nodes) {
    this.nodeEls ??= new Map();
    for (const [name, el] of this.nodeEls) {
      if (!nodes.some((n) => n.name === name)) { el.li.remove(); this.nodeEls.delete(name); }
    }
    nodes.forEach((n, i) => {
      let el = this.nodeEls.get(n.name);
      if (!el) {
        el = {};
        el.state = h('span', { class: 'node-state' });
        el.chip = h('span', { class: 'chip' }, 'this tab');
        el.swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' });
        el.digest = h('code', {});
        el.digestWrap = h('span', { class: 'digest' }, el.swatch, el.digest);
        el.objects = h('span', {});
        el.stats = h('span', { title: 'messages this node sent to peers / lost to faults' });
        el.faults = h('div', { class: 'node-faults' });
        el.button = h('button', { type: 'button', class: 'button small', onclick: () => {
          if (el.cutOff) this.reconnect(n.name); else this.cutOff(n.name);
        } });
        el.actions = h('span', { class: 'node-actions' }, el.button);
        el.li = h('li', { class: 'node', dataset: { name: n.name } },
          h('div', { class: 'node-head' },
            h('span', { class: 'dot', 'aria-hidden': 'true' }),
            h('strong', { class: 'node-name' }, n.name), el.chip, el.actions),
          h('div', { class: 'node-facts' }, el.state, el.digestWrap, el.objects, el.stats),
          el.faults);
        this.nodeEls.set(n.name, el);
      }
      if (this.els.nodes.children[i] !== el.li) this.els.nodes.insertBefore(el.li, this.els.nodes.children[i] || null);

      const f = n.faults || {};
      const cutOff = this.isCutOff(n);
      // A node on the healthy side of a cut only stops talking to the cut
      // node: it is healthy, and says whom it cannot reach. Lost, late,
      // duplicated or reordered messages are what degrade it.
      const degraded = faultText({ ...f, cut: [] });
      const faults = [];
      if (!cutOff && f.cut?.length) faults.push(`cut from ${f.cut.join(', ')}`);
      if (degraded) faults.push(degraded);
      const state = !n.up ? 'down' : cutOff ? 'cut' : degraded ? 'faulty' : 'up';
      el.li.dataset.state = state;
      setText(el.state, { down: 'not answering', cut: 'cut off', faulty: 'degraded', up: 'healthy' }[state]);
      el.chip.hidden = n.name !== this.connected;
      const d = n.up ? n.digest.digest : '';
      el.swatch.style.background = digestColor(d);
      setText(el.digest, shortDigest(d));
      el.digestWrap.title = d ? `state digest ${d}: equal colors, equal states` : 'no digest';
      setText(el.objects, n.up ? `${n.digest.objects} object${n.digest.objects === 1 ? '' : 's'}` : '');
      const st = n.stats;
      setText(el.stats, st ? `${st.sent} sent · ${(st.dropped || 0) + (st.cut_dropped || 0)} lost` : '');
      setText(el.faults, faults.join(' · '));
      el.faults.hidden = faults.length === 0;
      el.actions.hidden = !(this.admin && n.admin);
      el.cutOff = cutOff;
      setText(el.button, cutOff ? `Reconnect ${n.name}` : `Cut ${n.name} off`);
      el.button.className = cutOff ? 'button small' : 'button small danger';
    });
  }

  renderReach(nodes) {
    if (nodes.length === 0) return swap(this.els.reach);
    const head = h('tr', {}, h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'from \\ to')),
      nodes.map((n) => h('th', { scope: 'col' }, n.name)));
    const rows = nodes.map((from) => h('tr', {},
      h('th', { scope: 'row' }, from.name),
      nodes.map((to) => {
        if (from === to) return h('td', { class: 'self', title: 'itself' }, '·');
        if (!from.up) return h('td', { class: 'unknown', title: `${from.name} is not answering` }, '?');
        const m = (from.cluster.members || []).find((x) => x.name === to.name);
        const cut = from.faults?.cut?.includes(to.name);
        if (!m) return h('td', { class: 'unknown', title: `${from.name} does not know ${to.name}` }, '?');
        // Lag from the vectors polled just now: how many of from's own log
        // entries to has not applied. The node's m.lag is as of to's last
        // report, which a cut stops.
        const lag = to.up && from.id ? Math.max(0, (from.cluster.vv?.[from.id] || 0) - (to.cluster.vv?.[from.id] || 0)) : m.lag;
        const cls = m.reachable ? (cut ? 'cut-pending' : 'ok') : 'bad';
        const label = m.reachable ? '✓' : '✕';
        const why = `${from.name} ${m.reachable ? 'reaches' : 'cannot reach'} ${to.name}`
          + (cut ? ` (${from.name} cuts ${to.name})` : '')
          + (lag ? `; ${to.name} lacks ${lag} of ${from.name}'s entries` : '')
          + `; at ${to.name}'s last report it lacked ${m.lag}`;
        return h('td', { class: cls, title: why },
          h('span', { 'aria-label': why }, label),
          lag ? h('small', { class: 'lag' }, `lag ${lag}`) : null);
      })));
    swap(this.els.reach, h('thead', {}, head), h('tbody', {}, rows));
  }

  renderVV(nodes) {
    const live = nodes.filter((n) => n.up);
    if (live.length === 0) return swap(this.els.vv);
    // Columns are node logs, ordered like the rows; ids no node claims go last.
    const ids = [];
    for (const n of nodes) if (n.id) ids.push(n.id);
    for (const n of live) for (const id of Object.keys(n.cluster.vv || {})) if (!ids.includes(id)) ids.push(id);
    const max = Object.fromEntries(ids.map((id) => [id, Math.max(0, ...live.map((n) => n.cluster.vv?.[id] || 0))]));
    const head = h('tr', {}, h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'node')),
      ids.map((id) => h('th', { scope: 'col', title: id }, `${this.nameOf(id)}'s log`)));
    const rows = nodes.map((n) => h('tr', {},
      h('th', { scope: 'row' }, n.name),
      ids.map((id) => {
        if (!n.up) return h('td', { class: 'unknown' }, '?');
        const v = n.cluster.vv?.[id] || 0;
        const behind = max[id] - v;
        return h('td', { class: behind ? 'behind' : '', title: behind ? `${n.name} is missing ${behind} of ${this.nameOf(id)}'s entries` : `${n.name} has all ${v} of ${this.nameOf(id)}'s entries` },
          String(v), behind ? h('small', {}, ` −${behind}`) : null);
      })));
    swap(this.els.vv, h('thead', {}, head), h('tbody', {}, rows));
  }

  // Fault controls.

  setupFaultForm() {
    const form = this.els.faults;
    this.faultInputs = ['loss', 'delay', 'jitter', 'duplicate', 'reorder'].map((name) => form.elements[name]);
    for (const input of this.faultInputs) {
      const out = form.querySelector(`output[for="${input.id}"]`);
      const show = () => { out.value = input.value + (input.dataset.unit || ''); };
      input.addEventListener('input', () => { this.editing = true; show(); });
      input.addEventListener('change', () => { this.editing = false; this.applyFaults(); });
      show();
    }
    form.addEventListener('submit', (e) => e.preventDefault());
    this.els.heal.addEventListener('click', () => this.healAll());
  }

  syncFaultForm(nodes) {
    if (this.editing) return;
    const f = nodes.find((n) => n.faults)?.faults;
    if (!f) return;
    const values = { loss: Math.round(f.drop * 100), delay: Math.round(f.delay / MS), jitter: Math.round(f.jitter / MS), duplicate: Math.round(f.duplicate * 100), reorder: Math.round(f.reorder * 100) };
    for (const input of this.faultInputs) {
      if (document.activeElement === input) continue;
      const v = String(values[input.name]);
      if (input.value !== v) {
        input.value = v;
        this.els.faults.querySelector(`output[for="${input.id}"]`).value = v + (input.dataset.unit || '');
      }
    }
  }

  // update rewrites each admin node's faults with change(faults, node),
  // starting from what the node has now (PUT replaces all of them).
  async update(change, nodes = this.list().filter((n) => n.admin)) {
    const results = await Promise.allSettled(nodes.map(async (n) => {
      const cur = await getJSON(n.url + '/v1/admin/faults');
      const next = change(faultBody(cur.faults), n);
      const res = await getJSON(n.url + '/v1/admin/faults', {
        method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(next),
      });
      n.faults = res.faults;
      n.stats = res.stats;
      n.faultsSetAt = Date.now();
    }));
    const failed = results.map((r, i) => [r, nodes[i]]).filter(([r]) => r.status === 'rejected');
    if (failed.length) {
      toast(`Could not update ${failed.map(([, n]) => n.name).join(', ')}: ${failed[0][0].reason.message}`, 'error');
    }
    this.render();
  }

  async cutOff(name) {
    this.log(`You cut ${name} off from the other nodes`, 'warn');
    const others = this.list().filter((n) => n.name !== name).map((n) => n.name);
    await this.update((f, n) => {
      f.cut = n.name === name ? others : [...new Set([...f.cut, name])];
      return f;
    });
  }

  async reconnect(name) {
    this.log(`You reconnected ${name}`, 'good');
    this.healedAt = Date.now();
    await this.update((f, n) => {
      f.cut = n.name === name ? [] : f.cut.filter((c) => c !== name);
      return f;
    });
  }

  async applyFaults() {
    const v = Object.fromEntries(this.faultInputs.map((i) => [i.name, Number(i.value)]));
    const parts = [];
    if (v.loss) parts.push(`${v.loss}% loss`);
    if (v.delay) parts.push(`${v.delay} ms delay`);
    if (v.jitter) parts.push(`±${v.jitter} ms jitter`);
    if (v.duplicate) parts.push(`${v.duplicate}% duplicated`);
    if (v.reorder) parts.push(`${v.reorder}% reordered`);
    this.log(parts.length ? `Network now: ${parts.join(', ')}` : 'Network faults cleared (cuts kept)', parts.length ? 'warn' : 'good');
    await this.update((f) => ({
      ...f,
      drop: v.loss / 100, duplicate: v.duplicate / 100, reorder: v.reorder / 100,
      delay: v.delay * MS, jitter: v.jitter * MS,
    }));
  }

  async healAll() {
    this.log('You healed every node: no cuts, no loss, no delay', 'good');
    this.healedAt = Date.now();
    const nodes = this.list().filter((n) => n.admin);
    const results = await Promise.allSettled(nodes.map(async (n) => {
      // The node takes POSTs only as application/json (docs/api.md, CSRF).
      const res = await getJSON(n.url + '/v1/admin/heal', { method: 'POST', headers: { 'Content-Type': 'application/json' } });
      n.faults = res.faults;
      n.stats = res.stats;
      n.faultsSetAt = Date.now();
    }));
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length) toast(`Heal failed on ${failed.length} node(s): ${failed[0].reason.message}`, 'error');
    this.render();
  }
}
