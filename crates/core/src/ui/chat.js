// The playground: a chat over POST /v1/responses, streamed or not, that
// continues with previous_response_id, runs a demo tool in the page, and
// shows every turn's events, request, response, usage and cost.

import { api, el, errorText, needKey, num, usd } from './util.js';
import { renderMarkdown } from './markdown.js';

const $ = (id) => document.getElementById(id);

/** The demo tool: declared to the model, run here in the page. */
const TOOL = {
  type: 'function',
  name: 'get_weather',
  description: 'The current weather in a city (a demo tool that runs in the browser).',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string', description: 'The city' } },
    required: ['city'],
  },
};
const MAX_TOOL_ROUNDS = 4;
const MAX_EVENT_ROWS = 1500;

const state = { previousId: null, busy: false, controller: null, models: [] };

/** Wires the playground up and loads the models. */
export function startChat() {
  $('send').addEventListener('click', submit);
  $('stop').addEventListener('click', () => state.controller?.abort());
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.key === 'Escape') {
      state.controller?.abort();
    }
  });
  $('new-chat').addEventListener('click', newChat);
  $('model').addEventListener('change', () => sessionStorage.setItem('latticelm.model', $('model').value));
  for (const b of document.querySelectorAll('[data-suggest]')) {
    b.addEventListener('click', () => {
      $('prompt').value = b.dataset.suggest;
      if (b.dataset.tool) $('tool').checked = true;
      submit();
    });
  }
  for (const tab of document.querySelectorAll('.inspector [data-pane]')) {
    tab.addEventListener('click', () => showPane(tab.dataset.pane));
  }
  window.addEventListener('latticelm:key', loadModels);
  loadModels();
}

/** Fills the model picker from GET /v1/models. */
async function loadModels() {
  const select = $('model');
  let res;
  try {
    res = await api('/v1/models');
  } catch (e) {
    select.replaceChildren(el('option', { value: '', text: `cannot reach the gateway: ${e.message}` }));
    return;
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    select.replaceChildren(el('option', { value: '', text: res.status === 401 ? 'an API key is needed' : errorText(body, res.status) }));
    // Asked only on the playground: the admin page has its own credential.
    if (res.status === 401 && !$('playground').hidden) needKey('This gateway needs an API key or token to list its models.');
    return;
  }
  state.models = body.data || [];
  const saved = sessionStorage.getItem('latticelm.model');
  select.replaceChildren(
    ...state.models.map((m) => el('option', { value: m.id, text: `${m.id}  ·  ${m.owned_by}` })),
  );
  if (!state.models.length) select.append(el('option', { value: '', text: 'no models for this key' }));
  if (state.models.some((m) => m.id === saved)) select.value = saved;
}

function newChat() {
  state.controller?.abort();
  state.previousId = null;
  $('messages').replaceChildren();
  showConversation();
  $('prompt').focus();
}

function showConversation() {
  $('conversation').textContent = state.previousId ? `Continues ${state.previousId}` : 'New conversation';
}

function setBusy(busy) {
  state.busy = busy;
  $('send').hidden = busy;
  $('stop').hidden = !busy;
  $('prompt').disabled = busy;
  if (!busy) $('prompt').focus();
}

/** Sends the composer's message; runs tool rounds until the model answers. */
async function submit() {
  const text = $('prompt').value.trim();
  const model = $('model').value;
  if (!text || state.busy) return;
  if (!model) {
    addNote('Pick a model first.');
    return;
  }
  $('prompt').value = '';
  $('empty')?.remove();
  addBubble('user', text);
  let input = text;
  let previous = $('continue').checked ? state.previousId : null;
  setBusy(true);
  try {
    for (let round = 0; round <= MAX_TOOL_ROUNDS; round++) {
      const body = { model, input, stream: $('stream').checked, store: true };
      if (previous) body.previous_response_id = previous;
      const instructions = $('instructions').value.trim();
      if (instructions) body.instructions = instructions;
      if ($('tool').checked) body.tools = [TOOL];
      const response = await turn(body);
      if (!response) break;
      state.previousId = response.id;
      showConversation();
      const calls = (response.output || []).filter((o) => o.type === 'function_call');
      if (!calls.length || !$('tool').checked) break;
      if (round === MAX_TOOL_ROUNDS) {
        addNote(`Stopped after ${MAX_TOOL_ROUNDS} tool rounds.`);
        break;
      }
      input = calls.map((c) => ({ type: 'function_call_output', call_id: c.call_id, output: runTool(c) }));
      previous = response.id;
    }
  } finally {
    state.controller = null;
    setBusy(false);
  }
}

/** The demo tool's answer: made up, the same for the same city. */
function runTool(call) {
  let args = {};
  try {
    args = JSON.parse(call.arguments || '{}');
  } catch {
    args = {};
  }
  const city = String(args.city ?? 'somewhere').slice(0, 200);
  const h = [...city].reduce((a, c) => (a * 31 + c.charCodeAt(0)) >>> 0, 7);
  const output = JSON.stringify({
    city,
    temperature_c: 12 + (h % 15),
    conditions: ['sunny', 'cloudy', 'light rain', 'windy'][h % 4],
  });
  const card = document.querySelector(`.tool[data-call="${CSS.escape(call.call_id)}"]`);
  if (card) card.querySelector('.tool-result').textContent = `→ ${output}`;
  return output;
}

