// The web UI's defences, checked in chromium against a real `trainyard server` (issue 17):
//   - markup in what runs record (display name, arguments, log lines, metric and file names) is
//     shown as text on every page, never parsed into elements;
//   - a page on another origin cannot act with the user's session: the cookie is same-site for
//     any port of 127.0.0.1, so the server's Origin check is what refuses a cross-origin POST
//     (logout, cancel), and no CORS headers let it read an answer;
//   - the UI cannot be framed; a read session cannot cancel.
//
//   TRAINYARD_BIN=build/src/cli/trainyard node tests/web/security.test.mjs
//
// Exits 77 (ctest: skipped) when chromium or playwright-core is missing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import {
  SKIP, cleanup, cli, cliOk, createToken, launchChromium, missingPrerequisite, onCleanup, poll,
  startServer, stepper, tempDir, writeProject,
} from './lib.mjs';

const why = missingPrerequisite();
if (why) {
  console.log(`SKIPPED: ${why}`);
  process.exit(SKIP);
}

const EVIL = '<img src=x data-evil=1 onerror="window.__xss=1">';

// Records markup everywhere a run can; with $GATE it then waits for that file (or to be canceled).
const TRAIN = `
import os, sys, time
from trainyard import Run
run = Run.get_context()
evil = os.environ["EVIL"]
print("log line " + evil + " <script>window.__xss=2</script>", flush=True)
run.log(evil, 1.0)
run.log(evil, 2.0)
run.log("loss", 0.5)
os.makedirs("outputs", exist_ok=True)
with open(os.path.join("outputs", "x" + evil.replace("/", "") + ".txt"), "w") as f:
    f.write("evil file")
run.flush()
print("RECORDED", flush=True)
gate = os.environ.get("GATE")
deadline = time.time() + 120
while gate and not os.path.exists(gate) and time.time() < deadline:
    time.sleep(0.05)
`;

const tmp = tempDir('ty-web-sec-');
const ws = path.join(tmp, 'ws');
let page = null;
const steps = stepper(tmp, () => page);
const { step } = steps;

// No element parsed from recorded markup on the page, and no script ran from it.
async function assertNoInjection(where) {
  const found = await page.evaluate(() => ({
    evil: document.querySelectorAll('[data-evil], img[src="x"]').length,
    inlineScripts: [...document.querySelectorAll('script')].filter((s) => !s.src).length,
    xss: window.__xss ?? null,
  }));
  assert.deepEqual(found, { evil: 0, inlineScripts: 0, xss: null }, `markup took effect on ${where}`);
}

