// The admin page: runtime keys and teams through /v1/admin/ (list,
// create, edit limits and budgets, disable, rotate, delete) and each
// one's usage. It sends its own credential, an admin key or token kept in
// this tab's sessionStorage apart from the playground's key. A new
// secret is shown once, with a copy button and a way to try it in the
// playground.

import { el, errorText, num, setApiKey, usd } from './util.js';

const $ = (id) => document.getElementById(id);
const ADMIN_KEY = 'latticelm.adminKey';
const SVG = 'http://www.w3.org/2000/svg';

let wired = false;
let after = null;
/** The record the edit dialog changes: ['keys' | 'teams', id]. */
let editing = null;

function adminApi(path, init = {}) {
  const headers = new Headers(init.headers || {});
  const key = sessionStorage.getItem(ADMIN_KEY) || '';
  if (key) headers.set('authorization', `Bearer ${key}`);
  if (init.body) headers.set('content-type', 'application/json');
  return fetch(path, { ...init, headers, credentials: 'omit', cache: 'no-store' });
}

/** A call whose failure is shown in the note; resolves to the body or null. */
async function call(path, init) {
  let res;
  try {
    res = await adminApi(path, init);
  } catch (e) {
    note(`cannot reach the gateway: ${e.message}`);
    return null;
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const why = res.status === 401 || res.status === 403 ? ' Enter an admin credential above.' : '';
    note(errorText(body, res.status) + why);
    return null;
  }
  note('');
  return body;
}

function note(text) {
  $('admin-note').hidden = !text;
  $('admin-note').textContent = text;
}

/** Shows the admin page, wiring it once. */
export function startAdmin() {
  if (!wired) {
    wired = true;
    $('admin-key').value = sessionStorage.getItem(ADMIN_KEY) || '';
    $('admin-key-save').addEventListener('click', () => {
      sessionStorage.setItem(ADMIN_KEY, $('admin-key').value.trim());
      refresh();
    });
    $('k-create').addEventListener('click', createKey);
    $('t-create').addEventListener('click', createTeam);
    $('keys-more').addEventListener('click', () => loadKeys(false));
    $('copy-secret').addEventListener('click', copySecret);
    $('use-secret').addEventListener('click', () => {
      setApiKey($('new-secret').textContent);
      $('use-secret').textContent = 'The playground uses it';
    });
    $('hide-secret').addEventListener('click', () => {
      $('secret-box').hidden = true;
      $('new-secret').textContent = '';
    });
    $('edit-cancel').addEventListener('click', () => $('edit-dialog').close());
    $('edit-save').addEventListener('click', saveEdit);
  }
  refresh();
}

function refresh() {
  if (!sessionStorage.getItem(ADMIN_KEY)) {
    note('Enter an admin credential (a key of auth.admin_keys, or a token with auth.admin_claim) to manage keys.');
    return;
  }
  loadKeys(true);
  loadTeams();
}

const list = (text) => {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  return items.length ? items : undefined;
};
const int = (id) => ($(id).value ? Number($(id).value) : undefined);

/** Limits and budget from the inputs named `prefix-rpm` and so on. */
function limitsOf(prefix) {
  const out = {};
  const rpm = int(`${prefix}-rpm`);
  const tpm = int(`${prefix}-tpm`);
  if (rpm || tpm) out.limits = { requests_per_minute: rpm, tokens_per_minute: tpm };
  if ($(`${prefix}-budget`).value) out.budget = { usd: Number($(`${prefix}-budget`).value), period: $(`${prefix}-period`).value };
  return out;
}

async function createKey() {
  const body = { name: $('k-name').value.trim(), ...limitsOf('k') };
  if ($('k-team').value.trim()) body.team = $('k-team').value.trim();
  body.models = list($('k-models').value);
  const days = int('k-expires');
  if (days) body.expires_at = Math.floor(Date.now() / 1000) + days * 86400;
  const created = await call('/v1/admin/keys', { method: 'POST', body: JSON.stringify(body) });
  if (!created) return;
  showSecret(created, 'The new key’s secret.');
  for (const id of ['k-name', 'k-team', 'k-models', 'k-rpm', 'k-tpm', 'k-budget', 'k-expires']) $(id).value = '';
  loadKeys(true);
}

