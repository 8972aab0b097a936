// Tiny DOM helpers: the demo has no framework and no build step.

// h creates an element: h('button', {class: 'x', onclick: fn}, 'text', child).
// Attributes starting with "on" become listeners; false, null and undefined
// attributes and children are skipped.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === false || c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

// replace swaps el's children for the given ones.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// setText changes an element's text only when it differs, so live updates
// do not restart CSS transitions or disturb screen readers.
export function setText(el, text) {
  text = String(text);
  if (el.textContent !== text) el.textContent = text;
}

// setValue updates a form field unless the person is typing in it: a live
// change from another tab must not overwrite text mid-edit.
export function setValue(el, value) {
  if (document.activeElement === el) return;
  if (el.value !== value) el.value = value;
}

// toast shows a short message in the page's live region.
let toastTimer;
export function toast(message, kind = 'info') {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}
