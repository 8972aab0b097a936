// Binds a textarea to a collaborative text (a Fugue sequence, see
// docs/crdt.md): typing becomes insert and delete ops, changes from other
// tabs arrive as edits that keep the caret where the person left it, and
// the caret is published as presence, which the other tabs show beside the
// same field. Positions on the wire are code points; the textarea counts
// UTF-16 units, and the client converts.
import { codePointIndex as cpIndex, utf16Index as u16Index } from '/js/lattice.js';
import { h, replace } from './dom.js';

const isLow = (s, i) => i > 0 && i < s.length && s.charCodeAt(i) >= 0xdc00 && s.charCodeAt(i) <= 0xdfff;

// diff finds the one changed region between two strings: a common prefix
// and suffix, never splitting a surrogate pair.
function diff(a, b) {
  let p = 0;
  const max = Math.min(a.length, b.length);
  while (p < max && a.charCodeAt(p) === b.charCodeAt(p)) p++;
  if (isLow(a, p) || isLow(b, p)) p--;
  let s = 0;
  while (s < max - p && a.charCodeAt(a.length - 1 - s) === b.charCodeAt(b.length - 1 - s)) s++;
  if (isLow(a, a.length - s) || isLow(b, b.length - s)) s--;
  return { at: p, del: a.length - p - s, ins: b.slice(p, b.length - s) };
}

// moveThrough maps a UTF-16 position through one edit.
function moveThrough(pos, e) {
  if (pos <= e.index16) return pos;
  if (pos >= e.index16 + e.delete16) return pos - e.delete16 + e.insert.length;
  return e.index16 + e.insert.length;
}

// safeColor passes on another tab's colour only if it is one: presence is
// another client's data, and a string such as "red; background: url(…)"
// would add declarations of its choosing to the page.
function safeColor(c) {
  return typeof c === 'string' && /^(#[0-9a-fA-F]{3,8}|hsl\(\d{1,3}(\.\d+)?(deg)? \d{1,3}(\.\d+)?% \d{1,3}(\.\d+)?%\))$/.test(c) ? c : '#666';
}

// colorOf gives every replica its own hue.
export function colorOf(replica) {
  let x = 0;
  for (const ch of String(replica)) x = (x * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${x % 360} 70% 42%)`;
}

export function nameOf(replica) {
  return 'Tab ' + String(replica).slice(0, 4);
}

export class TextBinding {
  // opts: client() returns the client; key and path name the text;
  // presenceKey is the key presence is published on, and tag (a card id, or
  // null) says which field of it a cursor is in.
  constructor(el, cursorsEl, opts) {
    this.el = el;
    this.cursorsEl = cursorsEl;
    this.opts = opts;
    this.last = el.value;
    this.timer = null;
    el.addEventListener('input', () => this.onInput());
    for (const ev of ['select', 'keyup', 'mouseup', 'focus']) el.addEventListener(ev, () => this.publishSoon());
    el.addEventListener('blur', () => this.publishSoon());
  }

  get client() {
    return this.opts.client();
  }

  // onInput turns what the person just did into a delete and an insert.
  onInput() {
    const c = this.client;
    if (!c) return;
    const { at, del, ins } = diff(this.last, this.el.value);
    const { key, path } = this.opts;
    try {
      if (del > 0) c.deleteText(key, at, del, { path, index16: true });
      if (ins) c.insertText(key, at, ins, { path, index16: true });
    } catch (err) {
      // The text moved under the field (it should not): show the truth.
      this.el.value = c.text(key, path);
    }
    this.last = this.el.value;
    this.publishSoon();
  }

  // sync shows text, which the client now holds. edits, when the change
  // event had them, are applied so that the caret keeps its place.
  sync(text, edits) {
    const el = this.el;
    if (el.value === text) {
      this.last = text;
      return;
    }
    let start = el.selectionStart;
    let end = el.selectionEnd;
    let value = el.value;
    if (edits && value === this.last) {
      for (const e of edits) {
        value = value.slice(0, e.index16) + e.insert + value.slice(e.index16 + e.delete16);
        start = moveThrough(start, e);
        end = moveThrough(end, e);
      }
    }
    if (value !== text) {
      // Without usable edits, keep the caret at the same code point.
      const cs = cpIndex(el.value, start);
      const ce = cpIndex(el.value, end);
      value = text;
      start = u16Index(text, cs);
      end = u16Index(text, ce);
    }
    el.value = value;
    this.last = value;
    if (document.activeElement === el) el.setSelectionRange(start, end);
  }

  publishSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.publish(), 40);
  }

  // publish tells the other tabs where this tab's caret is, as anchors
  // (characters), which stay right while others type before them.
  publish() {
    const c = this.client;
    if (!c) return;
    const { key, path, presenceKey, tag } = this.opts;
    const focused = document.activeElement === this.el;
    if (!focused) {
      if (this.published) c.setPresence(presenceKey, { name: nameOf(c.replica), color: colorOf(c.replica), tag: null });
      this.published = false;
      return;
    }
    const v = this.el.value;
    c.setPresence(presenceKey, {
      name: nameOf(c.replica),
      color: colorOf(c.replica),
      tag,
      anchor: c.anchor(key, cpIndex(v, this.el.selectionStart), path),
      head: c.anchor(key, cpIndex(v, this.el.selectionEnd), path),
    });
    this.published = true;
  }

  // showCursors lists the other tabs whose caret is in this field, with a
  // few characters around it.
  showCursors() {
    const c = this.client;
    if (!c || !this.cursorsEl) return;
    const { key, path, presenceKey, tag } = this.opts;
    const text = c.text(key, path);
    const cps = Array.from(text);
    const chips = [];
    for (const p of c.presence(presenceKey)) {
      const s = p.state || {};
      if (s.tag !== tag || !('anchor' in s)) continue;
      const at = c.anchorIndex(key, s.anchor, path);
      const before = cps.slice(Math.max(0, at - 8), at).join('');
      const after = cps.slice(at, at + 8).join('');
      chips.push(h('span', { class: 'cursor-chip', style: `--c: ${safeColor(s.color)}`, dataset: { replica: p.replica, at: String(at) } },
        h('b', {}, s.name || 'Someone'), ` at ${at}: …${before}`, h('span', { class: 'caret', 'aria-hidden': 'true' }), `${after}…`));
    }
    replace(this.cursorsEl, ...chips);
    this.cursorsEl.hidden = chips.length === 0;
  }
}
