// lattice.js: the Lattice client for browsers and Node.js. Zero dependencies.
//
// A Client is an offline-first replica: it keeps a local copy of the keys it
// touches (crdt.js objects), applies local edits at once, keeps each edit's
// delta as pending until a node acknowledges it, and syncs with any node of a
// cluster over the WebSocket protocol of docs/protocol.md (JSON encoding).
// Resending a delta is harmless (its dots are minted under this client's own
// replica id), which is what makes retries across reconnects and failovers
// exactly-once.

import { Clock, CrdtObject, isReplicaId, parseOp, snapshotTexts, textChanges, snapshotLists, listChanges, textAnchor, anchorIndex, codePointIndex, typeNumber } from './crdt.js';
import { LatticeError } from './lattice_protocol.js';
import { defaultStore, persistenceMethods } from './lattice_store.js';
import { connectionMethods } from './lattice_connection.js';
import { presenceMethods } from './lattice_presence.js';
import { DEFAULT_BACKOFF, reconnectMethods } from './lattice_reconnect.js';

export { CrdtError, CrdtObject, Clock, Op, parseOp, compareValues, compareTimestamps, isReplicaId, codePoints, textAnchor, anchorIndex, codePointIndex, utf16Index } from './crdt.js';
export { PROTOCOL_VERSION, LatticeError } from './lattice_protocol.js';
export { MemoryStore, IndexedDBStore, defaultStore } from './lattice_store.js';
export { DEFAULT_BACKOFF } from './lattice_reconnect.js';

const subTarget = (s) => (s.prefix !== undefined ? `p:${s.prefix}` : `k:${s.key}`);

function normPath(path) {
  if (path === undefined || path === null) return undefined;
  if (typeof path === 'string') return [path];
  if (Array.isArray(path)) return path;
  throw new TypeError('path must be a field name or an array of field names');
}

// ---------------------------------------------------------------------------
// Client

/**
 * Client is one replica talking to a Lattice cluster. See index.d.ts and
 * README.md for the API; the comments here say why it works as it does.
 * Its internals are in lattice_store.js, lattice_connection.js,
 * lattice_presence.js and lattice_reconnect.js (installed at the end).
 */
export class Client {
  constructor(options = {}) {
    const { urls, url, replica, store, token, backoff, WebSocket: WS, pingInterval, connectTimeout, name } = options;
    this.urls = urls ? [...urls] : url ? [url] : [];
    if (this.urls.length === 0) throw new TypeError('Client: options.urls must list at least one ws:// URL (…/v1/ws)');
    if (replica !== undefined && !isReplicaId(replica)) {
      throw new TypeError(`Client: replica ${JSON.stringify(replica)} is not a lowercase UUID`);
    }
    this._wantReplica = replica;
    this.replica = replica; // settled by open(): from the store, the option, or a new UUID
    this.store = store || defaultStore(name);
    this.token = token; // a string, or a function returning one (or a promise of one)
    this.backoff = { ...DEFAULT_BACKOFF, ...(backoff || {}) };
    this._WS = WS || globalThis.WebSocket;
    this.pingInterval = pingInterval ?? 20_000;
    this.connectTimeout = connectTimeout ?? 10_000;
    this._hooks = options.testHooks || {};

    this._objects = new Map(); // key -> CrdtObject
    this._pending = []; // [{id, key, delta, conn}] in the order made
    this._cursor = null; // the node version vector we have seen up to
    this.cluster = null; // the cluster id of the nodes this replica synced with (welcome.cluster)
    this._synced = new Set(); // subscription targets the cursor is complete for
    this._resume = new Map(); // target -> where its cut-off snapshot continues (a page's "resume")
    this._nextId = 1; // message ids: one counter for deltas, subs and pings, so an error's id names one message
    this._clock = new Clock();
    this._subs = new Map(); // target -> {key} | {prefix}
    this._listeners = { change: new Set(), status: new Set(), error: new Set(), presence: new Set() };
    this._presence = new Map(); // key -> this client's presence state there
    this._others = new Map(); // key -> Map(conn -> {conn, replica, state, deadline}): others' presence
    this._presenceSweep = null; // the timer that forgets presence nobody confirmed in time

    this._status = 'offline';
    this._loaded = null; // promise of the load
    this._ready = false;
    this._offline = false; // setOffline(true)
    this._closed = true; // not opened yet, or close()d
    this._conn = null;
    this._attempt = 0;
    this._urlIndex = 0;
    this._retryTimer = null;
    this._pingTimer = null;
    this._saving = null;
    this._dirty = false;
    this._onBrowserOnline = () => {
      if (this._retryTimer) this._retryNow();
    };
  }

