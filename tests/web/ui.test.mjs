// The web UI in a real browser (issue 17): Debian's chromium driven by playwright-core against a
// real `trainyard server` on a free port over a fresh workspace, with runs and a sweep made by the
// real CLI. Steps run in order and share the server, the browser and the runs; the first failure
// stops the test, saves a screenshot and the page's HTML next to the workspace (kept on failure)
// and exits 1. Every process started here (server, chromium, runs) is stopped at the end.
//
//   TRAINYARD_BIN=build/src/cli/trainyard node tests/web/ui.test.mjs
//
// Exits 77 (ctest: skipped) when chromium or playwright-core is missing, saying which.
// TY_WEB_LOCAL_SUBMIT=1 submits the runs into the workspace folder instead of through the server.
import assert from 'node:assert/strict';
import fs from 'node:fs';
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

const PYTHON = '/usr/bin/python3';
const POINTS = 50;  // loss values each run logs
const FINE = 5000;  // points of run B's "fine" metric

// Logs `loss` = lr * 10 / (i + 1) for i < --epochs (so the last value orders runs by lr), prints a
// line per epoch, writes outputs/result.txt. With $GATE it first waits for that file: the test
// opens the run page while the run is Running, then lets it finish.
const TRAIN = `
import math, os, sys, time
from trainyard import Run
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
lr, epochs = float(args["--lr"]), int(args["--epochs"])
gate = os.environ.get("GATE")
if gate:
    print("waiting for the gate", flush=True)
    deadline = time.time() + 120
    while not os.path.exists(gate) and time.time() < deadline:
        time.sleep(0.05)
run = Run.get_context()
half = os.environ.get("HALF_GATE")
for i in range(epochs):
    if half and i == 10:
        # The first 10 points are stored; wait while the test watches the chart grow.
        run.flush()
        print("ten points logged", flush=True)
        deadline = time.time() + 120
        while not os.path.exists(half) and time.time() < deadline:
            time.sleep(0.05)
    run.log("loss", lr * 10 / (i + 1))
    print("epoch %d loss %.6f" % (i, lr * 10 / (i + 1)), flush=True)
# $FINE points of "fine": more than a chart is wide (downsampled per pixel), one spike.
for i in range(int(os.environ.get("FINE", "0"))):
    run.log("fine", math.sin(i / 100.0) + (5.0 if i == 2500 else 0.0))
os.makedirs("outputs", exist_ok=True)
with open("outputs/result.txt", "w") as f:
    f.write("lr=%s\\n" % lr)
print("TRAINING DONE", flush=True)
`;

// A sweep trial: --quality q logs acc = q. The good trial (q >= 0.5) logs 3 intervals and marks
// $MARK_DIR/good; the bad one waits for that mark, logs once and sleeps, so that the bandit
// policy (which compares with every trial that reached the interval, completed ones included)
// stops it deterministically.
const TRIAL = `
import os, sys, time
from trainyard import Run
q = float(sys.argv[sys.argv.index("--quality") + 1])
run = Run.get_context()
mark = os.path.join(os.environ["MARK_DIR"], "good")
if q >= 0.5:
    for step in range(3):
        run.log("acc", q, step=step)
    run.flush()
    open(mark, "w").close()
else:
    deadline = time.time() + 120
    while not os.path.exists(mark) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    run.log("acc", q, step=0)
    time.sleep(90)
`;

// Grid order puts the bad trial first (index 0), so "best first" is not the submission order.
const SWEEP = `
type: sweep
trial:
  command: python t.py --quality \${{search_space.quality}}
  code: .
  environment: {python: ${PYTHON}}
search_space:
  quality: {type: choice, values: [0.1, 0.9]}
sampling_algorithm: grid
objective: {primary_metric: acc, goal: maximize}
early_termination: {type: bandit, slack_factor: 0.1, evaluation_interval: 1}
limits: {max_concurrent_trials: 2}
experiment_name: web-sweep
`;

