// lattice.js: the Lattice client for browsers and Node.js. Zero dependencies.
//
// A Client is an offline-first replica: it keeps a local copy of the keys it
// touches (crdt.js objects), applies local edits at once, keeps each edit's
// delta as pending until a node acknowledges it, and syncs with any node of a
// cluster over the WebSocket protocol of docs/protocol.md (JSON encoding).
// Resending a delta is harmless (its dots are minted under this client's own
// replica id), which is what makes retries across reconnects and failovers
// exactly-once.

import { Clock, CrdtError, CrdtObject, isReplicaId, parseOp, snapshotTexts, textChanges, snapshotLists, listChanges, textAnchor, anchorIndex, codePointIndex, typeNumber } from './crdt.js';

export { CrdtError, CrdtObject, Clock, Op, parseOp, compareValues, compareTimestamps, isReplicaId, codePoints, textAnchor, anchorIndex, codePointIndex, utf16Index } from './crdt.js';

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = 1;

// Error codes after which a delta can never succeed, so resending it forever
// would be pointless: the node refused its content, not its timing.
// 'forbidden' is one too: the token does not cover the key, and a new token
// for the same user would not either.
const FATAL_DELTA_CODES = new Set(['bad_message', 'invalid_key', 'invalid_delta', 'wrong_type', 'forged_dot', 'forbidden', 'out_of_range']);

// Close codes from docs/protocol.md, for the error events a close produces.
const CLOSE_REASONS = {
  1009: 'frame_too_big',
  4001: 'unsupported_version',
  4002: 'hello_required',
  4003: 'unauthorized',
  4004: 'token_expired',
  4008: 'too_slow',
};

/**
 * Default reconnect backoff. The first retry is quick because most drops are
 * a node restarting or a failover; the cap keeps a client that was offline
 * for long from waiting minutes once the network is back.
 */
export const DEFAULT_BACKOFF = Object.freeze({
  initial: 250, // ms before the first retry
  max: 10_000, // ms, the cap
  factor: 2, // growth per failed attempt
  jitter: 0.5, // fraction of each delay that is random, so clients spread out after an outage
});

/** LatticeError is what 'error' events carry: a code from docs/protocol.md and a message. */
export class LatticeError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'LatticeError';
    this.code = code;
    Object.assign(this, extra);
  }
}

// ---------------------------------------------------------------------------
// Stores

/**
 * MemoryStore keeps the saved snapshot in memory, as JSON text so a loaded
 * snapshot never aliases the client's live state. Hand the same MemoryStore to
 * a new Client to simulate a page reload.
 */
export class MemoryStore {
  constructor() {
    this._text = undefined;
  }

  async load() {
    return this._text === undefined ? undefined : JSON.parse(this._text);
  }

  async save(snapshot) {
    this._text = JSON.stringify(snapshot);
  }
}

/**
 * IndexedDBStore keeps the snapshot in the browser's IndexedDB, in database
 * `lattice:<name>`, so a tab that is closed offline loses nothing.
 */
export class IndexedDBStore {
  constructor(name = 'default', idb = globalThis.indexedDB) {
    if (!idb) throw new Error('IndexedDBStore: indexedDB is not available here; use MemoryStore');
    this._idb = idb;
    this._name = `lattice:${name}`;
    this._db = null;
  }

  _open() {
    if (!this._db) {
      this._db = new Promise((resolve, reject) => {
        const req = this._idb.open(this._name, 1);
        req.onupgradeneeded = () => req.result.createObjectStore('state');
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(new Error(`IndexedDB ${this._name}: ${req.error && req.error.message}`));
      });
    }
    return this._db;
  }

  async _run(mode, fn) {
    const db = await this._open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction('state', mode);
      const req = fn(tx.objectStore('state'));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(new Error(`IndexedDB ${this._name}: ${tx.error && tx.error.message}`));
      tx.onabort = tx.onerror;
    });
  }

  async load() {
    return this._run('readonly', (s) => s.get('snapshot'));
  }

  async save(snapshot) {
    await this._run('readwrite', (s) => s.put(snapshot, 'snapshot'));
  }
}