  // --- lifecycle --------------------------------------------------------------

  /**
   * open loads the persisted state (once) and starts connecting, unless the
   * client is set offline. It resolves when the state is loaded, not when a
   * node answers: edits work from then on, online or not.
   */
  async open() {
    if (!this._loaded) this._loaded = this._load();
    await this._loaded;
    this._closed = false;
    if (typeof globalThis.addEventListener === 'function') globalThis.addEventListener('online', this._onBrowserOnline);
    this._connect();
  }

  /** close disconnects for good (until open() again) and waits for the state to be saved. */
  async close() {
    this._closed = true;
    if (typeof globalThis.removeEventListener === 'function') globalThis.removeEventListener('online', this._onBrowserOnline);
    this._stopRetry();
    this._drop(1000, 'client closed');
    this._setStatus('offline');
    await this.flush();
  }

  /**
   * setOffline(true) disconnects and stays disconnected, as if the network
   * were gone: edits keep applying locally and queue as pending.
   * setOffline(false) reconnects, resends what is pending and catches up.
   */
  setOffline(offline) {
    this._offline = !!offline;
    if (this._offline) {
      this._stopRetry();
      this._drop(1000, 'client offline');
      this._setStatus('offline');
    } else {
      this._attempt = 0;
      this._connect();
    }
  }

  /**
   * reconnect drops the current connection and connects again at once (after
   * a token change, say); with {next: true} it moves on to the next URL.
   */
  reconnect({ next = false } = {}) {
    this._drop(1000, 'client reconnecting');
    if (next) this._urlIndex = (this._urlIndex + 1) % this.urls.length;
    this._retryNow();
  }

  /** status is 'online' (a node welcomed us), 'connecting', or 'offline'. */
  get status() {
    return this._status;
  }

  /** pending is the number of local deltas no node has acknowledged yet. */
  get pending() {
    return this._pending.length;
  }

  /**
   * clock is the replica's hybrid clock: the last timestamp it issued or
   * saw ({wall: ms since the epoch, logical}). Its next edit ranks after it.
   */
  get clock() {
    return { ...this._clock.last };
  }

  /** cursor is the resume cursor: the node version vector this client has seen up to. */
  get cursor() {
    return this._cursor ? { ...this._cursor } : null;
  }

  /** node is the name of the node we are connected to, or null. */
  get node() {
    return this._conn && this._conn.welcome ? this._conn.welcome.node : null;
  }

  // --- subscriptions and reads ------------------------------------------------

  /**
   * subscribe asks every node we connect to for a key, or with {prefix: true}
   * for every key starting with keyOrPrefix, and keeps the local replica up
   * to date with it. Returns a function that unsubscribes.
   */
  subscribe(keyOrPrefix, { prefix = false } = {}) {
    if (typeof keyOrPrefix !== 'string') throw new TypeError('subscribe: want a key or a prefix string');
    const sub = prefix ? { prefix: keyOrPrefix } : { key: keyOrPrefix };
    const target = subTarget(sub);
    if (!this._subs.has(target)) {
      this._subs.set(target, sub);
      if (this._conn && this._conn.welcome) this._sendSub(this._conn, target, sub);
    }
    return () => this.unsubscribe(keyOrPrefix, { prefix });
  }