// A tiny page server on another port: another origin, the same site (127.0.0.1).
async function startEvilOrigin(target) {
  // GET /?post=/api/v1/PATH: a page with a form that POSTs there (form posts are navigations,
  // so the page sees the server's status, unlike a no-cors fetch that CORP blocks).
  const server = http.createServer((req, res) => {
    const post = new URL(req.url, 'http://x').searchParams.get('post') ?? '/api/v1/logout';
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(`<!doctype html><title>elsewhere</title>
<form id=f method=POST action="${target}${post}"></form>
<iframe id=frame src="${target}/"></iframe>`);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  onCleanup(() => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${server.address().port}`;
}

async function main() {
  const reader = await createToken(ws, 'reader', 'read');
  const submitter = await createToken(ws, 'submitter', 'submit');
  const { url } = await startServer(ws);
  console.log(`server at ${url}, workspace ${ws}`);
  const api = async (p, token = reader) => {
    const r = await fetch(url + p, { headers: { Authorization: `Bearer ${token}` } });
    const text = await r.text();
    assert.equal(r.status, 200, `GET ${p}: ${r.status} ${text}`);
    return JSON.parse(text);
  };

  const gate = path.join(tmp, 'gate');
  onCleanup(async () => {
    fs.writeFileSync(gate, '');
    const r = await cli(['--workspace', ws, 'list', '--all', '--json']);
    let runs = [];
    try { runs = JSON.parse(r.stdout); } catch {}
    for (const run of Array.isArray(runs) ? runs : runs.runs || []) {
      if (!['Completed', 'Failed', 'Canceled'].includes(run.status)) {
        await cli(['--workspace', ws, 'cancel', run.id]);
      }
    }
  });

  const project = writeProject(path.join(tmp, 'train'), { 'train.py': TRAIN });
  const submit = async (extraEnv = {}) => {
    const env = { EVIL, ...extraEnv };
    const r = await cliOk(['--workspace', url, 'submit', '--source', project, '--entry', 'train.py',
      '--experiment', 'sec', '--set', `display_name=name ${EVIL}`,
      ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
      '--', '--note', EVIL], { env: { TRAINYARD_TOKEN: submitter } });
    return r.stdout.trim().split('\n').pop().trim();
  };

  const browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  page = await context.newPage();
  const login = async (token) => {
    // Out of any earlier session first (same origin), so that the login page shows.
    await page.goto(`${url}/#/login`);
    await page.evaluate(async () => { await fetch('/api/v1/logout', { method: 'POST' }); });
    await page.reload();
    await page.waitForSelector('[data-testid=login]', { timeout: 15_000 });
    await page.fill('[data-testid=login-token]', token);
    await page.click('[data-testid=login-submit]');
    await page.waitForSelector('[data-testid=login]', { state: 'detached', timeout: 15_000 });
  };

  // Submits the other origin's form to `post` in a page of its own (with the session's cookie);
  // returns the status the server answered.
  const crossOriginPost = async (evil, post) => {
    const p = await context.newPage();
    try {
      await p.goto(`${evil}/?post=${post}`);
      const [response] = await Promise.all([
        p.waitForResponse((r) => r.url() === url + post, { timeout: 15_000 }),
        p.evaluate(() => document.getElementById('f').submit()),
      ]);
      return response.status();
    } finally {
      await p.close();
    }
  };

  let runA, runB;
  await step('markup recorded by runs is shown as text on the run, runs and compare pages', async () => {
    runA = await submit();
    runB = await submit({ GATE: gate });
    await poll(async () => (await api(`/api/v1/runs/${runA}`)).status === 'Completed',
      { timeoutMs: 120_000, what: `run ${runA} to complete` });
    await login(reader);
    await page.goto(`${url}/#/runs/${runA}`);
    await page.waitForSelector(`[data-testid=run-page][data-run-id="${runA}"]`, { timeout: 15_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid=logs]')?.textContent
      .includes('RECORDED'), null, { timeout: 30_000 });
    await page.waitForSelector('[data-testid=chart][data-metric=loss][data-drawn="1"]', { timeout: 30_000 });
    await page.waitForSelector('[data-testid=output-files] a', { timeout: 15_000 });
    const text = await page.textContent('[data-testid=run-page]');
    for (const want of [EVIL, '<script>window.__xss=2</script>']) {
      assert.ok(text.includes(want), `the run page does not show ${want} as text`);
    }
    const metrics = await page.$$eval('[data-testid=chart]', (els) => els.map((e) => e.dataset.metric));
    assert.ok(metrics.includes(EVIL), `metric names: ${metrics}`);
    await assertNoInjection('the run page');

    await page.goto(`${url}/#/runs?experiment=sec`);
    await page.waitForSelector('[data-testid=runs-table][data-total="2"]', { timeout: 15_000 });
    await poll(async () => (await page.$$('[data-testid=run-row]')).length === 2, { what: 'rows' });
    assert.ok((await page.textContent('[data-testid=runs-table]')).includes(EVIL));
    await assertNoInjection('the runs table');

    await page.goto(`${url}/#/compare?runs=${runA},${runB}`);
    await page.waitForSelector('[data-testid=compare] [data-testid=chart][data-drawn="1"]', { timeout: 30_000 });
    await assertNoInjection('the compare page');
  });

  await step('the UI cannot be framed by another origin', async () => {
    const r = await fetch(`${url}/`);
    assert.match(r.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    const evil = await startEvilOrigin(url);
    // The main page's load waits for its frame's; a refused frame holds chromium's error page.
    await page.goto(evil, { waitUntil: 'load' });
    const frame = page.frames().find((f) => f !== page.mainFrame());
    assert.ok(frame, 'no frame');
    assert.ok(!frame.url().startsWith(url), `the frame loaded ${frame.url()}`);
    const framed = await frame.$('[data-testid=login], [data-testid=experiments]').catch(() => null);
    assert.equal(framed, null, 'the UI rendered inside another origin\'s frame');
  });

  await step('another origin cannot log the user out, nor read the API with the cookie', async () => {
    await login(submitter);
    const evil = await startEvilOrigin(url);
    // A cross-origin form POST carries the cookie (same site) and an Origin header.
    const status = await crossOriginPost(evil, '/api/v1/logout');
    assert.equal(status, 403, `cross-origin logout answered ${status}`);
    await page.goto(evil);
    const read = await page.evaluate(async (u) => {
      try {
        const r = await fetch(`${u}/api/v1/runs`, { credentials: 'include' });
        return `read ${r.status}`;
      } catch (e) {
        return 'blocked';
      }
    }, url);
    assert.equal(read, 'blocked', 'a cross-origin read got an answer');
    // Still logged in as the submitter.
    await page.goto(`${url}/#/experiments`);
    await page.waitForSelector('[data-testid=experiments]', { timeout: 15_000 });
    const me = await page.evaluate(async () => (await fetch('/api/v1')).json());
    assert.deepEqual(me.caller, { name: 'submitter', role: 'submit' });
  });

  await step('cancel: refused from another origin and for a read session, done for a submit session', async () => {
    assert.equal((await api(`/api/v1/runs/${runB}`)).status, 'Running');
    const evil = await startEvilOrigin(url);
    const status = await crossOriginPost(evil, `/api/v1/runs/${runB}/cancel`);
    assert.equal(status, 403, `cross-origin cancel answered ${status}`);
    assert.equal((await api(`/api/v1/runs/${runB}`)).status, 'Running', 'a cross-origin POST canceled the run');
    // Same origin, read session: 403.
    await login(reader);
    const asReader = await page.evaluate(async (p) => (await fetch(p, { method: 'POST' })).status,
      `/api/v1/runs/${runB}/cancel`);
    assert.equal(asReader, 403);
    // Same origin, submit session: canceled.
    await login(submitter);
    const asSubmitter = await page.evaluate(async (p) => (await fetch(p, { method: 'POST' })).status,
      `/api/v1/runs/${runB}/cancel`);
    assert.equal(asSubmitter, 200);
    await poll(async () => (await api(`/api/v1/runs/${runB}`)).status === 'Canceled',
      { timeoutMs: 30_000, what: `run ${runB} to be canceled` });
  });
}

let code = 0;
try {
  await main();
} catch (e) {
  code = 1;
  if (!failed) console.log(`not ok - setup\n${e.stack || e}`);
} finally {
  await cleanup();
  if (code === 0) fs.rmSync(tmp, { recursive: true, force: true });
  else console.log(`kept ${tmp}`);
}
process.exit(code);
