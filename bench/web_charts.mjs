// The web UI's run page in chromium with 20 charts of 100,000 points each (issue 17: first chart
// drawn in at most 1.5 s). web_fill records the run through the store API; a real `trainyard
// server` serves it; each repetition opens the run page in a fresh browser context (no cache, a
// new session cookie) and reads, from the page itself:
//   - first chart: window.__tyFirstChartMs, the UI's own mark (performance.now(): milliseconds
//     since the navigation started);
//   - first / all drawn: when a chart's data-drawn became 1 (a MutationObserver installed before
//     the page's scripts run), for the first and for the last of the 20;
//   - the metric series fetched (count and bytes, from the resource timing entries).
// Charts the UI draws only when scrolled into view are scrolled to (the table says so).
//
//   node bench/web_charts.mjs [--metrics 20] [--points 100000] [--reps 3] [--workspace DIR]
//   (TRAINYARD_BIN, WEB_FILL: the binaries; default build/src/cli/trainyard, build/bench/web_fill)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  SOURCE_DIR, BIN, cleanup, createToken, launchChromium, missingPrerequisite, startServer,
  tempDir,
} from '../tests/web/lib.mjs';

const GOAL_MS = 1500;

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const metrics = Number(option('metrics', 20));
const points = Number(option('points', 100000));
const reps = Number(option('reps', 3));
const fill = process.env.WEB_FILL || path.join(SOURCE_DIR, 'build', 'bench', 'web_fill');

const why = missingPrerequisite();
if (why) {
  console.error(`web_charts: ${why}`);
  process.exit(2);
}