function showSecret(rec, title) {
  $('secret-title').textContent = `${title} (${rec.name}, ${rec.id})`;
  $('new-secret').textContent = rec.key;
  $('copy-secret').textContent = 'Copy';
  $('use-secret').textContent = 'Use in the playground';
  $('secret-box').hidden = false;
}

async function copySecret() {
  const secret = $('new-secret').textContent;
  try {
    await navigator.clipboard.writeText(secret);
    $('copy-secret').textContent = 'Copied';
  } catch {
    // No clipboard permission: select it for Ctrl+C.
    const range = document.createRange();
    range.selectNodeContents($('new-secret'));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    $('copy-secret').textContent = 'Selected: press Ctrl+C';
  }
}

async function createTeam() {
  const body = { name: $('t-name').value.trim(), models: list($('t-models').value), ...limitsOf('t') };
  if (await call('/v1/admin/teams', { method: 'POST', body: JSON.stringify(body) })) {
    for (const id of ['t-name', 't-models', 't-rpm', 't-tpm', 't-budget']) $(id).value = '';
    loadTeams();
  }
}

const limitsText = (l) => {
  if (!l) return '–';
  const parts = [];
  if (l.requests_per_minute) parts.push(`${num(l.requests_per_minute)} req/min`);
  if (l.tokens_per_minute) parts.push(`${num(l.tokens_per_minute)} tok/min`);
  if (l.concurrent) parts.push(`${l.concurrent} at once`);
  return parts.join(', ') || '–';
};
const budgetText = (b) => (b ? `${usd(b.usd)} ${b.period}` : '–');
const status = (r) => el('span', { class: `badge ${r.disabled ? 'open' : 'closed'}`, text: r.disabled ? 'disabled' : 'active' });
const action = (text, on, cls = 'ghost small') => el('button', { type: 'button', class: cls, text, onclick: on });

async function loadKeys(fromStart) {
  if (fromStart) after = null;
  const page = await call(`/v1/admin/keys?limit=50${after ? `&after=${encodeURIComponent(after)}` : ''}`);
  if (!page) return;
  const rows = page.data.map((k) => el('tr', { 'data-id': k.id },
    el('td', { text: k.name }),
    el('td', {}, el('code', { text: k.id })),
    el('td', { text: k.team || '–' }),
    el('td', { text: k.models ? k.models.join(', ') : k.team ? 'the team’s' : 'all' }),
    el('td', { text: limitsText(k.limits) }),
    el('td', { text: budgetText(k.budget) }),
    el('td', {}, status(k), k.rotating_until ? el('span', { class: 'muted small', text: ' rotating' }) : null),
    el('td', { class: 'actions' },
      action(k.disabled ? 'Enable' : 'Disable', () => patch('keys', k.id, { disabled: !k.disabled }), k.disabled ? 'small' : 'danger small'),
      action('Limits', () => openEdit('keys', k)),
      action('Rotate', () => rotate(k)),
      action('Usage', () => showUsage('key', k.id, k.name)),
      action('Delete', () => remove('keys', k.id, k.name)))));
  if (fromStart) $('keys').replaceChildren(...rows);
  else $('keys').append(...rows);
  after = page.last_id;
  $('keys-more').hidden = !page.has_more;
}

async function loadTeams() {
  const page = await call('/v1/admin/teams?limit=100');
  if (!page) return;
  $('team-names').replaceChildren(...page.data.map((t) => el('option', { value: t.name })));
  $('teams').replaceChildren(...page.data.map((t) => el('tr', { 'data-id': t.name },
    el('td', { text: t.name }),
    el('td', { text: t.models ? t.models.join(', ') : 'all' }),
    el('td', { text: limitsText(t.limits) }),
    el('td', { text: budgetText(t.budget) }),
    el('td', {}, status(t)),
    el('td', { class: 'actions' },
      action(t.disabled ? 'Enable' : 'Disable', () => patch('teams', t.name, { disabled: !t.disabled }), t.disabled ? 'small' : 'danger small'),
      action('Limits', () => openEdit('teams', t)),
      action('Usage', () => showUsage('team', t.name, t.name)),
      action('Delete', () => remove('teams', t.name, t.name))))));
}

async function patch(kind, id, body) {
  if (await call(`/v1/admin/${kind}/${encodeURIComponent(id)}`, { method: 'PATCH', body: JSON.stringify(body) })) {
    if (kind === 'keys') loadKeys(true);
    else loadTeams();
  }
}

