// The board: a title (lww register), cards (a map of maps, one field of
// every type, the card's text a collaborative text) and a shared note (a
// collaborative text). It renders from the client's local replica on every
// change and writes through the client, so it works the same online and
// offline; the texts show where the other tabs' carets are.
import { h, setText, setValue, toast } from './dom.js';
import { TextBinding } from './textedit.js';

export const PREFIX = 'demo/board/';
export const KEYS = {
  title: PREFIX + 'title', // lww: the board's name
  cards: PREFIX + 'cards', // map: card id -> {text: text, created: lww, votes: counter, tags: set, done: flag}
  note: PREFIX + 'note', // text: typed into by every tab at once
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
    this.note = root.querySelector('#note');
    this.noteBinding = new TextBinding(this.note, root.querySelector('#note-cursors'), {
      client: () => this.client, key: KEYS.note, path: [], presenceKey: KEYS.note, tag: null,
    });
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
      const id = newCardID();
      // created keeps the card when its text is emptied (an empty text is
      // no field at all).
      this.apply(KEYS.cards, { type: 'lww', op: 'set', path: [id, 'created'], value: Date.now() });
      this.apply(KEYS.cards, { type: 'text', op: 'insert', path: [id, 'text'], index: 0, value: text });
      input.value = '';
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

  // render redraws from the replica; ev, the change event that caused it
  // (if any), carries text edits that keep the carets in place.
  render(ev) {
    const title = this.get(KEYS.title);
    setValue(this.title, typeof title === 'string' ? title : title == null ? '' : String(title));
    document.title = (title ? title + ' · ' : '') + 'Lattice demo';
    this.renderCards(ev);
    const note = this.get(KEYS.note);
    this.noteBinding.sync(typeof note === 'string' ? note : '', editsOf(ev, KEYS.note, []));
    this.renderPresence();
  }

  // renderPresence shows the other tabs' carets beside the fields they are in.
  renderPresence() {
    this.noteBinding.showCursors();
    for (const c of this.cardEls.values()) c.binding.showCursors();
  }

  renderCards(ev) {
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
      this.updateCard(c, map[id] || {}, editsOf(ev, KEYS.cards, [id, 'text']));
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
      onkeydown: (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); c.text.blur(); } },
    });
    c.cursors = h('div', { class: 'cursors', hidden: true, 'aria-live': 'polite' });
    c.binding = new TextBinding(c.text, c.cursors, {
      client: () => this.client, key: KEYS.cards, path: [id, 'text'], presenceKey: KEYS.cards, tag: id,
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
      c.cursors,
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

  updateCard(c, card, edits) {
    c.binding.sync(typeof card.text === 'string' ? card.text : '', edits);
    const done = card.done === true;
    if (c.done.checked !== done) c.done.checked = done;
    c.el.classList.toggle('is-done', done);
    // A card deleted on one replica while another edited it comes back with
    // only the edited fields (the map is observed-remove): say so.
    const partial = !('created' in card);
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
    return { title: this.title.value, cards, notes: [this.note.value] };
  }
}

// editsOf picks, from a change event, the edits of the text at key and path.
function editsOf(ev, key, path) {
  if (!ev || ev.key !== key || !ev.text) return undefined;
  const want = path.join('\u0000');
  const ch = ev.text.find((t) => t.path.join('\u0000') === want);
  return ch ? ch.edits : undefined;
}
