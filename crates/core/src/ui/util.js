// Shared by the page's modules: the key, API calls, and building DOM
// nodes. Text always goes in as text nodes, never as HTML.

const KEY = 'latticelm.key';

/** The key or token the user saved for this tab, or ''. */
export const apiKey = () => sessionStorage.getItem(KEY) || '';

/** Saves (or, with '', forgets) the key for this tab. */
export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
  window.dispatchEvent(new CustomEvent('latticelm:key'));
}

/** fetch() against this gateway, with the key when there is one. */
export function api(path, init = {}) {
  const headers = new Headers(init.headers || {});
  const key = apiKey();
  if (key) headers.set('authorization', `Bearer ${key}`);
  return fetch(path, { ...init, headers, credentials: 'omit', cache: 'no-store' });
}

/** Asks the user for a key, saying why. */
export function needKey(reason) {
  window.dispatchEvent(new CustomEvent('latticelm:auth', { detail: reason }));
}

/**
 * An element: `props` sets attributes (`class`, `text` for textContent,
 * `on…` for listeners); children are nodes or strings (as text).
 */
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  e.append(...children.filter((c) => c != null && c !== false));
  return e;
}

/** The message of an error envelope (any protocol's), or a fallback. */
export function errorText(body, status) {
  const e = body && (body.error || body);
  const msg = (e && (e.message || e.code)) || `HTTP ${status}`;
  const code = e && e.code ? ` (${e.code})` : '';
  return `${status}: ${msg}${code}`;
}

/** 1234 → "1,234"; null → "–". */
export const num = (n) => (n == null || Number.isNaN(n) ? '–' : Math.round(n).toLocaleString('en-US'));

/** Seconds → "12 ms" / "1.24 s". */
export function duration(secs) {
  if (secs == null || Number.isNaN(secs)) return '–';
  return secs < 1 ? `${Math.round(secs * 1000)} ms` : `${secs.toFixed(2)} s`;
}

/** USD, with enough digits for fractions of a cent. */
export function usd(v) {
  if (v == null || Number.isNaN(v)) return '–';
  if (v === 0) return '$0';
  return v >= 0.01 ? `$${v.toFixed(4)}` : `$${v.toPrecision(2)}`;
}
