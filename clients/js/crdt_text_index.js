// crdt_text_index.js: TextIndex, a text's characters in Fugue order in
// counted chunks, for local edits (crdt/text_index.go).
//
// Part of the CRDT core; crdt.js is its entry point and describes how values
// are represented.

// TextIndex is one text's characters in Fugue order in chunks that count
// their live characters: what a local edit needs, in time proportional to
// the number of chunks. A CrdtObject keeps one per text it edits and updates
// it with its own edits; any other change drops it (crdt/text_index.go).
const CHUNK = 256;

export class TextIndex {
  constructor(f) {
    this.hasRight = f.hasRight;
    this.chunks = [];
    for (let i = 0; i < f.order.length; i += CHUNK) this.chunks.push(chunkOf(f.order.slice(i, i + CHUNK)));
  }

  visibleLen() {
    let n = 0;
    for (const ch of this.chunks) n += ch.live;
    return n;
  }

  // visible returns [chunk, offset] of the i-th live character.
  visible(i) {
    for (let ci = 0; ci < this.chunks.length; ci++) {
      const ch = this.chunks[ci];
      if (i >= ch.live) {
        i -= ch.live;
        continue;
      }
      for (let off = 0; off < ch.cs.length; off++) {
        if (ch.cs[off].live && i-- === 0) return [ci, off];
      }
    }
    throw new Error('text index: visible index out of range');
  }

  at([ci, off]) {
    return this.chunks[ci].cs[off];
  }

  // offset16 is the UTF-16 length of the first i live characters.
  offset16(i) {
    let u = 0;
    for (const ch of this.chunks) {
      for (const c of ch.cs) {
        if (!c.live) continue;
        if (i-- === 0) return u;
        u += c.c.length;
      }
    }
    return u;
  }

  // next is the place after p ([-1, -1]: before the start), or null.
  next([ci, off]) {
    if (ci < 0) {
      ci = 0;
      off = -1;
    }
    for (; ci < this.chunks.length; ci++, off = -1) {
      if (off + 1 < this.chunks[ci].cs.length) return [ci, off + 1];
    }
    return null;
  }

  insertAfter([ci, off], cs) {
    if (this.chunks.length === 0) {
      for (let i = 0; i < cs.length; i += CHUNK) this.chunks.push(chunkOf(cs.slice(i, i + CHUNK)));
      return;
    }
    if (ci < 0) {
      ci = 0;
      off = -1;
    }
    const ch = this.chunks[ci];
    const merged = [...ch.cs.slice(0, off + 1), ...cs, ...ch.cs.slice(off + 1)];
    const parts = merged.length > CHUNK ? Math.ceil(merged.length / (CHUNK / 2)) : 1;
    const size = Math.ceil(merged.length / parts);
    const repl = [];
    for (let i = 0; i < merged.length; i += size) repl.push(chunkOf(merged.slice(i, i + size)));
    this.chunks.splice(ci, 1, ...repl);
  }

  kill([ci, off]) {
    const ch = this.chunks[ci];
    const c = ch.cs[off];
    if (c.live) {
      ch.cs[off] = { ...c, live: false, c: '' };
      ch.live--;
    }
  }
}

function chunkOf(cs) {
  let live = 0;
  for (const c of cs) if (c.live) live++;
  return { cs, live };
}
