// The web UI's runs table at 10,000 runs in chromium (issue 17: "a runs table that stays fast at
// 10,000 runs": server-side sort and paging, virtualized rows). `web_fill WS --runs N` records the
// runs (parameters --lr/--batch, 20 metrics of 5 points); a real `trainyard server` serves them;
// each repetition opens `#/runs?experiment=web-runs` in a fresh browser context and times, in the
// page (performance.now()):
//   - table shown: from the navigation's start to the first rows with data-total=N;
//   - sort by a metric: from the header's click to the first row being the API's first row for
//     that order (checked against GET /api/v1/runs?sort=...&limit=1);
//   - scroll to the end: from setting scrollTop to the bottom to the last run's row in the DOM;
// and counts the rows in the DOM (virtualized: a screenful, not N).
//
//   node bench/web_charts_table.mjs [--runs 10000] [--reps 3] [--workspace DIR]
//   (TRAINYARD_BIN, WEB_FILL: the binaries; default build/src/cli/trainyard, build/bench/web_fill)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  SOURCE_DIR, cleanup, createToken, launchChromium, missingPrerequisite, startServer, tempDir,
} from '../tests/web/lib.mjs';

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const runs = Number(option('runs', 10000));
const reps = Number(option('reps', 3));
const fill = process.env.WEB_FILL || path.join(SOURCE_DIR, 'build', 'bench', 'web_fill');
const EXPERIMENT = 'web-runs';
const METRIC = 'metric_00';

const why = missingPrerequisite();
if (why) {
  console.error(`web_charts_table: ${why}`);
  process.exit(2);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main() {
  let ws = option('workspace', '');
  let fillSeconds = null;
  const ownWorkspace = !ws;
  if (ownWorkspace) {
    ws = path.join(tempDir('ty-web-table-'), 'ws');
    const t0 = process.hrtime.bigint();
    execFileSync(fill, [ws, '--runs', String(runs)], { encoding: 'utf8' });
    fillSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  const token = await createToken(ws, `bench-${process.pid}`, 'read');
  const { url } = await startServer(ws);
  const auth = { headers: { Authorization: `Bearer ${token}` } };
  const getJson = async (p) => {
    const r = await fetch(url + p, auth);
    if (r.status !== 200) throw new Error(`GET ${p}: ${r.status} ${await r.text()}`);
    return r.json();
  };

  // The first page sorted by the metric, timed alone (median of 3), and the expected first rows.
  const listPath = (order, limit) =>
    `/api/v1/runs?experiment=${EXPERIMENT}&sort=metrics.${METRIC}&order=${order}&limit=${limit}`;
  const apiMs = [];
  for (let i = 0; i < 3; ++i) {
    const t = performance.now();
    await getJson(listPath('desc', 50));
    apiMs.push(performance.now() - t);
  }
  const firstOf = {
    asc: (await getJson(listPath('asc', 1))).runs[0].id,
    desc: (await getJson(listPath('desc', 1))).runs[0].id,
  };
  const total = (await getJson(`/api/v1/runs?experiment=${EXPERIMENT}&limit=1`)).total;

  const browser = await launchChromium();
  const rows = [];
  for (let rep = 1; rep <= reps; ++rep) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const login = await context.request.post(`${url}/api/v1/login`, { data: { token } });
    if (login.status() !== 200) throw new Error(`login: ${login.status()}`);
    const page = await context.newPage();
    await page.goto(`${url}/#/runs?experiment=${EXPERIMENT}`);
    const shown = await (await page.waitForFunction((n) => {
      const t = document.querySelector('[data-testid=runs-table]');
      return t?.dataset.total === String(n) && document.querySelector('[data-testid=run-row]') &&
        performance.now();
    }, total, { timeout: 120_000, polling: 'raf' })).jsonValue();
    const domRows = await page.$$eval('[data-testid=run-row]', (els) => els.length);

    // Sort: time from the click to the expected first row (either order; the UI picks).
    const sort = await page.evaluate(async ({ metric, firstOf }) => {
      const header = document.querySelector(`[data-testid="sort-metrics.${metric}"]`);
      const t0 = performance.now();
      header.click();
      return new Promise((resolve, reject) => {
        const deadline = t0 + 60_000;
        const check = () => {
          const h = document.querySelector(`[data-testid="sort-metrics.${metric}"]`);
          const first = document.querySelector('[data-testid=run-row][aria-rowindex="2"]');
          const order = h?.getAttribute('aria-sort') === 'ascending' ? 'asc' : 'desc';
          if (h?.getAttribute('aria-sort') !== 'none' && first?.dataset.runId === firstOf[order]) {
            resolve({ ms: performance.now() - t0, order });
          } else if (performance.now() > deadline) {
            reject(new Error(`sorted first row ${first?.dataset.runId}, want ${firstOf[order]}`));
          } else {
            requestAnimationFrame(check);
          }
        };
        check();
      });
    }, { metric: METRIC, firstOf });

    // Scroll to the end: the last run's row (aria-rowindex = total + 1) appears.
    const scroll = await page.evaluate(async (n) => {
      const scroller = document.querySelector('[data-testid=runs-table] .vscroll');
      const t0 = performance.now();
      scroller.scrollTop = scroller.scrollHeight;
      return new Promise((resolve, reject) => {
        const check = () => {
          if (document.querySelector(`[data-testid=run-row][aria-rowindex="${n + 1}"]`)) {
            resolve(performance.now() - t0);
          } else if (performance.now() - t0 > 60_000) {
            reject(new Error('the last row never appeared'));
          } else {
            requestAnimationFrame(check);
          }
        };
        check();
      });
    }, total);
    const domRowsEnd = await page.$$eval('[data-testid=run-row]', (els) => els.length);
    rows.push({ rep, shown, domRows, sortMs: sort.ms, order: sort.order, scroll, domRowsEnd });
    await context.close();
  }

  const out = [];
  out.push(`web runs table: ${total} runs x 20 metrics, chromium ${browser.version()} headless`);
  out.push(`machine: ${os.cpus().length} vCPU ${os.cpus()[0].model.trim()}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}; ${new Date().toISOString()}`);
  if (fillSeconds !== null) out.push(`fill (web_fill --runs ${runs}): ${fillSeconds.toFixed(1)} s`);
  out.push(`API alone: first page (50) sorted by metrics.${METRIC}: ${median(apiMs).toFixed(0)} ms (median of 3, HTTP from node)`);
  out.push('');
  out.push('rep | table shown (from navigation) | rows in DOM | sort by a metric (click to sorted rows) | scroll to the last row | rows in DOM at the end');
  for (const r of rows) {
    out.push(`${r.rep} | ${r.shown.toFixed(0)} ms | ${r.domRows} | ${r.sortMs.toFixed(0)} ms (${r.order}) | ${r.scroll.toFixed(0)} ms | ${r.domRowsEnd}`);
  }
  out.push('');
  out.push(`median: shown ${median(rows.map((r) => r.shown)).toFixed(0)} ms, sort ${median(rows.map((r) => r.sortMs)).toFixed(0)} ms, scroll to the end ${median(rows.map((r) => r.scroll)).toFixed(0)} ms`);
  out.push('MLflow, published (issue 17 quoting #1517): about a minute for 500 runs');
  console.log(out.join('\n'));
  if (ownWorkspace) fs.rmSync(path.dirname(ws), { recursive: true, force: true });
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
