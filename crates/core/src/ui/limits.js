// The dashboard's limits and budgets: for the caller's key and team,
// what is used now against each limit, and charts over time from the
// shared ledger: requests and tokens per minute for the last hour, and
// the period's spend per quarter hour for the last day, with the budget
// and a burn line (where an even spend would reach the budget at the
// period's end).

import { el, num, usd } from './util.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 300;
const H = 80;

/** Renders `list` (GET /v1/dashboard's `limits`) into `root`. */
export function renderLimits(root, list, nowMs) {
  const section = root.closest('section');
  if (!Array.isArray(list) || !list.length) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  root.replaceChildren(...list.map((s) => scope(s, nowMs)));
}

function scope(s, nowMs) {
  const l = s.limits || {};
  const meters = [];
  if (l.requests_per_minute) meters.push(meter('Requests / min', s.now.requests, l.requests_per_minute, num));
  if (l.tokens_per_minute) meters.push(meter('Tokens / min', s.now.tokens, l.tokens_per_minute, num));
  if (l.concurrent) meters.push(meter('In flight', s.now.concurrent, l.concurrent, num));
  if (s.budget) meters.push(meter(`Budget (${s.budget.period.replace(/^[dwm]/, '') || 'total'})`, s.budget.spent + s.budget.reserved, s.budget.usd, usd));
  const hour = slots(s.minutes, nowMs, 60, 60000);
  const charts = [
    chart('Requests per minute, last hour', hour.map((b) => b[1]), l.requests_per_minute, 'requests'),
    chart('Tokens per minute, last hour', hour.map((b) => b[2]), l.tokens_per_minute, 'tokens'),
  ];
  if (s.budget) charts.push(burn(s, nowMs));
  return el('div', { class: 'limit', 'data-scope': s.scope },
    el('h3', { text: `${s.kind === 'team' ? 'Team' : 'Key'} ${s.name}` }),
    el('div', { class: 'meters' }, ...meters),
    el('div', { class: 'charts' }, ...charts));
}

function meter(label, used, limit, fmt) {
  const share = limit ? Math.min(used / limit, 1) : 0;
  const bar = el('div', { class: `bar${share >= 0.8 ? ' hot' : ''}` });
  bar.append(el('span', { class: 'fill' }));
  // Width through the CSSOM: allowed under the page's CSP.
  bar.firstChild.style.width = `${(share * 100).toFixed(1)}%`;
  return el('div', { class: 'meter' },
    el('span', { class: 'label', text: label }),
    el('span', { class: 'value', text: `${fmt(used)} of ${fmt(limit)}` }),
    bar);
}

/** Buckets `[t, requests, tokens, usd]` laid on `n` slots of `span` ms ending now. */
function slots(buckets, nowMs, n, span) {
  const last = Math.floor(nowMs / span);
  const by = new Map((buckets || []).map((b) => [Math.floor(b[0] / span), b]));
  return Array.from({ length: n }, (_, i) => {
    const at = last - n + 1 + i;
    return by.get(at) || [at * span, 0, 0, 0];
  });
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

function frame(title, label) {
  const box = el('figure', { class: 'chart', 'data-chart': label });
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': title });
  box.append(s, el('figcaption', { class: 'muted small', text: title }));
  return [box, s];
}

/**
 * Bars of `values`, scaled to the traffic, with the limit as a line once
 * the traffic comes near it (and in the caption always).
 */
function chart(title, values, limit, label) {
  const [box, s] = frame(limit ? `${title} (limit ${num(limit)})` : title, label);
  const peak = Math.max(...values, 1) * 1.25;
  const max = limit && limit <= peak * 1.6 ? Math.max(peak, limit * 1.05) : peak;
  const w = W / values.length;
  values.forEach((v, i) => {
    if (v <= 0) return;
    const h = (v / max) * (H - 4);
    s.append(svg('rect', { x: (i * w).toFixed(2), y: (H - h).toFixed(2), width: Math.max(w - 1, 1).toFixed(2), height: h.toFixed(2), class: 'bar' }));
  });
  if (limit && limit <= max) {
    const y = (H - (limit / max) * (H - 4)).toFixed(2);
    s.append(svg('line', { x1: 0, x2: W, y1: y, y2: y, class: 'limit-line' }));
  }
  return box;
}

/** The period's spend over the last day, cumulative, against the budget and its burn line. */
function burn(s, nowMs) {
  const b = s.budget;
  const [box, svgEl] = frame(`Spend, last day: ${usd(b.spent)} of ${usd(b.usd)}`, 'budget');
  const day = slots(s.quarters, nowMs, 96, 900000);
  // Cumulative spend, ending at what the ledger says is spent now.
  const inDay = day.reduce((a, q) => a + q[3], 0);
  let acc = Math.max(b.spent - inDay, 0);
  const points = day.map((q) => (acc += q[3]));
  const max = Math.max(b.usd, ...points) * 1.05;
  const x = (i) => ((i + 1) * W) / day.length;
  const y = (v) => H - (v / max) * H;
  const budgetY = y(b.usd).toFixed(2);
  svgEl.append(svg('line', { x1: 0, x2: W, y1: budgetY, y2: budgetY, class: 'limit-line' }));
  if (b.period_end_ms) {
    // The even-spend line across the period, drawn over the last day.
    const start = periodStart(b.period, b.period_end_ms);
    const at = (t) => (b.usd * (t - start)) / (b.period_end_ms - start);
    const t0 = day[0][0];
    const t1 = nowMs;
    svgEl.append(svg('line', { x1: 0, x2: W, y1: y(Math.max(at(t0), 0)).toFixed(2), y2: y(Math.min(at(t1), b.usd)).toFixed(2), class: 'burn-line' }));
  }
  svgEl.append(svg('polyline', { points: points.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' '), class: 'spend' }));
  return box;
}

/** When a period (`d2026-12-03`, `w…`, `m2026-12`) began. */
function periodStart(period, endMs) {
  const kind = period[0];
  if (kind === 'd') return endMs - 86400000;
  if (kind === 'w') return endMs - 7 * 86400000;
  if (kind === 'm') return Date.UTC(Number(period.slice(1, 5)), Number(period.slice(6, 8)) - 1, 1);
  return endMs;
}
