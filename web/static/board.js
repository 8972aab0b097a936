// The board: a title (lww register), cards (a map of maps, one field of
// every type) and a shared note (multi-value register). It renders from the
// client's local replica on every change and writes through client.apply,
// so it works the same online and offline.
import { h, setText, setValue, toast } from './dom.js';

export const PREFIX = 'demo/board/';
export const KEYS = {
  title: PREFIX + 'title', // lww: the board's name
  cards: PREFIX + 'cards', // map: card id -> {text: lww, votes: counter, tags: set, done: flag}
  notes: PREFIX + 'notes', // mvreg: keeps every concurrent value until someone picks one
};

// newCardID sorts by creation time, so cards keep their order on every
// replica without a separate ordering field.
function newCardID() {
  const rand = Math.random().toString(36).slice(2, 6).padEnd(4, '0');
  return 'c' + Date.now().toString(36).padStart(9, '0') + rand;
}

export class Board {
  constructor(root) {
    this.client = null;
    this.cardEls = new Map(); // card id -> {el, fields...}
    this.title = root.querySelector('#title');
    this.list = root.querySelector('#cards');
    this.empty = root.querySelector('#cards-empty');
    this.count = root.querySelector('#cards-count');
    this.notes = root.querySelector('#notes');
    this.notesConflict = root.querySelector('#notes-conflict');
    this.addForm = root.querySelector('#add-card');

    this.title.addEventListener('change', () => {
      this.apply(KEYS.title, { type: 'lww', op: 'set', value: this.title.value.trim() });
    });
    this.title.addEventListener('keydown', (e) => { if (e.key === 'Enter') this.title.blur(); });

    this.addForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const input = this.addForm.elements.text;
      const text = input.value.trim();
      if (!text) return;
      this.apply(KEYS.cards, { type: 'lww', op: 'set', path: [newCardID(), 'text'], value: text });
      input.value = '';
    });

    this.notes.addEventListener('change', () => {
      this.apply(KEYS.notes, { type: 'mvreg', op: 'set', value: this.notes.value });
    });
  }

  setClient(client) {
    this.client = client;
    this.render();
  }

  apply(key, op) {
    if (!this.client) return;
    try {
      const r = this.client.apply(key, op);
      if (r && typeof r.catch === 'function') r.catch((err) => toast(String(err.message || err), 'error'));
    } catch (err) {
      toast(String(err.message || err), 'error');
    }
    this.render();
  }

  get(key) {
    try {
      return this.client ? this.client.get(key) : undefined;
    } catch {
      return undefined;
    }
  }

  render() {
    const title = this.get(KEYS.title);
    setValue(this.title, typeof title === 'string' ? title : title == null ? '' : String(title));
    document.title = (title ? title + ' · ' : '') + 'Lattice demo';
    this.renderCards();
    this.renderNotes();
  }

  renderCards() {
    const cards = this.get(KEYS.cards);
    const map = cards && typeof cards === 'object' && !Array.isArray(cards) ? cards : {};
    const ids = Object.keys(map).sort();
    for (const [id, c] of this.cardEls) {
      if (!(id in map)) {
        c.el.remove();
        this.cardEls.delete(id);
      }
    }
    let prev = null;
    for (const id of ids) {
      let c = this.cardEls.get(id);
      if (!c) {
        c = this.makeCard(id);
        this.cardEls.set(id, c);
      }
      this.updateCard(c, map[id] || {});
      // Keep DOM order equal to id order, moving as little as possible.
      const want = prev ? prev.nextSibling : this.list.firstChild;
      if (want !== c.el) this.list.insertBefore(c.el, want);
      prev = c.el;
    }
    this.empty.hidden = ids.length > 0;
    const done = ids.filter((id) => map[id] && map[id].done === true).length;
    setText(this.count, ids.length ? `${ids.length} card${ids.length === 1 ? '' : 's'} · ${done} done` : '');
  }

  makeCard(id) {
    const cardOp = (op) => this.apply(KEYS.cards, op);
    const c = { id };
    c.text = h('textarea', {
      class: 'card-text', rows: 2, placeholder: 'Untitled card', 'aria-label': 'Card text',
      onchange: () => cardOp({ type: 'lww', op: 'set', path: [id, 'text'], value: c.text.value.trim() }),
      onkeydown: (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); c.text.blur(); } },
    });
    c.done = h('input', {
      type: 'checkbox', class: 'card-done',
      onchange: () => cardOp({ type: 'flag', op: c.done.checked ? 'enable' : 'disable', path: [id, 'done'] }),
    });
    c.votes = h('output', { class: 'votes-count', 'aria-live': 'polite' }, '0');
    c.tags = h('ul', { class: 'tags', 'aria-label': 'Tags' });
    c.tagInput = h('input', {
      class: 'tag-input', type: 'text', placeholder: 'Add tag', maxlength: 40, 'aria-label': 'Add a tag',
      onkeydown: (e) => {
        if (e.key !== 'Enter') return;
        e.preventDefault();
        const v = c.tagInput.value.trim();
        if (v) cardOp({ type: 'set', op: 'add', path: [id, 'tags'], value: v });
        c.tagInput.value = '';
      },
    });
    c.partial = h('p', { class: 'card-partial', hidden: true },
      'Deleted on another replica while this one edited it: the edit kept the card, with only the fields edited since ',
      '(a map forgets only the entries the delete saw). Give it a text, or delete it again.');
    c.el = h('li', { class: 'card', dataset: { id } },
      h('div', { class: 'card-top' },
        h('label', { class: 'check', title: 'Done (an enable-wins flag)' }, c.done, h('span', { class: 'visually-hidden' }, 'Done')),
        c.text,
        h('button', {
          type: 'button', class: 'icon-button danger', 'aria-label': 'Delete card', title: 'Delete card (removes the map entry)',
          onclick: () => cardOp({ type: 'map', op: 'delete', path: [id] }),
        }, '✕'),
      ),
      h('div', { class: 'card-bottom' },
        h('div', { class: 'tag-row' }, c.tags, c.tagInput),
        h('div', { class: 'votes', role: 'group', 'aria-label': 'Votes (a counter)' },
          h('button', {
            type: 'button', class: 'vote', dataset: { action: 'down' }, 'aria-label': 'Vote down',
            onclick: () => cardOp({ type: 'counter', op: 'dec', by: 1, path: [id, 'votes'] }),
          }, '−'),
          c.votes,
          h('button', {
            type: 'button', class: 'vote', dataset: { action: 'up' }, 'aria-label': 'Vote up',
            onclick: () => cardOp({ type: 'counter', op: 'inc', by: 1, path: [id, 'votes'] }),
          }, '+'),
        ),
      ),
      c.partial,
    );
    return c;
  }

  updateCard(c, card) {
    setValue(c.text, typeof card.text === 'string' ? card.text : '');
    const done = card.done === true;
    if (c.done.checked !== done) c.done.checked = done;
    c.el.classList.toggle('is-done', done);
    // A card deleted on one replica while another edited it comes back with
    // only the edited fields (the map is observed-remove): say so.
    const partial = typeof card.text !== 'string';
    c.el.classList.toggle('is-partial', partial);
    c.partial.hidden = !partial;
    const votes = typeof card.votes === 'number' ? card.votes : 0;
    setText(c.votes, votes);
    c.votes.classList.toggle('negative', votes < 0);
    const tags = Array.isArray(card.tags) ? card.tags.map(String) : [];
    const have = [...c.tags.children].map((li) => li.dataset.tag);
    if (have.join('\u0000') !== tags.join('\u0000')) {
      c.tags.replaceChildren(...tags.map((t) => h('li', { class: 'tag', dataset: { tag: t } },
        h('span', {}, t),
        h('button', {
          type: 'button', class: 'tag-remove', 'aria-label': `Remove tag ${t}`,
          onclick: () => this.apply(KEYS.cards, { type: 'set', op: 'remove', path: [c.id, 'tags'], value: t }),
        }, '×'))));
    }
  }

  renderNotes() {
    const v = this.get(KEYS.notes);
    const values = Array.isArray(v) ? v.map(String) : v == null ? [] : [String(v)];
    if (values.length <= 1) {
      this.notesConflict.hidden = true;
      this.notesConflict.replaceChildren();
      setValue(this.notes, values[0] ?? '');
      return;
    }
    // Concurrent writes: a multi-value register keeps them all. Show each
    // and let the person pick; writing one supersedes every value seen.
    setValue(this.notes, values[0]);
    const key = values.join('\u0000');
    if (this.notesConflict.dataset.key === key) return;
    this.notesConflict.dataset.key = key;
    this.notesConflict.hidden = false;
    this.notesConflict.replaceChildren(
      h('p', {}, h('strong', {}, `${values.length} concurrent versions.`),
        ' Two replicas wrote the note without seeing each other, so the register keeps both. Pick one to resolve:'),
      h('ul', {}, values.map((val) => h('li', {},
        h('blockquote', {}, val || h('em', {}, '(empty)')),
        h('button', {
          type: 'button', class: 'button small',
          onclick: () => this.apply(KEYS.notes, { type: 'mvreg', op: 'set', value: val }),
        }, 'Keep this one')))),
    );
  }

  // snapshot is what the board shows, for tests and the copy in the footer:
  // the same text on every converged tab.
  snapshot() {
    const cards = [...this.list.querySelectorAll('.card')].map((el) => {
      const c = this.cardEls.get(el.dataset.id);
      return {
        id: c.id,
        text: c.text.value,
        votes: Number(c.votes.textContent),
        tags: [...c.tags.children].map((li) => li.dataset.tag),
        done: c.done.checked,
      };
    });
    const notes = this.notesConflict.hidden ? [this.notes.value]
      : [...this.notesConflict.querySelectorAll('blockquote')].map((b) => b.textContent);
    return { title: this.title.value, cards, notes };
  }
}
