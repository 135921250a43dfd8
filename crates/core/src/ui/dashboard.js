// The dashboard: polls GET /v1/dashboard (every metric series and each
// target's circuit breaker) and shows rates, latency percentiles, tokens
// and cost. Rates and percentiles cover the last minute of polls, from
// the differences between snapshots of the cumulative series.

import { renderLimits } from './limits.js';
import { api, duration, el, errorText, needKey, num, usd } from './util.js';

const $ = (id) => document.getElementById(id);
const EVERY_MS = 2000;
const WINDOW_MS = 60000;
/** Routes that are not API traffic: the page, its polls, probes. */
const QUIET = new Set(['ui', 'dashboard', 'health', 'ready', 'metrics']);

let timer = null;
let paused = false;
/** Recent samples: {t, requests, errors, latency, ttft}, oldest first. */
let samples = [];
let rates = [];

/** Starts polling (when the dashboard is shown). */
export function startDashboard() {
  if (timer) return;
  if (!$('pause').dataset.wired) {
    $('pause').dataset.wired = '1';
    $('pause').addEventListener('click', () => {
      paused = !paused;
      $('pause').textContent = paused ? 'Resume' : 'Pause';
    });
    window.addEventListener('latticelm:key', () => timer && poll());
  }
  poll();
  timer = setInterval(() => paused || poll(), EVERY_MS);
}

/** Stops polling (when the dashboard is hidden). */
export function stopDashboard() {
  clearInterval(timer);
  timer = null;
}