const tmp = tempDir('ty-web-');
const ws = path.join(tmp, 'ws');
let page = null;
const steps = stepper(tmp, () => page);
const { step } = steps;

// The run ids of the runs table's rows, top to bottom.
async function tableOrder() {
  return page.$$eval('[data-testid=run-row]', (rows) => rows.map((r) => r.dataset.runId));
}

// Waits until the run page's element `testid` contains `text`; fails at once, with the page's
// logs, when the run page shows the run Failed or Canceled instead.
async function waitForRunText(testid, text, timeoutMs) {
  const handle = await page.waitForFunction(([id, t]) => {
    const status = document.querySelector('[data-testid=run-page] [data-testid=run-status]')
      ?.textContent.trim();
    if (document.querySelector(`[data-testid=${id}]`)?.textContent.includes(t)) return 'ok';
    if (status === 'Failed' || status === 'Canceled') return status;
    return false;
  }, [testid, text], { timeout: timeoutMs });
  const r = await handle.jsonValue();
  if (r !== 'ok') {
    const logs = await page.textContent('[data-testid=logs]').catch(() => '');
    throw new Error(`the run ended ${r} before its ${testid} showed "${text}"; logs:\n${logs}`);
  }
}

async function attr(selector, name) {
  return page.getAttribute(selector, name);
}