/** One request: its bubble, its events, its result. Null when it failed. */
async function turn(body) {
  const view = addAssistant();
  const t0 = performance.now();
  resetInspector(body);
  state.controller = new AbortController();
  let res;
  try {
    res = await api('/v1/responses', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: state.controller.signal,
    });
  } catch (e) {
    view.fail(e.name === 'AbortError' ? 'Stopped.' : `Cannot reach the gateway: ${e.message}`);
    return null;
  }
  const info = {
    provider: res.headers.get('x-latticelm-provider'),
    upstream: res.headers.get('x-latticelm-model'),
    attempts: res.headers.get('x-latticelm-attempts'),
    cost: res.headers.get('x-latticelm-cost-usd'),
    requestId: res.headers.get('x-request-id'),
    model: body.model,
  };
  if (!res.ok) {
    const err = await res.json().catch(() => null);
    addEvent(performance.now() - t0, `HTTP ${res.status}`, err);
    showJson('response-json', err);
    if (res.status === 401) needKey('The gateway refused the key (401).');
    view.fail(errorText(err, res.status), info);
    return null;
  }
  let final = null;
  let firstToken = null;
  try {
    if (body.stream) {
      for await (const ev of events(res.body)) {
        const t = performance.now() - t0;
        addEvent(t, typeof ev.data === 'string' ? ev.data : ev.data?.type || ev.event, ev.data);
        const d = ev.data || {};
        if (d.type === 'response.output_text.delta' || d.type === 'response.refusal.delta') {
          firstToken ??= t;
          view.append(d.delta);
        } else if (/^response\.reasoning(_summary)?_text\.delta$/.test(d.type)) {
          view.reason(d.delta);
        } else if (d.type === 'response.output_item.added' && d.item?.type === 'function_call') {
          view.call(d.item);
        } else if (d.type === 'response.function_call_arguments.delta') {
          view.callArgs(d.item_id, d.delta, false);
        } else if (d.type === 'response.output_item.done' && d.item?.type === 'function_call') {
          view.callArgs(d.item.id, d.item.arguments, true);
        } else if (/^response\.(completed|incomplete|failed)$/.test(d.type)) {
          final = d.response;
        } else if (d.type === 'error') {
          view.fail(errorText(d, d.error?.status || 'stream'), info);
          return null;
        }
      }
    } else {
      final = await res.json();
      addEvent(performance.now() - t0, '(whole response, not streamed)', null);
    }
  } catch (e) {
    view.fail(e.name === 'AbortError' ? 'Stopped.' : `The stream broke: ${e.message}`, info);
    return null;
  }
  const total = performance.now() - t0;
  showJson('response-json', final);
  if (!final) {
    view.fail('The stream ended without a response.', info);
    return null;
  }
  view.finish(final, { ...info, firstToken, total, cost: priced(info, final.usage) });
  if (final.status === 'failed') return null;
  return final;
}

/** The cost: the gateway's header, else the model's listed prices. */
function priced(info, usage) {
  if (info.cost) return Number(info.cost);
  const prices = state.models.find((m) => m.id === info.model)?.pricing || [];
  const p = prices.find((x) => x.provider === info.provider && x.model === info.upstream);
  if (!p || !usage) return null;
  return (usage.input_tokens * p.input_cost + usage.output_tokens * p.output_cost) / 1e6;
}

/** Server-sent events from a fetch body: `{event, data}`, data parsed. */
async function* events(stream) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (!data.length) continue;
      let parsed = data.join('\n');
      try {
        parsed = JSON.parse(parsed);
      } catch {
        /* not JSON: kept as text */
      }
      yield { event, data: parsed };
    }
  }
}

function addBubble(role, text) {
  const b = el('div', { class: `msg ${role}` }, el('div', { class: 'who', text: role === 'user' ? 'You' : 'Model' }), el('div', { class: 'body', text }));
  $('messages').append(b);
  scroll();
  return b;
}

function addNote(text) {
  $('messages').append(el('div', { class: 'note', text }));
  scroll();
}