// Records, in the page, when charts become drawn (before any of the page's scripts run).
const OBSERVER = `
window.__benchDrawn = [];
new MutationObserver((records) => {
  for (const r of records) {
    const el = r.target;
    if (r.attributeName === 'data-drawn' && el.getAttribute('data-drawn') === '1' &&
        !el.__benchSeen) {
      el.__benchSeen = true;
      window.__benchDrawn.push({ metric: el.getAttribute('data-metric'), at: performance.now() });
    }
  }
}).observe(document, { attributes: true, subtree: true, attributeFilter: ['data-drawn'] });
`;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main() {
  let ws = option('workspace', '');
  let runId;
  let fillSeconds = null;
  if (!ws) {
    ws = path.join(tempDir('ty-web-bench-'), 'ws');
    const t0 = process.hrtime.bigint();
    runId = execFileSync(fill, [ws, String(metrics), String(points)], { encoding: 'utf8' }).trim();
    fillSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  } else {
    // A workspace filled before: its newest run of the web-bench experiment.
    const list = JSON.parse(execFileSync(BIN, ['--workspace', ws, 'list', '--experiment',
      'web-bench', '--json'], { encoding: 'utf8' }));
    runId = (Array.isArray(list) ? list : list.runs)[0].id;
  }
  const token = await createToken(ws, `bench-${process.pid}`, 'read');
  const { url } = await startServer(ws);
  const browser = await launchChromium();

  // The API calls the run page makes before its first chart, timed alone (median of 3).
  const apiTimes = [];
  for (const p of [`/api/v1/runs/${runId}`, `/api/v1/runs/${runId}/metrics`,
    `/api/v1/runs/${runId}/metrics/metric_00?points=400`]) {
    const ms = [];
    for (let i = 0; i < 3; ++i) {
      const t = performance.now();
      const r = await fetch(url + p, { headers: { Authorization: `Bearer ${token}` } });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`GET ${p}: ${r.status}`);
      ms.push(performance.now() - t);
    }
    apiTimes.push(`GET ${p.replace(runId, '{id}')}: ${median(ms).toFixed(0)} ms`);
  }

  const rows = [];
  // Each repetition twice: as served, then with GET /api/v1/runs/{id} answered by the browser
  // from a copy fetched before (what is left of the time once that call costs nothing).
  const runPath = `/api/v1/runs/${runId}`;
  const runJson = await (await fetch(url + runPath, { headers: { Authorization: `Bearer ${token}` } })).text();
  for (let i = 0; i < 2 * reps; ++i) {
    const rep = Math.floor(i / 2) + 1;
    const cached = i % 2 === 1;
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const login = await context.request.post(`${url}/api/v1/login`, { data: { token } });
    if (login.status() !== 200) throw new Error(`login: ${login.status()} ${await login.text()}`);
    await context.addInitScript(OBSERVER);
    if (cached) {
      await context.route((u) => u.pathname === runPath,
        (route) => route.fulfill({ status: 200, contentType: 'application/json', body: runJson }));
    }
    const page = await context.newPage();
    const t0 = Date.now();
    await page.goto(`${url}/#/runs/${runId}`);
    await page.waitForFunction(() => window.__tyFirstChartMs !== undefined, null,
      { timeout: 120_000, polling: 50 });
    let scrolled = false;
    const allDrawn = () => page.evaluate((n) => window.__benchDrawn.length >= n, metrics);
    try {
      await page.waitForFunction((n) => window.__benchDrawn.length >= n, metrics,
        { timeout: 20_000, polling: 100 });
    } catch {
      // Charts below the fold may wait to be seen: scroll each into view.
      scrolled = true;
      for (const el of await page.$$('[data-testid=chart]')) {
        await el.scrollIntoViewIfNeeded();
        if (await allDrawn()) break;
      }
      await page.waitForFunction((n) => window.__benchDrawn.length >= n, metrics,
        { timeout: 120_000, polling: 100 });
    }
    const wallMs = Date.now() - t0;
    const m = await page.evaluate(() => {
      const drawn = window.__benchDrawn.map((d) => d.at).sort((a, b) => a - b);
      const series = performance.getEntriesByType('resource')
        .filter((e) => /\/api\/v1\/runs\/[^/]+\/metrics\/[^/?]+/.test(e.name));
      const charts = [...document.querySelectorAll('[data-testid=chart]')];
      return {
        tyFirst: window.__tyFirstChartMs,
        firstDrawn: drawn[0],
        lastDrawn: drawn[drawn.length - 1],
        charts: charts.length,
        plotted: charts.map((c) => Number(c.dataset.points)),
        totals: charts.map((c) => Number(c.dataset.total)),
        downsampled: charts.filter((c) => c.dataset.downsampled === '1').length,
        requests: series.length,
        bytes: series.reduce((s, e) => s + (e.encodedBodySize || e.transferSize || 0), 0),
        seriesMs: series.length ? Math.max(...series.map((e) => e.responseEnd - e.startTime)) : 0,
        // Where the time to the first chart goes: the page and its scripts, then the API calls
        // before the first series is asked for, then the first series' answer.
        domReady: performance.getEntriesByType('navigation')[0]?.domContentLoadedEventEnd ?? 0,
        firstAsked: series.length ? Math.min(...series.map((e) => e.startTime)) : 0,
        firstAnswered: series.length ? Math.min(...series.map((e) => e.responseEnd)) : 0,
      };
    });
    rows.push({ rep, cached, wallMs, scrolled, ...m });
    await context.close();
  }

  const host = `${os.cpus().length} vCPU ${os.cpus()[0].model.trim()}`;
  const out = [];
  out.push(`web charts: a run page with ${metrics} charts x ${points} points, chromium ${browser.version()} headless`);
  out.push(`machine: ${host}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}; ${new Date().toISOString()}`);
  if (fillSeconds !== null) out.push(`fill (web_fill, ${metrics * points} points): ${fillSeconds.toFixed(1)} s`);
  out.push(`API alone (median of 3): ${apiTimes.join('; ')}`);
  out.push('');
  out.push('rep | run JSON | first chart (__tyFirstChartMs) | first data-drawn | all drawn | page ready | first series asked | first series answered | charts | points plotted/chart | series total/chart | downsampled | series fetched | bytes | slowest series');
  for (const r of rows) {
    const pts = [...new Set(r.plotted)].join('/');
    const tot = [...new Set(r.totals)].join('/');
    out.push(`${r.rep} | ${r.cached ? 'cached' : 'served'} | ${r.tyFirst.toFixed(0)} ms | ${r.firstDrawn.toFixed(0)} ms | ${r.lastDrawn.toFixed(0)} ms${r.scrolled ? ' (scrolled)' : ''} | ${r.domReady.toFixed(0)} ms | ${r.firstAsked.toFixed(0)} ms | ${r.firstAnswered.toFixed(0)} ms | ${r.charts} | ${pts} | ${tot} | ${r.downsampled} | ${r.requests} | ${(r.bytes / 1024).toFixed(0)} KiB | ${r.seriesMs.toFixed(0)} ms`);
  }
  out.push('');
  for (const cached of [false, true]) {
    const sel = rows.filter((r) => r.cached === cached);
    const med = median(sel.map((r) => r.tyFirst));
    const medAll = median(sel.map((r) => r.lastDrawn));
    out.push(`${cached ? 'run JSON cached in the browser' : 'as served'}: median first chart ${med.toFixed(0)} ms (goal <= ${GOAL_MS} ms: ${med <= GOAL_MS ? 'met' : 'NOT met'}); median all ${metrics} drawn ${medAll.toFixed(0)} ms`);
  }
  out.push('MLflow, published (issue 17 quoting #1517, #1571): about a minute for 500 runs; lists slow beyond 10,000 metric rows per run (here: ' + `${metrics * points} points in one run)`);
  console.log(out.join('\n'));
  if (!option('workspace', '')) fs.rmSync(path.dirname(ws), { recursive: true, force: true });
}

let code = 0;
try {
  await main();
} catch (e) {
  console.error(e.stack || String(e));
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);