async function rotate(k) {
  if (!confirm(`Rotate ${k.name}? The old secret keeps working for an hour.`)) return;
  const body = JSON.stringify({ grace_seconds: 3600 });
  const rotated = await call(`/v1/admin/keys/${encodeURIComponent(k.id)}/rotate`, { method: 'POST', body });
  if (rotated) {
    showSecret(rotated, 'The rotated key’s new secret.');
    loadKeys(true);
  }
}

async function remove(kind, id, name) {
  if (!confirm(`Delete ${name}? This cannot be undone.`)) return;
  if (await call(`/v1/admin/${kind}/${encodeURIComponent(id)}`, { method: 'DELETE' })) {
    if (kind === 'keys') loadKeys(true);
    else loadTeams();
  }
}

function openEdit(kind, rec) {
  editing = [kind, rec.id];
  $('edit-title').textContent = `Limits and budget of ${rec.name}`;
  $('e-rpm').value = rec.limits?.requests_per_minute ?? '';
  $('e-tpm').value = rec.limits?.tokens_per_minute ?? '';
  $('e-budget').value = rec.budget?.usd ?? '';
  $('e-period').value = rec.budget?.period ?? 'monthly';
  $('edit-error').hidden = true;
  $('edit-dialog').showModal();
}

async function saveEdit() {
  const [kind, id] = editing;
  const { limits = null, budget = null } = limitsOf('e');
  const res = await adminApi(`/v1/admin/${kind}/${encodeURIComponent(id)}`, { method: 'PATCH', body: JSON.stringify({ limits, budget }) });
  if (!res.ok) {
    $('edit-error').textContent = errorText(await res.json().catch(() => null), res.status);
    $('edit-error').hidden = false;
    return;
  }
  $('edit-dialog').close();
  if (kind === 'keys') loadKeys(true);
  else loadTeams();
}

/** The last day's usage of a key or team: totals, per model, and per hour. */
async function showUsage(kind, id, name) {
  const u = await call(`/v1/admin/usage?${kind}=${encodeURIComponent(id)}`);
  if (!u) return;
  $('usage-section').hidden = false;
  $('usage-section').dataset.of = id;
  $('usage-title').textContent = `Usage of ${kind} ${name}, last 24 hours`;
  $('usage-total').textContent = `${num(u.requests)} ${u.requests === 1 ? 'request' : 'requests'} · ${num(u.input_tokens)} in · ${num(u.output_tokens)} out · ${usd(u.cost_usd)}`;
  const hours = Array.from({ length: Math.round((u.to - u.from) / 3600) }, (_, i) => u.from + i * 3600);
  const by = new Map(u.hourly.map((h) => [h.start, h]));
  $('usage-charts').replaceChildren(
    bars('Requests per hour', hours.map((t) => by.get(t)?.requests || 0), 'requests'),
    bars('Cost per hour (USD)', hours.map((t) => by.get(t)?.cost_usd || 0), 'cost'));
  $('usage-models').replaceChildren(...Object.entries(u.by_model).map(([m, s]) => el('tr', {},
    el('td', { text: m }), el('td', { class: 'n', text: num(s.requests) }), el('td', { class: 'n', text: num(s.input_tokens) }),
    el('td', { class: 'n', text: num(s.output_tokens) }), el('td', { class: 'n', text: usd(s.cost_usd) }))));
}

/** A bar chart of `values` (oldest first), as SVG. */
function bars(title, values, name) {
  const w = 300;
  const h = 80;
  const max = Math.max(...values, 0) || 1;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const bw = w / values.length;
  values.forEach((v, i) => {
    if (!v) return;
    const r = document.createElementNS(SVG, 'rect');
    r.setAttribute('class', 'bar');
    const bh = Math.max((v / max) * (h - 4), 1);
    r.setAttribute('x', (i * bw + 1).toFixed(1));
    r.setAttribute('y', (h - bh).toFixed(1));
    r.setAttribute('width', (bw - 2).toFixed(1));
    r.setAttribute('height', bh.toFixed(1));
    const tip = document.createElementNS(SVG, 'title');
    tip.textContent = String(v);
    r.append(tip);
    svg.append(r);
  });
  return el('figure', { class: 'chart', 'data-chart': name }, el('figcaption', { class: 'muted small', text: `${title} · peak ${name === 'cost' ? usd(max) : num(max)}` }), svg);
}
