// lattice_presence.js: presence, the ephemeral state of other clients on a
// key: announcements received, their time to live, and forgetting them when a
// connection or a client goes.

// presenceMethods join Client.prototype (lattice.js).
export const presenceMethods = {
  _onPresence(msg) {
    if (typeof msg.key !== 'string' || typeof msg.conn !== 'string') return;
    if (msg.state === null || msg.state === undefined) this._forgetPresence(msg.key, msg.conn);
    else this._setPresenceOf(msg.key, msg, msg.ttl, true);
  },

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
  },

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
  },

  _forgetPresence(key, conn) {
    const m = this._others.get(key);
    const had = m && m.get(conn);
    if (!had) return;
    m.delete(conn);
    if (m.size === 0) this._others.delete(key);
    this._emit('presence', { key, conn, replica: had.replica, state: null });
  },

  // _expirePresence forgets the states whose ttl ran out at now (ms) with
  // nothing confirming them: the node that said them may be gone, or what
  // it said may have been lost.
  _expirePresence(now = Date.now()) {
    for (const [key, m] of [...this._others]) {
      for (const p of [...m.values()]) if (p.deadline < now) this._forgetPresence(key, p.conn);
    }
    if (this._others.size === 0) this._stopPresenceSweep();
  },

  _startPresenceSweep(ttl) {
    if (this._presenceSweep) return;
    this._presenceSweep = setInterval(() => this._expirePresence(), Math.max(1000, ttl / 4));
    if (typeof this._presenceSweep.unref === 'function') this._presenceSweep.unref();
  },

  _stopPresenceSweep() {
    clearInterval(this._presenceSweep);
    this._presenceSweep = null;
  },

  // _forgetOthers drops what the last connection said of others' presence:
  // the next one's subscriptions tell it afresh.
  _forgetOthers() {
    const gone = [];
    for (const [key, m] of this._others) for (const p of m.values()) gone.push({ key, conn: p.conn, replica: p.replica, state: null });
    this._others.clear();
    this._stopPresenceSweep();
    for (const ev of gone) this._emit('presence', ev);
  },
};
