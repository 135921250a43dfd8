// Drives the keys page in headless Chromium (Debian's, through
// playwright-core) against a running gateway with an admin key; started
// by tests/playground.rs. Environment:
//   BASE        the gateway's URL
//   MODEL       a model the test mock answers (it echoes)
//   ADMIN       the admin key
//   PLAYWRIGHT  the directory holding node_modules/playwright-core
//   CHROMIUM    the browser (default /usr/bin/chromium)
//   SHOTS       a directory for a screenshot (optional)
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const env = process.env;
const base = env.BASE.replace(/\/$/, '');
const { chromium } = await import(
  pathToFileURL(join(env.PLAYWRIGHT, 'node_modules/playwright-core/index.mjs')).href
);

function check(ok, what) {
  if (!ok) throw new Error(`FAILED: ${what}`);
  console.log(`ok: ${what}`);
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const problems = [];
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && !/40[13]/.test(m.text()) && problems.push(`console: ${m.text()}`));
  page.on('dialog', (d) => d.accept());
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__violations = (window.__violations || 0) + 1;
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  await page.goto(`${base}/admin`);
  await page.waitForSelector('#admin:not([hidden])');
  check(await page.isHidden('#playground'), '/admin opens on the keys page');
  await page.waitForSelector('#admin-note:not([hidden])');
  check(!(await page.isVisible('#key-dialog[open]')), 'the keys page does not ask for the playground key');

  await page.fill('#admin-key', env.ADMIN);
  await page.click('#admin-key-save');
  await page.waitForFunction(() => document.querySelector('#admin-note').hidden);
  check(true, 'the admin credential is accepted');

  // A team, then a key in it.
  await page.fill('#t-name', 'web-team');
  await page.fill('#t-models', env.MODEL);
  await page.click('#t-create');
  await page.waitForSelector('#teams tr[data-id="web-team"]');
  check(true, 'a team is created from the page');
  await page.fill('#k-name', 'browser key');
  await page.fill('#k-team', 'web-team');
  await page.fill('#k-rpm', '100');
  await page.click('#k-create');
  await page.waitForSelector('#secret-box:not([hidden])');
  const secret = (await page.textContent('#new-secret')).trim();
  check(/^llm_[\w-]{32}$/.test(secret), 'the new secret is shown once');
  const row = page.locator('#keys tr', { hasText: 'browser key' });
  await row.waitFor();
  check(/100 req\/min/.test(await row.innerText()) && /web-team/.test(await row.innerText()), 'the key is listed with its team and limits');
  check(!(await page.locator('#keys').innerText()).includes(secret), 'the list never shows a secret');

  await page.click('#copy-secret');
  await page.waitForFunction(() => document.querySelector('#copy-secret').textContent === 'Copied');
  check((await page.evaluate(() => navigator.clipboard.readText())) === secret, 'Copy puts the secret on the clipboard');

  // Used from the playground.
  await page.click('#use-secret');
  await page.click('#tab-playground');
  await page.waitForSelector(`#model option[value="${env.MODEL}"]`, { state: 'attached', timeout: 15000 });
  await page.selectOption('#model', env.MODEL);
  await page.fill('#prompt', 'Hello with a new key');
  await page.click('#send');
  await page.waitForFunction(() => document.querySelectorAll('.msg.assistant:not(.pending)').length >= 1 && !document.querySelector('#send').hidden, null, { timeout: 20000 });
  const answer = await page.locator('.msg.assistant .body').last().innerText();
  check(['echo: ', 'You said: '].some((p) => answer.trim() === `${p}Hello with a new key`), `the playground answers with the new key: ${answer}`);

  // Its usage, then disabled.
  await page.click('#tab-admin');
  const keyRow = page.locator('#keys tr', { hasText: 'browser key' });
  let total = '';
  for (let i = 0; i < 50 && !/^1 request\b/.test(total); i++) {
    await keyRow.locator('button', { hasText: 'Usage' }).click();
    await page.waitForSelector('#usage-section:not([hidden])');
    await page.waitForTimeout(100);
    total = await page.textContent('#usage-total');
  }
  check(/^1 request\b/.test(total), `the key's usage is shown: ${total}`);
  check(await page.locator('#usage-charts figure[data-chart="requests"] rect').count() === 1, 'its requests are charted by hour');
  check((await page.locator('#usage-models').innerText()).includes(env.MODEL), 'and broken down by model');

  await keyRow.locator('button', { hasText: 'Limits' }).click();
  await page.fill('#e-rpm', '7');
  await page.click('#edit-save');
  await page.waitForFunction(() => !document.querySelector('#edit-dialog').open);
  await page.waitForFunction(() => /7 req\/min/.test(document.querySelector('#keys').innerText));
  check(true, 'its limits are edited from the page');

  await keyRow.locator('button', { hasText: 'Disable' }).click();
  await page.waitForFunction(() => /disabled/.test(document.querySelector('#keys').innerText));
  check(true, 'the key shows as disabled');
  if (env.SHOTS) await page.screenshot({ path: join(env.SHOTS, 'admin.png'), fullPage: true });

  await page.click('#tab-playground');
  await page.fill('#prompt', 'Refused now');
  await page.click('#send');
  await page.waitForSelector('#key-dialog[open]', { timeout: 10000 });
  check(/401/.test(await page.textContent('#key-reason')), 'the playground\'s next call is refused (401)');
  await page.click('#key-cancel');

  // Rotation shows a new secret.
  await page.click('#tab-admin');
  await keyRow.locator('button', { hasText: 'Rotate' }).click();
  await page.waitForFunction((old) => { const s = document.querySelector('#new-secret').textContent; return s && s !== old; }, secret);
  check(/^llm_/.test(await page.textContent('#new-secret')), 'rotating shows the new secret');

  check(await page.evaluate(() => !window.__violations), 'no Content-Security-Policy violation');
  check(problems.length === 0, `no page errors${problems.length ? `: ${problems.join('; ')}` : ''}`);
} finally {
  await browser.close();
}
console.log('keys page: all checks passed');