  /** unsubscribe stops a subscription made by subscribe. */
  unsubscribe(keyOrPrefix, { prefix = false } = {}) {
    const target = subTarget(prefix ? { prefix: keyOrPrefix } : { key: keyOrPrefix });
    if (!this._subs.delete(target)) return;
    this._resume.delete(target);
    // Changes made while unsubscribed are not in what the cursor says we
    // have, so a later subscription must start from a snapshot.
    this._synced.delete(target);
    this._persist();
    const c = this._conn;
    if (c && c.welcome) {
      for (const [id, t] of c.subs) {
        if (t === target) {
          c.subs.delete(id);
          this._send(c, { t: 'unsub', id });
        }
      }
    }
  }

  /** get returns the plain value of key, or null if this replica holds nothing for it. */
  get(key) {
    const o = this._objects.get(key);
    return o ? o.value() : null;
  }

  /** typeOf returns the type name of key ('counter', 'set', ...) or null. */
  typeOf(key) {
    const o = this._objects.get(key);
    return o ? o.typeName() : null;
  }

  /** canonical returns key's canonical JSON state, the same bytes on every converged replica. */
  canonical(key) {
    const o = this._objects.get(key);
    return (o || new CrdtObject()).toJSON();
  }

  /** keys lists the keys this replica holds, sorted; with a prefix, only those under it. */
  keys(prefix = '') {
    return [...this._objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  // --- writes -----------------------------------------------------------------

  /**
   * apply performs op (the JSON form, e.g. {"type":"counter","op":"inc","by":1})
   * on key: the local replica changes at once, a change event fires, and the
   * delta is queued for the nodes. A malformed or wrong-type op throws a
   * CrdtError and changes nothing. Returns key's new plain value.
   */
  apply(key, op) {
    if (!this._ready) throw new Error('Client: await client.open() before writing');
    if (typeof key !== 'string' || key === '') throw new TypeError('apply: key must be a non-empty string');
    const parsed = parseOp(op);
    const had = this._objects.get(key);
    const obj = had || new CrdtObject();
    // A text edit always changes the text and says itself what it did, so
    // typing costs no walk of the whole text; anything else that may touch
    // a text (a map delete) is compared with a snapshot.
    const isText = parsed.type === typeNumber('text');
    const before = had && !isText ? JSON.stringify(obj.value()) : undefined;
    const snap = isText ? null : snapshotTexts(obj);
    // Only a text op inside a list's element can change a list among text ops.
    const lsnap = isText && !parsed.item ? null : snapshotLists(obj);
    const delta = obj.apply(this.replica, this._clock.now(Date.now()), parsed); // throws before any change
    if (!had) this._objects.set(key, obj);
    this._queue(key, delta);
    this._persist();
    this._changed(key, obj, before, 'local', snap, isText ? [obj.lastTextEdit] : undefined, lsnap);
    return obj.value();
  }

  // _queue adds a delta to the pending list. A delta not yet sent on the live
  // connection is joined into the previous unsent one for the same key (a
  // join of deltas is a delta), so an offline client holds one pending delta
  // per key, not one per edit.
  _queue(key, delta) {
    const live = this._conn && this._conn.welcome ? this._conn : null;
    for (let i = this._pending.length - 1; i >= 0; i--) {
      const p = this._pending[i];
      if (p.key !== key) continue;
      if (p.conn === null || p.conn !== live) {
        p.delta = p.delta.clone().join(delta);
        p.id = this._nextId++; // the id names one content
        p.conn = null;
        if (live) this._sendDelta(live, p);
        return;
      }
      break;
    }
    const p = { id: this._nextId++, key, delta, conn: null };
    this._pending.push(p);
    if (live) this._sendDelta(live, p);
  }

  /** inc adds by (default 1) to a counter; opts.type 'gcounter' for a grow-only one, opts.path for a map field. */
  inc(key, by = 1, opts = {}) {
    return this.apply(key, { type: opts.type || 'counter', op: 'inc', by, path: normPath(opts.path) });
  }

  /** dec subtracts by (default 1) from a counter. */
  dec(key, by = 1, opts = {}) {
    return this.apply(key, { type: opts.type || 'counter', op: 'dec', by, path: normPath(opts.path) });
  }

  /** add puts value in a set. */
  add(key, value, opts = {}) {
    return this.apply(key, { type: 'set', op: 'add', value, path: normPath(opts.path) });
  }

  /** remove takes value out of a set (what this replica has seen of it). */
  remove(key, value, opts = {}) {
    return this.apply(key, { type: 'set', op: 'remove', value, path: normPath(opts.path) });
  }

  /** set writes a register: last-writer-wins by default, opts.type 'mvreg' for a multi-value one. */
  set(key, value, opts = {}) {
    return this.apply(key, { type: opts.type || 'lww', op: 'set', value, path: normPath(opts.path) });
  }

  /** enable turns a flag on. */
  enable(key, opts = {}) {
    return this.apply(key, { type: 'flag', op: 'enable', path: normPath(opts.path) });
  }

  /** disable turns a flag off (what this replica has seen of it). */
  disable(key, opts = {}) {
    return this.apply(key, { type: 'flag', op: 'disable', path: normPath(opts.path) });
  }

  /** del removes the map field path names (a field name or a list of them), whatever its type. */
  del(key, path) {
    return this.apply(key, { type: 'map', op: 'delete', path: normPath(path) });
  }

  /**
   * insertText inserts str into a text at index (code points; opts.index16
   * true to give it in UTF-16 units, as a textarea's selectionStart is),
   * opts.path for a text field.
   */
  insertText(key, index, str, opts = {}) {
    const path = normPath(opts.path);
    if (opts.index16) index = codePointIndex(this.text(key, path), index);
    return this.apply(key, { type: 'text', op: 'insert', index, value: str, path });
  }

  /**
   * insertItem inserts value into a list at index (elements): a scalar, or an
   * object of scalars for a map element; opts.path for a list field.
   */
  insertItem(key, index, value, opts = {}) {
    return this.apply(key, { type: 'list', op: 'insert', index, value, path: normPath(opts.path) });
  }

  /** deleteItems deletes count elements of a list from index. */
  deleteItems(key, index, count = 1, opts = {}) {
    return this.apply(key, { type: 'list', op: 'delete', index, count, path: normPath(opts.path) });
  }

  /** moveItem moves the element of a list at from so that it ends at index to. */
  moveItem(key, from, to, opts = {}) {
    return this.apply(key, { type: 'list', op: 'move', from, to, path: normPath(opts.path) });
  }

  /** deleteText deletes count characters of a text from index (code points, or UTF-16 units with opts.index16). */
  deleteText(key, index, count, opts = {}) {
    const path = normPath(opts.path);
    if (opts.index16) {
      const s = this.text(key, path);
      const end = codePointIndex(s, index + count);
      index = codePointIndex(s, index);
      count = end - index;
    }
    return this.apply(key, { type: 'text', op: 'delete', index, count, path });
  }

  /**
   * setPresence publishes this client's presence on key: a small JSON object
   * (name, colour, cursor) every subscriber of key sees, on every node, until
   * this client clears it (null), closes, or loses its connection; it is sent
   * again on every reconnect. Never stored. For a cursor that follows
   * concurrent edits, use textAnchor/anchorIndex.
   */
  setPresence(key, state) {
    if (typeof key !== 'string' || key === '') throw new TypeError('setPresence: key must be a non-empty string');
    if (state !== null && (typeof state !== 'object' || Array.isArray(state))) throw new TypeError('setPresence: state must be an object or null');
    if (state === null) this._presence.delete(key);
    else this._presence.set(key, state);
    const conn = this._conn;
    if (conn && conn.welcome) this._send(conn, { t: 'presence', key, state });
  }

  /** presence lists the others' presence on key: [{conn, replica, state}]. */
  presence(key) {
    const m = this._others.get(key);
    return m ? [...m.values()].map(({ conn, replica, state }) => ({ conn, replica, state })) : [];
  }

  /** anchor returns a stable anchor for a cursor at index (code points) in a text: send it in presence. */
  anchor(key, index, path) {
    const o = this._objects.get(key);
    return o ? textAnchor(o, normPath(path) || [], index) : null;
  }

  /** anchorIndex returns where an anchor (from anchor(), maybe another client's) now is in a text. */
  anchorIndex(key, anchor, path) {
    const o = this._objects.get(key);
    return o ? anchorIndex(o, normPath(path) || [], anchor) : 0;
  }

  /** text returns the text at key (opts path: the field of a map), "" if there is none. */
  text(key, path) {
    const o = this._objects.get(key);
    return o ? o.text(normPath(path) || []) : '';
  }

  // --- events -----------------------------------------------------------------

  /**
   * on registers fn for 'change' ({key, value, source, text?}), 'presence'
   * ({key, conn, replica, state}; state null when gone), 'status' (the new
   * status) or 'error' (a LatticeError). Returns a function that removes it.
   */
  on(event, fn) {
    const set = this._listeners[event];
    if (!set) throw new TypeError(`on: unknown event ${JSON.stringify(event)}; want change, status, error or presence`);
    set.add(fn);
    return () => set.delete(fn);
  }

  /** off removes a listener registered with on. */
  off(event, fn) {
    const set = this._listeners[event];
    if (set) set.delete(fn);
  }

  /** onKey calls fn(value, event) whenever key changes. Returns a function that removes it. */
  onKey(key, fn) {
    return this.on('change', (ev) => {
      if (ev.key === key) fn(ev.value, ev);
    });
  }

  /** onPrefix calls fn(event) whenever a key starting with prefix changes. */
  onPrefix(prefix, fn) {
    return this.on('change', (ev) => {
      if (ev.key.startsWith(prefix)) fn(ev);
    });
  }

  _emit(event, arg) {
    for (const fn of [...this._listeners[event]]) {
      try {
        fn(arg);
      } catch (e) {
        // A listener's bug must not break sync; report it unless it is an
        // error listener itself failing.
        if (event !== 'error') this._emit('error', new LatticeError('listener', `a ${event} listener threw: ${e && e.message}`, { cause: e }));
        else if (typeof console !== 'undefined') console.error('lattice: an error listener threw', e);
      }
    }
  }

  _emitError(code, message, extra) {
    this._emit('error', new LatticeError(code, message, extra));
  }

  _setStatus(s) {
    if (this._status === s) return;
    this._status = s;
    this._emit('status', s);
  }

  // _changed emits a change event; snap and lsnap (snapshotTexts and
  // snapshotLists before the change) let it say what happened to each text
  // and list as positions.
  _changed(key, obj, before, source, snap, text, lsnap) {
    let ev;
    if (text) {
      // A local text edit: value is the whole text, computed when a
      // listener reads it (synchronously, in the event) rather than for
      // every keystroke.
      let value;
      let done = false;
      ev = { key, source };
      Object.defineProperty(ev, 'value', {
        enumerable: true,
        get: () => {
          if (!done) {
            value = obj.value();
            done = true;
          }
          return value;
        },
      });
    } else {
      const value = obj.value();
      if (before !== undefined && JSON.stringify(value) === before) return;
      ev = { key, value, source };
    }
    if (!text && snap) text = textChanges(snap, obj);
    if (text && text.length) ev.text = text;
    const list = lsnap ? listChanges(lsnap, obj) : [];
    if (list.length) ev.list = list;
    this._emit('change', ev);
  }

  /** flush resolves once everything changed so far is saved in the store. */
  async flush() {
    while (this._saving || this._dirty) {
      if (!this._saving) this._saving = this._saveLoop();
      await this._saving;
    }
  }

}

// The Client's internals live in modules by concept (persistence, the
// connection, presence, reconnecting); their methods join the class here,
// non-enumerable like its own.
for (const methods of [persistenceMethods, connectionMethods, presenceMethods, reconnectMethods]) {
  for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(methods))) {
    if (Object.hasOwn(Client.prototype, name)) throw new Error(`Client.${name} is defined twice`);
    Object.defineProperty(Client.prototype, name, { ...d, enumerable: false });
  }
}
