// lattice_store.js: persistence. The stores a client keeps its replica in
// (memory, IndexedDB), and the Client methods that load its snapshot and save
// it, coalesced. A new replica id comes with every empty store.

import { Clock, CrdtObject } from './crdt.js';

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

// persistenceMethods join Client.prototype (lattice.js).
export const persistenceMethods = {
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
  },

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
  },

  // _persist schedules a save. Saves are coalesced: a burst of edits writes
  // once, and one save runs at a time so an older snapshot never lands last.
  _persist() {
    this._dirty = true;
    if (!this._saving) this._saving = this._saveLoop();
  },

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
  },
};