async function main() {
  const reader = await createToken(ws, 'reader', 'read');
  const submitter = await createToken(ws, 'submitter', 'submit');
  const server = await startServer(ws);
  const { url } = server;
  console.log(`server at ${url}, workspace ${ws}`);
  const api = async (p, token = reader) => {
    const r = await fetch(url + p, { headers: { Authorization: `Bearer ${token}` } });
    const text = await r.text();
    assert.equal(r.status, 200, `GET ${p}: ${r.status} ${text}`);
    return JSON.parse(text);
  };

  // Runs started here are canceled at the end (before the server stops), gates opened.
  const gates = [];
  onCleanup(async () => {
    for (const g of gates) fs.writeFileSync(g, '');
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
  const local = process.env.TY_WEB_LOCAL_SUBMIT === '1';
  const submit = async (lr, env = {}) => {
    const where = local ? ws : url;
    const envArgs = Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
    const r = await cliOk(['--workspace', where, 'submit', '--source', project, '--entry', 'train.py',
      '--experiment', 'web', ...envArgs, '--', '--lr', String(lr), '--epochs', String(POINTS)],
    { env: local ? {} : { TRAINYARD_TOKEN: submitter } });
    return r.stdout.trim().split('\n').pop().trim();
  };
  const waitEnded = (id) => poll(async () => {
    const run = await api(`/api/v1/runs/${id}`);
    if (['Failed', 'Canceled'].includes(run.status)) {
      throw new Error(`run ${id} ended ${run.status}: ${run.error || run.status_detail || ''}`);
    }
    return run.status === 'Completed' && run;
  }, { timeoutMs: 120_000, what: `run ${id} to complete` });

  const browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  page = await context.newPage();
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  await step('the API refuses a request without a token, and knows the reader', async () => {
    const r = await fetch(`${url}/api/v1`);
    assert.equal(r.status, 401);
    const me = await api('/api/v1');
    assert.equal(me.api, 1);
    assert.deepEqual(me.caller, { name: 'reader', role: 'read' });
  });

  await step('without a session every route shows the login page', async () => {
    for (const route of ['/', '/#/experiments', '/#/runs/none_1_00000000', '/#/compare?runs=a,b']) {
      await page.goto(url + route);
      await page.waitForSelector('[data-testid=login]', { timeout: 15_000 });
      assert.equal(await page.$('[data-testid=experiments]'), null, `${route} showed experiments`);
    }
  });

  await step('a wrong token is refused on the login page', async () => {
    await page.fill('[data-testid=login-token]', 'ty_' + 'A'.repeat(43));
    await page.click('[data-testid=login-submit]');
    await page.waitForSelector('[data-testid=login-error]', { state: 'visible', timeout: 15_000 });
    assert.ok(await page.isVisible('[data-testid=login]'));
  });

  await step('logging in with a read token opens the experiments', async () => {
    await page.fill('[data-testid=login-token]', reader);
    await page.click('[data-testid=login-submit]');
    await page.waitForSelector('[data-testid=login]', { state: 'detached', timeout: 15_000 });
    await page.goto(`${url}/#/experiments`);
    await page.waitForSelector('[data-testid=experiments]', { timeout: 15_000 });
    // The session is a cookie the page's scripts cannot read.
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'trainyard_session');
    assert.ok(session, `no trainyard_session cookie: ${JSON.stringify(cookies)}`);
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(await page.evaluate(() => document.cookie.includes('trainyard_session')), false);
  });

  const gate = path.join(tmp, 'gate-a');
  const half = path.join(tmp, 'half-a');
  gates.push(gate, half);
  let runA;
  await step(`a run submitted with the CLI ${local ? '(into the folder)' : 'through the server'} reaches Completed on its page without a reload, its chart growing live`, async () => {
    runA = await submit(0.01, { GATE: gate, HALF_GATE: half });
    await page.goto(`${url}/#/runs/${runA}`);
    await page.waitForSelector(`[data-testid=run-page][data-run-id="${runA}"]`, { timeout: 15_000 });
    await page.evaluate(() => { window.__tyNoReload = 1; });
    // Live logs while the run waits at its gate, then the status moves on by itself.
    await waitForRunText('logs', 'waiting for the gate', 90_000);
    const before = (await page.textContent('[data-testid=run-status]')).trim();
    assert.notEqual(before, 'Completed');
    fs.writeFileSync(gate, '');
    // Halfway: the chart appears with the 10 points stored so far, without a reload.
    await waitForRunText('logs', 'ten points logged', 60_000);
    const chart = '[data-testid=chart][data-metric=loss]';
    await page.waitForSelector(`${chart}[data-drawn="1"][data-points="10"][data-total="10"]`,
      { timeout: 30_000 });
    assert.equal(await page.textContent('[data-testid=run-status]').then((t) => t.trim()), 'Running');
    fs.writeFileSync(half, '');
    await waitForRunText('run-status', 'Completed', 90_000);
    await page.waitForSelector(`${chart}[data-points="${POINTS}"][data-total="${POINTS}"]`,
      { timeout: 30_000 });
    assert.equal(await page.evaluate(() => window.__tyNoReload), 1, 'the page was reloaded');
    await page.waitForFunction(() => document.querySelector('[data-testid=logs]')?.textContent
      .includes('TRAINING DONE'), null, { timeout: 30_000 });
    const timeline = await page.textContent('[data-testid=status-timeline]');
    for (const s of ['Running', 'Completed']) assert.ok(timeline.includes(s), `timeline: ${timeline}`);
    // The output file the script wrote at its end is listed once the run ended, still no reload.
    await page.waitForFunction(() => document.querySelector('[data-testid=output-files]')
      ?.textContent.includes('outputs/result.txt'), null, { timeout: 15_000 });
  });

  await step('the run page shows argv, params, snapshot and output files', async () => {
    // Opened again (a route change, not a reload): a page opened on an ended run.
    await page.goto(`${url}/#/experiments`);
    await page.waitForSelector('[data-testid=experiments]', { timeout: 15_000 });
    await page.goto(`${url}/#/runs/${runA}`);
    await page.waitForSelector(`[data-testid=run-page][data-run-id="${runA}"]`, { timeout: 15_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid=argv]')?.textContent
      .includes('--lr'), null, { timeout: 15_000 });
    const argv = await page.textContent('[data-testid=argv]');
    assert.ok(argv.includes('0.01') && argv.includes('train.py'), `argv: ${argv}`);
    await page.waitForFunction(() => document.querySelector('[data-testid=snapshot-files]')
      ?.textContent.includes('train.py'), null, { timeout: 15_000 });
    await page.waitForSelector('[data-testid=output-files] a', { timeout: 15_000 });
    const hrefs = await page.$$eval('[data-testid=output-files] a', (as) => as.map((a) => a.href));
    const result = hrefs.find((h) => h.includes('outputs/result.txt'));
    assert.ok(result, `output links: ${hrefs}`);
    // The link downloads the file with the session cookie alone.
    const body = await page.evaluate(async (h) => (await fetch(h)).text(), result);
    assert.equal(body, 'lr=0.01\n');
  });

  await step(`the loss chart plots all ${POINTS} logged points`, async () => {
    const chart = '[data-testid=chart][data-metric=loss]';
    await page.waitForSelector(`${chart}[data-drawn="1"][data-points="${POINTS}"]`, { timeout: 30_000 });
    assert.equal(await attr(chart, 'data-total'), String(POINTS));
    assert.equal(await attr(chart, 'data-downsampled'), '0');
    // And the server agrees on the series.
    const series = await api(`/api/v1/runs/${runA}/metrics/loss`);
    assert.equal(series.total, POINTS);
    assert.equal(series.value.length, POINTS);
    assert.ok(Math.abs(series.value[POINTS - 1] - 0.01 * 10 / POINTS) < 1e-12, series.value);
  });

  let runB, runC;
  await step('the experiments page leads to the runs table of the experiment\'s runs', async () => {
    runB = await submit(0.1, { FINE: String(FINE) });
    runC = await submit(0.05);
    await waitEnded(runB);
    await waitEnded(runC);
    await page.goto(`${url}/#/experiments`);
    await page.click('[data-testid=experiment-row][data-name=web] a', { timeout: 15_000 });
    await page.waitForURL(/#\/runs\?experiment=web$/, { timeout: 15_000 });
    await page.waitForSelector('[data-testid=runs-table][data-total="3"]', { timeout: 15_000 });
    await poll(async () => (await tableOrder()).length === 3, { what: '3 rows' });
    const status = await page.textContent(`[data-testid=run-row][data-run-id="${runB}"] [data-testid=run-status]`);
    assert.equal(status.trim(), 'Completed');
  });

  await step('the runs table sorts by a metric, both ways', async () => {
    // Last loss: A 0.002 < C 0.01 < B 0.02; creation order is A, B, C.
    const asc = [runA, runC, runB];
    const desc = [runB, runC, runA];
    const key = (o) => o.join(',');
    await page.click('[data-testid="sort-metrics.loss"]');
    const first = await poll(async () => {
      const o = key(await tableOrder());
      return (o === key(asc) || o === key(desc)) && o;
    }, { timeoutMs: 15_000, what: 'rows sorted by loss' }).catch(async (e) => {
      throw new Error(`${e.message}; order: ${await tableOrder()} (asc ${asc})`);
    });
    await page.click('[data-testid="sort-metrics.loss"]');
    const other = first === key(asc) ? key(desc) : key(asc);
    await poll(async () => key(await tableOrder()) === other,
      { timeoutMs: 15_000, what: 'rows sorted by loss the other way' }).catch(async (e) => {
      throw new Error(`${e.message}; order: ${await tableOrder()} (want ${other})`);
    });
  });

  await step('the metric columns switch to each run\'s largest value and sort by it', async () => {
    // Loss falls in every run: its largest value is its first (lr * 10), not its last.
    const rows = (await api('/api/v1/runs?experiment=web&limit=10')).runs;
    const max = Object.fromEntries(rows.map((r) => [r.id, r.metrics.loss.max]));
    const last = Object.fromEntries(rows.map((r) => [r.id, r.metrics.loss.last]));
    const created = [runA, runB, runC];
    // The server's order: by the value, ties by submission order, either way.
    const by = (sign) => [...created].sort((a, b) =>
      sign * (max[a] - max[b]) || created.indexOf(a) - created.indexOf(b)).join(',');
    const asc = by(1), desc = by(-1);
    await page.selectOption('[data-testid=runs-metric-value]', 'max');
    await page.waitForURL(/value=max/, { timeout: 15_000 });
    const header = '[data-testid="sort-metrics.loss.max"]';
    await page.waitForSelector(header, { timeout: 15_000 });
    assert.match(await page.textContent(header), /loss \(max\)/);
    await page.click(header);
    const first = await poll(async () => {
      const o = (await tableOrder()).join(',');
      return (o === asc || o === desc) && o;
    }, { timeoutMs: 15_000, what: 'rows sorted by the largest loss' }).catch(async (e) => {
      throw new Error(`${e.message}; order: ${await tableOrder()} (asc ${asc}, max ${JSON.stringify(max)})`);
    });
    await page.click(header);
    const other = first === asc ? desc : asc;
    await poll(async () => (await tableOrder()).join(',') === other,
      { timeoutMs: 15_000, what: 'rows sorted by the largest loss the other way' });
    // Each row's loss cell shows its largest value (to the 6 digits shown), not its last.
    const cell = Number((await page.textContent(
      `[data-testid=run-row][data-run-id="${runA}"] [data-col="metrics.loss.max"]`)).trim());
    assert.ok(Math.abs(cell - max[runA]) <= 1e-5 * Math.abs(max[runA]), `A's cell ${cell}, max ${max[runA]}`);
    assert.ok(Math.abs(max[runA] - last[runA]) > 1e-3 * Math.abs(max[runA]), 'max and last differ');
    await page.selectOption('[data-testid=runs-metric-value]', 'last');
    await page.waitForSelector('[data-testid="sort-metrics.loss"]', { timeout: 15_000 });
  });

  await step('two runs selected in the table are compared: two series, the differing param', async () => {
    await page.check(`[data-testid=run-select][data-run-id="${runA}"]`);
    await page.check(`[data-testid=run-select][data-run-id="${runB}"]`);
    await page.click('[data-testid=compare-button]');
    await page.waitForSelector('[data-testid=compare]', { timeout: 15_000 });
    assert.match(page.url(), /#\/compare\?runs=/);
    await page.waitForSelector(
      '[data-testid=compare] [data-testid=chart][data-metric=loss][data-drawn="1"][data-series="2"]',
      { timeout: 30_000 });
    const rows = await page.$$eval('[data-testid=param-diff] [data-param]',
      (els) => els.map((e) => ({ name: e.dataset.param, text: e.textContent })));
    const lr = rows.find((r) => /lr/.test(r.name));
    assert.ok(lr, `no lr row in the param diff: ${JSON.stringify(rows)}`);
    assert.ok(lr.text.includes('0.01') && lr.text.includes('0.1'), JSON.stringify(lr));
    assert.ok(!rows.some((r) => /epochs/.test(r.name)), `equal params listed: ${JSON.stringify(rows)}`);
  });

  await step(`a ${FINE}-point series is downsampled per pixel, and a zoom fetches its range at full resolution`, async () => {
    const chart = '[data-testid=chart][data-metric=fine]';
    await page.goto(`${url}/#/runs/${runB}`);
    await page.waitForSelector(`${chart}[data-drawn="1"][data-downsampled="1"]`, { timeout: 30_000 });
    assert.equal(await attr(chart, 'data-total'), String(FINE));
    const plotted = Number(await attr(chart, 'data-points'));
    assert.ok(plotted >= 50 && plotted <= 1400, `plotted ${plotted} of ${FINE}`);
    // The spike at step 2500 (sin(25) + 5, the only value above 1) survives the downsampling:
    // each bucket keeps its min and max.
    const coarse = await api(`/api/v1/runs/${runB}/metrics/fine?points=100`);
    assert.equal(coarse.downsampled, true);
    assert.ok(coarse.step.length <= 100 && Math.max(...coarse.max) > 4.5, JSON.stringify(coarse.max));
    // Drag across 5% of the plot: about 250 steps, fewer than the chart's width.
    const box = await page.locator(`${chart} .u-over`).boundingBox();
    const y = box.y + box.height / 2;
    await page.mouse.move(box.x + box.width * 0.40, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.45, y, { steps: 8 });
    await page.mouse.up();
    await page.waitForSelector(`${chart}[data-downsampled="0"]`, { timeout: 15_000 });
    const total = Number(await attr(chart, 'data-total'));
    assert.ok(total > 50 && total < 1000, `zoomed range holds ${total} points`);
    assert.equal(await attr(chart, 'data-points'), String(total));
    // A double click goes back to the whole series.
    await page.dblclick(`${chart} .u-over`);
    await page.waitForSelector(`${chart}[data-downsampled="1"][data-total="${FINE}"]`, { timeout: 15_000 });
  });

  let sweepId;
  await step('a sweep page lists trials best first and marks the one the policy stopped', async () => {
    // Both trials at once: the bad one waits for the good one's mark.
    await cliOk(['--workspace', ws, 'target', 'add', 'local', '--type', 'local', '-o',
      'max_concurrent_runs=2']);
    const marks = path.join(tmp, 'marks');
    fs.mkdirSync(marks);
    const dir = writeProject(path.join(tmp, 'sweep'), { 't.py': TRIAL, 'sweep.yml': SWEEP });
    const r = await cli(['--workspace', ws, 'sweep', 'submit', path.join(dir, 'sweep.yml'),
      '--wait', '--json', '--env', `MARK_DIR=${marks}`], { timeoutMs: 240_000 });
    let shown;
    try { shown = JSON.parse(r.stdout); } catch {
      throw new Error(`sweep submit exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
    }
    sweepId = shown.id;
    assert.equal(shown.status, 'Completed', r.stdout);
    await page.goto(`${url}/#/sweeps/${sweepId}`);
    await page.waitForSelector(`[data-testid=sweep][data-run-id="${sweepId}"]`, { timeout: 15_000 });
    await poll(async () => (await page.$$('[data-testid=trial-row]')).length === 2,
      { timeoutMs: 15_000, what: 'two trial rows' });
    const rows = await page.$$eval('[data-testid=trial-row]', (els) => els.map((e) => ({
      index: e.dataset.trialIndex, stopped: e.dataset.stopped, text: e.textContent })));
    assert.deepEqual(rows.map((r) => [r.index, r.stopped]), [['1', '0'], ['0', '1']],
      JSON.stringify(rows));
    assert.ok(rows[1].text.includes('bandit'), `no reason on the stopped row: ${rows[1].text}`);
    const api_ = await api(`/api/v1/sweeps/${sweepId}`);
    assert.deepEqual(api_.trials.map((t) => t.trial_index), [1, 0]);
    await page.waitForSelector('[data-testid=parallel-coords]', { timeout: 15_000 });
    await page.waitForSelector('[data-testid=best-so-far][data-drawn="1"]', { timeout: 15_000 });
  });

  await step('models and deployments pages open', async () => {
    await page.goto(`${url}/#/models`);
    await page.waitForSelector('[data-testid=models-table]', { timeout: 15_000 });
    await page.goto(`${url}/#/deployments`);
    await page.waitForSelector('[data-testid=deployments-table]', { timeout: 15_000 });
  });

  await step('logging out shows the login page again', async () => {
    await page.click('[data-testid=logout]');
    await page.waitForSelector('[data-testid=login]', { timeout: 15_000 });
    await page.goto(`${url}/#/experiments`);
    await page.reload();
    await page.waitForSelector('[data-testid=login]', { timeout: 15_000 });
  });

  await step('no uncaught errors in the page', async () => {
    assert.deepEqual(consoleErrors, []);
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
  if (!steps.failed && code === 0) fs.rmSync(tmp, { recursive: true, force: true });
  else console.log(`kept ${tmp}`);
}
process.exit(code);
