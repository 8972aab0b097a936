// lattice_connection.js: a Client's connection to a node: dialing, hello and
// welcome, subscriptions and deltas sent, incoming messages dispatched (acks,
// errors, snapshots and live deltas joined in), and pings.

import { CrdtError, CrdtObject, snapshotLists, snapshotTexts } from './crdt.js';
import { FATAL_DELTA_CODES, PROTOCOL_VERSION } from './lattice_protocol.js';

// connectionMethods join Client.prototype (lattice.js).
export const connectionMethods = {
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
  },

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
  },

  _send(conn, msg) {
    try {
      conn.ws.send(JSON.stringify(msg));
      return true;
    } catch (e) {
      // The socket is closing; its close event will reconnect and resend.
      return false;
    }
  },

  _sendSub(conn, target, sub) {
    const id = this._nextId++;
    conn.subs.set(id, target);
    // fresh (docs/protocol.md, "sub")
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
    // empty: this replica holds no object and no pending delta under the
    // target, so the node may leave folded counter writers out of the
    // first snapshot's context too (docs/protocol.md, "sub"). A copy that
    // held a raw entry of such a writer would count it twice. Only to a
    // node whose welcome lists empty_sub: an older one refuses the field.
    else if (msg.fresh && features.includes('empty_sub') && this._holdsNothing(target)) msg.empty = true;
    this._send(conn, msg);
    this._persist(); // nextId moved
  },

  _holdsNothing(target) {
    const under = (key) => (target.startsWith('p:') ? key.startsWith(target.slice(2)) : key === target.slice(2));
    for (const k of this._objects.keys()) if (under(k)) return false;
    return !this._pending.some((p) => under(p.key));
  },

  _sendDelta(conn, p) {
    p.conn = conn;
    this._send(conn, { t: 'delta', id: p.id, key: p.key, delta: p.delta.toWire() });
    if (this._hooks.afterSend) this._hooks.afterSend(p.id, this);
  },

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
  },

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
  },

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
  },

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
  },

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
  },

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
  },

  // _onPresence takes one presence change. Each message says, as ttl (ms),
  // how long to keep the state if nothing confirms it; the node confirms
  // what we hold with a presence_set well within that.
};