/** An assistant bubble that fills in as the turn streams. */
function addAssistant() {
  const body = el('div', { class: 'body md' });
  const thinking = el('details', { class: 'reasoning', hidden: true }, el('summary', { text: 'Reasoning' }), el('div', { class: 'reasoning-text' }));
  const tools = el('div', { class: 'tools' });
  const meta = el('div', { class: 'meta', text: 'waiting…' });
  const root = el('div', { class: 'msg assistant pending' }, el('div', { class: 'who', text: 'Model' }), thinking, tools, body, meta);
  $('messages').append(root);
  scroll();
  let text = '';
  let frame = 0;
  const render = () => {
    frame = 0;
    body.replaceChildren(renderMarkdown(text));
    scroll();
  };
  const args = new Map();
  return {
    append(delta) {
      text += delta;
      frame ||= requestAnimationFrame(render);
    },
    reason(delta) {
      thinking.hidden = false;
      thinking.querySelector('.reasoning-text').append(delta);
    },
    call(item) {
      if (tools.querySelector(`[data-item="${CSS.escape(item.id || '')}"]`)) return;
      const code = el('code', { class: 'tool-call', text: `${item.name}(${item.arguments || ''})` });
      const card = el('div', { class: 'tool', 'data-item': item.id || '', 'data-call': item.call_id || '' }, el('span', { class: 'tool-tag', text: 'tool call' }), code, el('div', { class: 'tool-result muted' }));
      args.set(item.id, { code, name: item.name, text: item.arguments || '' });
      tools.append(card);
      scroll();
    },
    callArgs(id, value, whole) {
      const a = args.get(id);
      if (!a) return;
      a.text = whole ? value : a.text + value;
      a.code.textContent = `${a.name}(${a.text})`;
    },
    fail(message, info) {
      root.classList.remove('pending');
      root.classList.add('error');
      if (frame) cancelAnimationFrame(frame);
      if (text) render();
      body.append(el('p', { class: 'error-text', text: message }));
      meta.textContent = info ? describe(info, null) : '';
    },
    finish(response, info) {
      root.classList.remove('pending');
      if (frame) cancelAnimationFrame(frame);
      const out = response.output || [];
      for (const item of out.filter((o) => o.type === 'function_call')) {
        this.call(item);
        this.callArgs(item.id, item.arguments, true);
      }
      const finalText = out
        .filter((o) => o.type === 'message')
        .flatMap((o) => o.content || [])
        .map((c) => (c.type === 'output_text' ? c.text : c.type === 'refusal' ? c.refusal : ''))
        .join('');
      if (finalText || !text) text = finalText;
      render();
      if (!text && !out.some((o) => o.type === 'function_call')) body.append(el('p', { class: 'muted', text: '(no text)' }));
      if (response.status === 'incomplete') body.append(el('p', { class: 'warn', text: `Incomplete: ${response.incomplete_details?.reason || 'unknown reason'}` }));
      if (response.status === 'failed') body.append(el('p', { class: 'error-text', text: `Failed: ${response.error?.message || 'unknown error'}` }));
      meta.replaceChildren(...describe(info, response.usage, true));
    },
  };
}

/** The turn's line: provider, attempts, tokens, cost, timing. */
function describe(info, usage, parts) {
  const bits = [];
  if (info.provider) bits.push(['provider', `${info.provider} · ${info.upstream}`]);
  if (info.attempts) bits.push(['attempts', `${info.attempts} attempt${info.attempts === '1' ? '' : 's'}`]);
  if (usage) {
    const cached = usage.input_tokens_details?.cached_tokens;
    const reasoning = usage.output_tokens_details?.reasoning_tokens;
    bits.push(['tokens', `${num(usage.input_tokens)} in${cached ? ` (${num(cached)} cached)` : ''} · ${num(usage.output_tokens)} out${reasoning ? ` (${num(reasoning)} reasoning)` : ''}`]);
  }
  if (info.cost != null) bits.push(['cost', usd(info.cost)]);
  if (info.firstToken != null) bits.push(['ttft', `first token ${Math.round(info.firstToken)} ms`]);
  if (info.total != null) bits.push(['total', `${Math.round(info.total)} ms`]);
  if (!parts) return bits.map((b) => b[1]).join('  ·  ');
  return bits.map(([k, v]) => el('span', { class: `m-${k}`, text: v }));
}

function scroll() {
  const m = $('messages');
  if (m.scrollHeight - m.scrollTop - m.clientHeight < 160) m.scrollTop = m.scrollHeight;
}

function showPane(name) {
  for (const tab of document.querySelectorAll('.inspector [data-pane]')) {
    tab.classList.toggle('active', tab.dataset.pane === name);
    $(`pane-${tab.dataset.pane}`).hidden = tab.dataset.pane !== name;
  }
}

function resetInspector(body) {
  $('events').replaceChildren();
  $('events-summary').textContent = 'Waiting for the response…';
  showJson('request-json', body);
  showJson('response-json', null);
}

function showJson(id, value) {
  $(id).textContent = value == null ? '' : JSON.stringify(value, null, 2);
}

/** One row of the events panel: when, what, and its data on click. */
function addEvent(ms, type, data) {
  const list = $('events');
  const n = list.childElementCount;
  $('events-summary').textContent = `${n + 1} event${n ? 's' : ''}, last at ${Math.round(ms)} ms`;
  if (n >= MAX_EVENT_ROWS) return;
  const row = el('li', { class: 'event' },
    el('details', {},
      el('summary', {}, el('span', { class: 'at', text: `+${Math.round(ms)} ms` }), el('span', { class: 'type', text: type })),
      el('pre', { class: 'json', text: data == null ? '' : JSON.stringify(data, null, 2) })));
  list.append(row);
}