async function poll() {
  let res;
  try {
    res = await api('/v1/dashboard');
  } catch (e) {
    $('updated').textContent = `cannot reach the gateway: ${e.message}`;
    return;
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    $('updated').textContent = errorText(body, res.status);
    if (res.status === 401) needKey('The dashboard needs an API key or token.');
    return;
  }
  render(body);
  $('updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

function render(d) {
  circuits(d.circuits || []);
  renderLimits($('limits'), d.limits, d.now_ms);
  const m = d.metrics;
  const note = $('metrics-note');
  note.hidden = !!m;
  $('cards').classList.toggle('dim', !m);
  if (!m) {
    note.textContent =
      'This host keeps no metrics across requests (each Worker isolate or Spin instance counts only its own): export traces with OTLP to see traffic. Circuit breakers below are as this instance last saw them.';
    return;
  }
  const sample = {
    t: d.now_ms,
    requests: 0,
    errors: 0,
    latency: merged(m.histograms, 'gen_ai_server_request_duration_seconds'),
    ttft: merged(m.histograms, 'gen_ai_server_time_to_first_token_seconds'),
  };
  for (const c of m.counters) {
    if (c.name !== 'latticelm_requests_total' || QUIET.has(c.labels.route)) continue;
    sample.requests += c.value;
    if (Number(c.labels.status) >= 400) sample.errors += c.value;
  }
  const prev = samples[samples.length - 1];
  if (prev && sample.requests < prev.requests) samples = []; // the gateway restarted
  samples.push(sample);
  while (samples.length > 2 && sample.t - samples[0].t > WINDOW_MS) samples.shift();
  const first = samples[0];
  const last = samples[samples.length - 2] || first;

  const rate = sample.t > last.t ? ((sample.requests - last.requests) * 1000) / (sample.t - last.t) : 0;
  rates.push(rate);
  rates = rates.slice(-60);
  $('m-rate').textContent = rate < 10 ? rate.toFixed(1) : num(rate);
  spark(rates);

  const dReq = sample.requests - first.requests;
  const windowed = dReq > 0;
  const [req, err] = windowed ? [dReq, sample.errors - first.errors] : [sample.requests, sample.errors];
  $('m-errors').textContent = req ? `${((100 * err) / req).toFixed(1)} %` : '–';
  $('m-errors-sub').textContent = req ? `${num(err)} of ${num(req)} ${windowed ? 'in the last minute' : 'since start'}` : 'no requests yet';
  // This poll is in flight while it is counted.
  $('m-inflight').textContent = num(Math.max(0, m.in_flight - 1));

  const lat = windowed ? minus(sample.latency, first.latency) : sample.latency;
  $('m-latency').textContent = lat.count ? percentiles([0.5, 0.95, 0.99].map((q) => quantile(q, lat))) : '–';
  $('m-latency-sub').textContent = lat.count ? `${num(lat.count)} requests ${windowed ? 'in the last minute' : 'since start'}` : '';
  const ttft = windowed ? minus(sample.ttft, first.ttft) : sample.ttft;
  $('m-ttft').textContent = ttft.count ? duration(quantile(0.5, ttft)) : '–';

  usage(m.counters);
  attempts(m.counters);
  cache(m.counters);
}

/** The response cache since start: hit rate, and what hits saved. */
function cache(counters) {
  let hits = 0;
  let misses = 0;
  let tokens = 0;
  let saved = 0;
  for (const c of counters) {
    if (c.name === 'latticelm_cache_requests_total') {
      if (c.labels.result === 'hit') hits += c.value;
      else misses += c.value;
    } else if (c.name === 'latticelm_cache_saved_tokens_total') tokens += c.value;
    else if (c.name === 'latticelm_cache_saved_usd_total') saved += c.value;
  }
  const all = hits + misses;
  $('m-cache').textContent = all ? `${((100 * hits) / all).toFixed(1)} %` : '–';
  $('m-cache-sub').textContent = all ? `${num(hits)} hits, ${num(misses)} misses · saved ${num(tokens)} tokens, ${usd(saved)}` : 'no cached model yet';
}

/** "25 / 73 / 79 ms", in one unit. */
function percentiles(secs) {
  if (Math.max(...secs) >= 1) return `${secs.map((s) => s.toFixed(2)).join(' / ')} s`;
  return `${secs.map((s) => Math.round(s * 1000)).join(' / ')} ms`;
}

/** Every series of a histogram family, added up. */
function merged(histograms, name) {
  const out = { bounds: [], buckets: [], count: 0 };
  for (const h of histograms) {
    if (h.name !== name) continue;
    out.bounds = h.bounds;
    h.buckets.forEach((b, i) => (out.buckets[i] = (out.buckets[i] || 0) + b));
    out.count += h.count;
  }
  return out;
}

function minus(a, b) {
  return { bounds: a.bounds, buckets: a.buckets.map((v, i) => v - (b.buckets[i] || 0)), count: a.count - b.count };
}

/** The q-quantile of cumulative buckets, interpolated as Prometheus does. */
function quantile(q, h) {
  const rank = q * h.count;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    if (h.buckets[i] >= rank) {
      const inside = h.buckets[i] - below;
      return lower + (h.bounds[i] - lower) * (inside ? (rank - below) / inside : 0);
    }
    lower = h.bounds[i];
    below = h.buckets[i];
  }
  return h.bounds[h.bounds.length - 1];
}

function spark(values) {
  const svg = $('spark');
  const max = Math.max(...values, 1e-9);
  const step = 120 / Math.max(values.length - 1, 1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(29 - (v / max) * 27).toFixed(1)}`).join(' ');
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', points);
  svg.replaceChildren(line);
}

function usage(counters) {
  const rows = new Map();
  const row = (l) => {
    const key = `${l.model}\u0000${l.principal}`;
    if (!rows.has(key)) rows.set(key, { model: l.model, principal: l.principal, cost: null });
    return rows.get(key);
  };
  let total = 0;
  let priced = false;
  for (const c of counters) {
    if (c.name === 'latticelm_tokens_total') row(c.labels)[c.labels.type] = c.value;
    if (c.name === 'latticelm_cost_usd_total') {
      row(c.labels).cost = c.value;
      total += c.value;
      priced = true;
    }
  }
  $('m-cost').textContent = priced ? usd(total) : '–';
  const sorted = [...rows.values()].sort((a, b) => (b.cost ?? 0) - (a.cost ?? 0) || (b.output ?? 0) - (a.output ?? 0));
  $('by-model').replaceChildren(
    ...sorted.map((r) =>
      el('tr', {},
        el('td', { text: r.model || '–' }),
        el('td', { text: r.principal || 'anonymous' }),
        ...['input', 'cached', 'output', 'reasoning'].map((k) => el('td', { class: 'n', text: num(r[k] ?? 0) })),
        el('td', { class: 'n', text: usd(r.cost) }))),
  );
  if (!sorted.length) $('by-model').append(empty(7, 'No tokens yet'));
}

function attempts(counters) {
  const by = new Map();
  for (const c of counters) {
    if (c.name !== 'latticelm_upstream_attempts_total') continue;
    const r = by.get(c.labels.provider) || { ok: 0, error: 0 };
    r[c.labels.outcome === 'ok' ? 'ok' : 'error'] += c.value;
    by.set(c.labels.provider, r);
  }
  $('attempts').replaceChildren(
    ...[...by].map(([p, r]) =>
      el('tr', {}, el('td', { text: p }), el('td', { class: 'n', text: num(r.ok) }), el('td', { class: `n${r.error ? ' bad' : ''}`, text: num(r.error) }))),
  );
  if (!by.size) $('attempts').append(empty(3, 'No upstream requests yet'));
}

function circuits(list) {
  $('circuits').replaceChildren(
    ...list.map((c) =>
      el('tr', {}, el('td', { text: c.model }), el('td', { text: c.target }), el('td', {}, el('span', { class: `badge ${c.state}`, text: c.state.replace(/_/g, '-') })))),
  );
  if (!list.length) $('circuits').append(empty(3, 'No targets'));
}

const empty = (cols, text) => el('tr', {}, el('td', { colspan: cols, class: 'muted', text }));
