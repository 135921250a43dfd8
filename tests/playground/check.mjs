// Drives the web playground and dashboard in headless Chromium (Debian's,
// through playwright-core) against a running gateway; tests/playground.rs
// and tests/worker.rs start the gateway. Environment:
//   BASE        the gateway's URL
//   MODEL       a model answered by the test mock or the built-in `mock`
//               (both echo); `cargo run` then MODEL=mock checks a default install
//   KEY         an API key, when the gateway has auth on (the page must ask)
//   METRICS     "1" when the host keeps metrics (native)
//   PRICED      "1" when MODEL has prices (the turn shows a cost)
//   OPEN        a target whose circuit breaker the test tripped (optional)
//   SHOTS       a directory for screenshots (optional)
//   PLAYWRIGHT  the directory holding node_modules/playwright-core
//   CHROMIUM    the browser (default /usr/bin/chromium)
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const env = process.env;
const base = env.BASE.replace(/\/$/, '');
const model = env.MODEL;
const { chromium } = await import(
  pathToFileURL(join(env.PLAYWRIGHT, 'node_modules/playwright-core/index.mjs')).href
);

function check(ok, what) {
  if (!ok) throw new Error(`FAILED: ${what}`);
  console.log(`ok: ${what}`);
}

// The size budget: the page and every file it loads, gzipped.
const seen = new Map();
const queue = ['/'];
while (queue.length) {
  const path = queue.shift();
  if (seen.has(path)) continue;
  const res = await fetch(base + path);
  check(res.ok, `GET ${path} is ${res.status}`);
  if (path === '/') {
    const csp = res.headers.get('content-security-policy') || '';
    check(csp.includes("script-src 'self'") && csp.includes("frame-ancestors 'none'"), 'the page has a strict Content-Security-Policy');
    check(res.headers.get('x-content-type-options') === 'nosniff', 'the page is sent with nosniff');
  }
  const text = await res.text();
  seen.set(path, gzipSync(Buffer.from(text), { level: 9 }).length);
  for (const m of text.matchAll(/(?:\/ui\/|\.\/)([\w-]+\.(?:js|css|svg))/g)) queue.push(`/ui/${m[1]}`);
}
const total = [...seen.values()].reduce((a, b) => a + b, 0);
console.log(`assets: ${seen.size} files, ${total} bytes gzip: ${JSON.stringify(Object.fromEntries(seen))}`);
check(total < 100 * 1024, `the page and its files are ${(total / 1024).toFixed(1)} KiB gzip (budget 100 KiB)`);

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && !/401/.test(m.text()) && problems.push(`console: ${m.text()}`));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__violations = (window.__violations || 0) + 1;
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  await page.goto(`${base}/`);

  if (env.KEY) {
    await page.waitForSelector('#key-dialog[open]', { timeout: 10000 });
    check(true, 'with auth on, the public page asks for a key');
    await page.fill('#key-input', env.KEY);
    await page.click('#key-save');
  }
  await page.waitForSelector(`#model option[value="${model}"]`, { state: 'attached', timeout: 15000 });
  await page.selectOption('#model', model);
  check(true, `the model picker lists ${model}`);

  const assistants = page.locator('.msg.assistant');
  let turns = 0;
  async function send(text) {
    await page.fill('#prompt', text);
    await page.click('#send');
    turns += 1;
    await page.waitForFunction(
      (n) => document.querySelectorAll('.msg.assistant:not(.pending)').length >= n && document.querySelector('#send') && !document.querySelector('#send').hidden,
      turns,
      { timeout: 20000 },
    );
    turns = await assistants.count();
    return assistants.nth(turns - 1);
  }
  const json = async (id) => JSON.parse((await page.textContent(id)) || 'null');
  // The test mock says `echo: …`; the built-in `mock` model, `You said: …`.
  const echoes = (text, said) => ['echo: ', 'You said: '].some((p) => text.trim() === p + said);

  // A streamed answer, with its events and usage.
  let answer = await send('Hello from the browser');
  check(echoes(await answer.locator('.body').innerText(), 'Hello from the browser'), 'the streamed answer is shown');
  const types = await page.locator('#events .type').allInnerTexts();
  check(types.includes('response.output_text.delta') && types.at(-2) === 'response.completed' && types.at(-1) === '[DONE]', `the events panel lists the stream (${types.length} events)`);
  const meta = await answer.locator('.meta').innerText();
  check(/attempt/.test(meta) && /\d+ in · \d+ out/.test(meta) && /first token \d+ ms/.test(meta), `the turn shows provider, attempts and tokens: ${meta}`);
  if (env.PRICED) check(/\$\d/.test(meta), 'the streamed turn shows its cost');
  const first = await json('#response-json');
  check(first?.status === 'completed' && first.id.startsWith('resp_'), 'the response panel holds the final response');

  // The conversation continues.
  answer = await send('And a second message');
  check(echoes(await answer.locator('.body').innerText(), 'And a second message'), 'the second answer is shown');
  check((await json('#request-json')).previous_response_id === first.id, 'the second turn sends previous_response_id');
  check((await json('#response-json')).previous_response_id === first.id, 'the gateway continued the stored conversation');
  check((await page.textContent('#conversation')).includes('resp_'), 'the page shows which response it continues');

  // Markdown renders as elements, code in a code block.
  answer = await send('Some **bold** and `code`:\n\n```js\nlet x = 1;\n```');
  check(await answer.locator('.body strong').count() === 1 && await answer.locator('.body .code pre').innerText() === 'let x = 1;', 'Markdown and code blocks render');

  // The demo tool's round trip.
  await page.check('#tool');
  await send('Use get_weather for Paris, please');
  await page.waitForFunction(() => document.querySelectorAll('.tool .tool-result').length > 0 && document.querySelector('.tool .tool-result').textContent.includes('temperature_c'));
  answer = assistants.nth((await assistants.count()) - 1);
  const tool = await page.locator('.tool').first().innerText();
  check(tool.includes('get_weather(') && tool.includes('Paris'), `the tool call is shown: ${tool.replace(/\s+/g, ' ')}`);
  check(/^(tool said|The tool returned): \{/.test(await answer.locator('.body').innerText()), 'the model answered with the tool result');
  const toolRequest = await json('#request-json');
  check(toolRequest.input?.[0]?.type === 'function_call_output', 'the tool result went back as function_call_output');
  if (env.SHOTS) await page.screenshot({ path: join(env.SHOTS, 'playground.png') });
  await page.uncheck('#tool');

  // Model output is text, never HTML.
  const hostile = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';
  answer = await send(hostile);
  check((await answer.locator('.body').innerText()).includes(hostile), 'model output with <script> is shown as text');
  check(await page.locator('#messages script, #messages img').count() === 0, 'no element was made from model output');
  check(await page.evaluate(() => window.__pwned === undefined), 'no script from model output ran');

  // Not streamed.
  await page.uncheck('#stream');
  answer = await send('Not streamed');
  check(echoes(await answer.locator('.body').innerText(), 'Not streamed'), 'a non-streamed answer is shown');
  await page.check('#stream');

  // The key lives in sessionStorage only.
  const storage = await page.evaluate(() => ({ session: sessionStorage.getItem('latticelm.key'), local: localStorage.length }));
  check(storage.local === 0 && storage.session === (env.KEY || null), 'the key is kept in sessionStorage only');

  // The dashboard.
  await page.click('#tab-dashboard');
  check(new URL(page.url()).pathname === '/dashboard', 'the dashboard has its own address');
  await page.waitForSelector('#circuits tr td .badge', { timeout: 10000 });
  const circuits = await page.locator('#circuits').innerText();
  check(/closed/.test(circuits), 'the dashboard shows each target\'s circuit breaker');
  if (env.OPEN) {
    const open = await page.locator('#circuits tr', { hasText: env.OPEN }).innerText();
    check(/open/.test(open), `a tripped breaker shows as open: ${open.replace(/\s+/g, ' ')}`);
  }
  if (env.METRICS) {
    await page.waitForFunction((m) => document.querySelector('#by-model')?.textContent.includes(m), model, { timeout: 10000 });
    check(!(await page.textContent('#m-latency')).includes('–'), `latency percentiles: ${await page.textContent('#m-latency')}`);
    check((await page.textContent('#m-errors')).includes('%'), `error rate: ${await page.textContent('#m-errors')}`);
    const usage = await page.locator('#by-model').innerText();
    check(usage.includes(model), `tokens by model and principal: ${usage.split('\n')[0]}`);
    if (env.PRICED) check(/\$\d/.test(await page.textContent('#m-cost')), 'the dashboard shows cost');
  } else {
    check(await page.isVisible('#metrics-note'), 'a host without metrics says so');
  }
  if (env.LIMITS) {
    await page.waitForSelector('#limits-section:not([hidden]) .limit', { timeout: 10000 });
    const scopes = await page.$$eval('#limits .limit', (l) => l.map((e) => e.dataset.scope));
    check(scopes.includes('key:playground') && scopes.includes('team:play'), `the key's and the team's limits are shown: ${scopes}`);
    const bars = await page.$$eval('.limit[data-scope="key:playground"] figure[data-chart="requests"] rect', (r) => r.length);
    check(bars > 0, `requests per minute are charted: ${bars} bars`);
    const meter = await page.locator('.limit[data-scope="key:playground"] .meter').first().innerText();
    check(/of 1,000/.test(meter), `use against the limit: ${meter.replace(/\s+/g, ' ')}`);
    const spend = await page.$$eval('.limit[data-scope="team:play"] figure[data-chart="budget"] polyline.spend, .limit[data-scope="team:play"] figure[data-chart="budget"] line.burn-line', (e) => e.length);
    check(spend === 2, 'the budget has its spend and its burn line');
  }
  if (env.SHOTS) {
    await page.waitForTimeout(2500);
    await page.screenshot({ path: join(env.SHOTS, 'dashboard.png') });
  }
  // Reloading /dashboard serves the page and opens the dashboard.
  await page.reload();
  await page.waitForSelector('#dashboard:not([hidden])');
  check(await page.isHidden('#playground'), '/dashboard opens on the dashboard');

  check(await page.evaluate(() => !window.__violations), 'no Content-Security-Policy violation');
  check(problems.length === 0, `no page errors${problems.length ? `: ${problems.join('; ')}` : ''}`);
} finally {
  await browser.close();
}
console.log('playground: all checks passed');
