// lattice_reconnect.js: what a Client does when its connection closes or is
// dropped: the close reported as an error event, at once a fresh token after
// 4004 (token expired), otherwise the next attempt on the next node's URL
// after a jittered exponential backoff (DEFAULT_BACKOFF).

import { CLOSE_REASONS } from './lattice_protocol.js';

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

// reconnectMethods join Client.prototype (lattice.js).
export const reconnectMethods = {
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
  },

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
  },

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
  },

  _retryNow() {
    this._stopRetry();
    this._connect();
  },

  _stopRetry() {
    if (this._retryTimer) clearTimeout(this._retryTimer);
    this._retryTimer = null;
  },
};