/** defaultStore is IndexedDB in a browser and memory elsewhere. */
export function defaultStore(name) {
  return globalThis.indexedDB ? new IndexedDBStore(name) : new MemoryStore();
}

function newReplicaId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  if (!c || typeof c.getRandomValues !== 'function') throw new Error('no crypto.getRandomValues to make a replica id; pass options.replica');
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

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

  async _load() {
    const snap = await this.store.load();
    if (snap) {
      if (snap.v !== 1) throw new Error(`Client: the store holds a snapshot of version ${snap.v}; this client reads version 1`);
      if (this._wantReplica && snap.replica !== this._wantReplica) {
        throw new Error(`Client: the store belongs to replica ${snap.replica}, not ${this._wantReplica}; use another store or drop the replica option`);
      }
      this.replica = snap.replica;
      this._cursor = snap.cursor || null;
      this.cluster = snap.cluster || null;
      this._synced = new Set(snap.synced || []);
      this._nextId = snap.nextId || 1;
      this._clock = new Clock(snap.clock || { wall: 0, logical: 0 });
      for (const [key, state] of snap.objects || []) this._objects.set(key, CrdtObject.fromJSON(state));
      for (const [id, key, delta] of snap.pending || []) this._pending.push({ id, key, delta: CrdtObject.fromJSON(delta), conn: null });
    } else {
      // A replica id must never mint the same dot twice, so a new one comes
      // with every empty store: passing options.replica with a store that lost
      // its state would re-mint old sequence numbers.
      this.replica = this._wantReplica || newReplicaId();
      this._persist();
    }
    this._ready = true;
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

  // --- persistence --------------------------------------------------------------

  _snapshot() {
    return {
      v: 1,
      replica: this.replica,
      cursor: this._cursor,
      cluster: this.cluster,
      synced: [...this._synced],
      nextId: this._nextId,
      clock: this._clock.last,
      objects: [...this._objects].map(([k, o]) => [k, o.toWire()]),
      pending: this._pending.map((p) => [p.id, p.key, p.delta.toWire()]),
    };
  }

  // _persist schedules a save. Saves are coalesced: a burst of edits writes
  // once, and one save runs at a time so an older snapshot never lands last.
  _persist() {
    this._dirty = true;
    if (!this._saving) this._saving = this._saveLoop();
  }

  async _saveLoop() {
    try {
      await null; // let the current burst of edits finish first
      while (this._dirty) {
        this._dirty = false;
        try {
          await this.store.save(this._snapshot());
        } catch (e) {
          this._emitError('store', `saving the local replica failed: ${e && e.message}`, { cause: e });
        }
      }
    } finally {
      this._saving = null;
    }
  }

  /** flush resolves once everything changed so far is saved in the store. */
  async flush() {
    while (this._saving || this._dirty) {
      if (!this._saving) this._saving = this._saveLoop();
      await this._saving;
    }
  }

  // --- connection ---------------------------------------------------------------

  _connect() {
    if (this._closed || this._offline || this._conn || this._retryTimer || !this._ready) return;
    if (typeof this._WS !== 'function') {
      this._emitError('no_websocket', 'no WebSocket implementation: pass options.WebSocket (Node 20 needs --experimental-websocket)');
      this._setStatus('offline');
      return;
    }
    const url = this.urls[this._urlIndex % this.urls.length];
    this._setStatus('connecting');
    let ws;
    try {
      ws = new this._WS(url);
    } catch (e) {
      this._emitError('connect', `connecting to ${url}: ${e && e.message}`);
      this._failed(null);
      return;
    }
    const conn = { ws, url, welcome: null, subs: new Map(), lastHeard: Date.now(), timer: null };
    this._conn = conn;
    // A node that accepts TCP but never answers hello must not hold us.
    conn.timer = setTimeout(() => {
      if (this._conn === conn && !conn.welcome) {
        this._drop(4000, 'no welcome in time');
        this._failed(conn);
      }
    }, this.connectTimeout);
    ws.onopen = () => this._hello(conn);
    ws.onmessage = (ev) => this._onMessage(conn, ev.data);
    ws.onerror = () => {}; // a close event always follows, with more to say
    ws.onclose = (ev) => this._onClose(conn, ev);
  }

  async _hello(conn) {
    let token = this.token;
    try {
      if (typeof token === 'function') token = await token();
    } catch (e) {
      this._emitError('token', `getting a token failed: ${e && e.message}`);
    }
    if (this._conn !== conn) return;
    const hello = { t: 'hello', v: PROTOCOL_VERSION, replica: this.replica, encoding: 'json' };
    if (token !== undefined && token !== null) hello.token = token;
    // The cursor says "everything up to here, for every subscription": send it
    // only if each subscription was complete at that cursor, otherwise the
    // node would skip what a new subscription never had.
    const targets = [...this._subs.keys()];
    if (this._cursor && targets.length > 0 && targets.every((t) => this._synced.has(t))) hello.cursor = this._cursor;
    this._send(conn, hello);
  }

  _send(conn, msg) {
    try {
      conn.ws.send(JSON.stringify(msg));
      return true;
    } catch (e) {
      // The socket is closing; its close event will reconnect and resend.
      return false;
    }
  }

  _sendSub(conn, target, sub) {
    const id = this._nextId++;
    conn.subs.set(id, target);
    // fresh (understood by node/ws_conn.go, not yet in docs/protocol.md)
    // tells the node this replica holds nothing the cursor vouches for, so it
    // must answer with a snapshot, never a catch-up. Nodes that do not know
    // the field ignore it, and hello then carries no cursor anyway unless
    // every subscription was synced.
    const msg = { t: 'sub', id, ...sub };
    if (!this._synced.has(target)) msg.fresh = true;
    // A snapshot cut off with the last connection continues where its last
    // page said, when the node supports it (docs/protocol.md, "Resumable
    // snapshots").
    const features = (conn.welcome && conn.welcome.features) || [];
    if (this._resume.has(target) && features.includes('snapshot_resume')) msg.resume = this._resume.get(target);
    this._send(conn, msg);
    this._persist(); // nextId moved
  }

  _sendDelta(conn, p) {
    p.conn = conn;
    this._send(conn, { t: 'delta', id: p.id, key: p.key, delta: p.delta.toWire() });
    if (this._hooks.afterSend) this._hooks.afterSend(p.id, this);
  }

  _onMessage(conn, data) {
    if (this._conn !== conn) return;
    conn.lastHeard = Date.now();
    if (typeof data !== 'string') {
      this._emitError('bad_message', 'a binary frame arrived, but this client asked for JSON');
      return;
    }
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (e) {
      this._emitError('bad_json', `the node sent a frame that is not JSON: ${e.message}`);
      return;
    }
    try {
      this._handle(conn, msg);
    } catch (e) {
      const code = e instanceof CrdtError ? 'invalid_delta' : 'bad_message';
      this._emitError(code, `handling ${msg && msg.t} from ${conn.url}: ${e.message}`, { cause: e });
    }
  }

  _handle(conn, msg) {
    if (this._hooks.onMessage) this._hooks.onMessage(msg, this);
    switch (msg.t) {
      case 'welcome':
        this._onWelcome(conn, msg);
        return;
      case 'snapshot': {
        for (const o of msg.objects || []) this._joinRemote(o.key, o.state);
        const target = conn.subs.get(msg.sub);
        if (target && msg.done) this._resume.delete(target);
        else if (target && msg.resume) this._resume.set(target, msg.resume);
        if (msg.done) {
          if (target) this._synced.add(target);
          if (msg.cursor) this._cursor = msg.cursor;
        }
        this._persist();
        return;
      }
      case 'catchup': {
        const target = conn.subs.get(msg.sub);
        if (target) this._synced.add(target);
        if (msg.cursor) this._cursor = msg.cursor;
        this._persist();
        return;
      }
      case 'delta':
        this._joinRemote(msg.key, msg.delta);
        if (msg.cursor) this._cursor = msg.cursor;
        this._persist();
        return;
      case 'resync': {
        // Deltas for this subscription were dropped; until the snapshot that
        // follows is complete, the cursor does not cover it.
        const target = conn.subs.get(msg.sub);
        if (target) this._synced.delete(target);
        this._persist();
        return;
      }
      case 'ack': {
        if (this._hooks.ignoreAck && this._hooks.ignoreAck(msg.id, this)) return;
        const i = this._pending.findIndex((p) => p.id === msg.id && p.conn === conn);
        if (i >= 0) {
          this._pending.splice(i, 1);
          this._persist();
        }
        return;
      }
      case 'error':
        this._onError(conn, msg);
        return;
      case 'pong':
        return;
      case 'presence':
        this._onPresence(msg);
        return;
      case 'presence_set':
        this._onPresenceSet(conn, msg);
        return;
      default:
        // Unknown message types are ignored, as unknown fields are: a later
        // minor version may add them.
        return;
    }
  }

  _onWelcome(conn, msg) {
    clearTimeout(conn.timer);
    // A replica belongs to the cluster it first synced with: the nodes of
    // another (a new demo, another deployment) never saw its state, and it
    // must neither show theirs as its own nor send them its own. Refuse,
    // and try the next URL; use another store for the other cluster.
    if (msg.cluster && this.cluster && msg.cluster !== this.cluster) {
      this._emitError('wrong_cluster', `${conn.url} is in cluster ${msg.cluster}; this replica synced with cluster ${this.cluster}: use another store for it`);
      this._drop(4000, 'wrong cluster');
      this._failed(conn);
      return;
    }
    if (msg.cluster && !this.cluster) {
      this.cluster = msg.cluster;
      this._persist();
    }
    conn.welcome = msg;
    this._attempt = 0;
    this._setStatus('online');
    // Subscriptions are per connection, so every connection makes them anew;
    // then everything unacknowledged goes again (resending is harmless).
    for (const [target, sub] of this._subs) this._sendSub(conn, target, sub);
    for (const p of this._pending) this._sendDelta(conn, p);
    for (const [key, state] of this._presence) this._send(conn, { t: 'presence', key, state });
    this._startPing(conn);
  }

  _onError(conn, msg) {
    const extra = { id: msg.id };
    const p = msg.id !== undefined ? this._pending.find((x) => x.id === msg.id) : undefined;
    if (p) {
      extra.key = p.key;
      if (FATAL_DELTA_CODES.has(msg.code)) {
        // The node will refuse this delta every time; keeping it would
        // block nothing but would be resent forever. The local replica keeps
        // the change: a CRDT edit cannot be taken back, only the app can
        // decide what to do (the error says which key).
        this._pending.splice(this._pending.indexOf(p), 1);
        this._persist();
      } else if (p.conn === conn) {
        // rate_limited, internal, unavailable, unseen_dots: the same delta may succeed
        // later; resend it after a pause if the connection is still up.
        setTimeout(() => {
          if (this._conn === conn && conn.welcome && this._pending.includes(p)) this._sendDelta(conn, p);
        }, 1000);
      }
    }
    const target = msg.id !== undefined ? conn.subs.get(msg.id) : undefined;
    if (target) extra.subscription = target.slice(2);
    this._emitError(msg.code || 'error', msg.message || 'the node refused a message', extra);
  }

  _joinRemote(key, state) {
    if (typeof key !== 'string') throw new Error('a message without a key');
    const d = CrdtObject.fromJSON(state);
    const had = this._objects.get(key);
    const obj = had || new CrdtObject();
    const before = had ? JSON.stringify(obj.value()) : undefined;
    const snap = snapshotTexts(obj);
    const lsnap = snapshotLists(obj);
    obj.join(d);
    if (!had) this._objects.set(key, obj);
    // Hybrid clock: move past every timestamp we receive, so our later
    // writes rank after what we have seen even if our wall clock is behind.
    const ts = d.maxTimestamp();
    if (ts.wall > 0) this._clock.update(Date.now(), ts);
    this._changed(key, obj, before, 'remote', snap, undefined, lsnap);
  }

  _startPing(conn) {
    clearInterval(this._pingTimer);
    if (!this.pingInterval) return;
    this._pingTimer = setInterval(() => {
      if (this._conn !== conn) return clearInterval(this._pingTimer);
      // Silence for two intervals means a half-open connection (a laptop
      // that slept, a NAT that forgot us): drop it and reconnect.
      if (Date.now() - conn.lastHeard > 2 * this.pingInterval) {
        this._drop(4000, 'no answer to ping');
        this._failed(conn);
        return;
      }
      this._send(conn, { t: 'ping', id: this._nextId++ });
    }, this.pingInterval);
    if (typeof this._pingTimer.unref === 'function') this._pingTimer.unref();
  }

  // _onPresence takes one presence change. Each message says, as ttl (ms),
  // how long to keep the state if nothing confirms it; the node confirms
  // what we hold with a presence_set well within that.
  _onPresence(msg) {
    if (typeof msg.key !== 'string' || typeof msg.conn !== 'string') return;
    if (msg.state === null || msg.state === undefined) this._forgetPresence(msg.key, msg.conn);
    else this._setPresenceOf(msg.key, msg, msg.ttl, true);
  }

  // _onPresenceSet takes every state under one subscription, in pages; when
  // the last is in, what we held under it that no page named is gone (a
  // change the node could not send us in time, or one nobody confirmed).
  _onPresenceSet(conn, msg) {
    const target = conn.subs.get(msg.sub);
    if (!target || !Array.isArray(msg.states)) return;
    if (!conn.presenceSets) conn.presenceSets = new Map(); // sub -> Map(key -> Set(conn)) named so far
    let named = conn.presenceSets.get(msg.sub);
    if (!named) conn.presenceSets.set(msg.sub, (named = new Map()));
    for (const p of msg.states) {
      if (!p || typeof p.key !== 'string' || typeof p.conn !== 'string' || !p.state) continue;
      this._setPresenceOf(p.key, p, msg.ttl, false);
      if (!named.has(p.key)) named.set(p.key, new Set());
      named.get(p.key).add(p.conn);
    }
    if (!msg.done) return;
    conn.presenceSets.delete(msg.sub);
    const covers = (key) => (target.startsWith('p:') ? key.startsWith(target.slice(2)) : key === target.slice(2));
    for (const [key, m] of [...this._others]) {
      if (!covers(key)) continue;
      for (const c of [...m.keys()]) if (!(named.get(key) && named.get(key).has(c))) this._forgetPresence(key, c);
    }
  }

  // _setPresenceOf stores another connection's state on key and tells the
  // listeners: always for a presence change, only if it differs for a
  // confirmation.
  _setPresenceOf(key, p, ttl, always) {
    let m = this._others.get(key);
    if (!m) this._others.set(key, (m = new Map()));
    const had = m.get(p.conn);
    const deadline = typeof ttl === 'number' && ttl > 0 ? Date.now() + ttl : Infinity;
    m.set(p.conn, { conn: p.conn, replica: p.replica, state: p.state, deadline });
    if (deadline !== Infinity) this._startPresenceSweep(ttl);
    if (always || !had || had.replica !== p.replica || JSON.stringify(had.state) !== JSON.stringify(p.state)) {
      this._emit('presence', { key, conn: p.conn, replica: p.replica, state: p.state });
    }
  }

  _forgetPresence(key, conn) {
    const m = this._others.get(key);
    const had = m && m.get(conn);
    if (!had) return;
    m.delete(conn);
    if (m.size === 0) this._others.delete(key);
    this._emit('presence', { key, conn, replica: had.replica, state: null });
  }

  // _expirePresence forgets the states whose ttl ran out at now (ms) with
  // nothing confirming them: the node that said them may be gone, or what
  // it said may have been lost.
  _expirePresence(now = Date.now()) {
    for (const [key, m] of [...this._others]) {
      for (const p of [...m.values()]) if (p.deadline < now) this._forgetPresence(key, p.conn);
    }
    if (this._others.size === 0) this._stopPresenceSweep();
  }

  _startPresenceSweep(ttl) {
    if (this._presenceSweep) return;
    this._presenceSweep = setInterval(() => this._expirePresence(), Math.max(1000, ttl / 4));
    if (typeof this._presenceSweep.unref === 'function') this._presenceSweep.unref();
  }

  _stopPresenceSweep() {
    clearInterval(this._presenceSweep);
    this._presenceSweep = null;
  }

  // _forgetOthers drops what the last connection said of others' presence:
  // the next one's subscriptions tell it afresh.
  _forgetOthers() {
    const gone = [];
    for (const [key, m] of this._others) for (const p of m.values()) gone.push({ key, conn: p.conn, replica: p.replica, state: null });
    this._others.clear();
    this._stopPresenceSweep();
    for (const ev of gone) this._emit('presence', ev);
  }

  _onClose(conn, ev) {
    if (this._conn !== conn) return; // a connection we already dropped
    this._forgetOthers();
    const reason = CLOSE_REASONS[ev.code];
    if (reason) this._emitError(reason, `${conn.url} closed the connection: ${ev.code} ${ev.reason || reason}`, { closeCode: ev.code });
    this._conn = null;
    // A session whose token expired (4004) reconnects at once, to the same
    // node, and _hello asks the token function for a fresh token; the cursor
    // resumes where it stopped. Only after a session that was welcomed: a
    // function that keeps returning an expired token backs off like any
    // failure instead of hammering the node.
    if (ev.code === 4004 && conn.welcome && typeof this.token === 'function' && !this._closed && !this._offline) {
      clearTimeout(conn.timer);
      clearInterval(this._pingTimer);
      this._setStatus('offline');
      this._connect();
      return;
    }
    this._failed(conn);
  }

  // _drop closes the current connection without waiting for its close event:
  // from here on nothing it says is heard (so an ack in flight is lost, which
  // is exactly the case resending exists for).
  _drop(code, reason) {
    const conn = this._conn;
    if (!conn) return;
    this._conn = null;
    this._forgetOthers();
    clearTimeout(conn.timer);
    clearInterval(this._pingTimer);
    try {
      conn.ws.close(code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, reason);
    } catch {
      // already closed
    }
  }

  // _failed schedules the next attempt: on the next URL (the node we were on
  // may be the one that is down), after a jittered exponential backoff.
  _failed(conn) {
    if (conn) {
      clearTimeout(conn.timer);
      clearInterval(this._pingTimer);
    }
    if (this._closed || this._offline) {
      this._setStatus('offline');
      return;
    }
    this._urlIndex = (this._urlIndex + 1) % this.urls.length;
    const b = this.backoff;
    const base = Math.min(b.max, b.initial * b.factor ** this._attempt);
    const delay = base * (1 - b.jitter) + Math.random() * base * b.jitter;
    this._attempt++;
    this._setStatus('offline');
    this._stopRetry();
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      this._connect();
    }, delay);
  }

  _retryNow() {
    this._stopRetry();
    this._connect();
  }

  _stopRetry() {
    if (this._retryTimer) clearTimeout(this._retryTimer);
    this._retryTimer = null;
  }
}
