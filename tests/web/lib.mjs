// Shared by the browser tests (tests/web/*.test.mjs) and the chart benchmark (bench/web_charts.mjs):
// finding playwright-core and chromium, a real `trainyard server` on a free port over a temporary
// workspace, the CLI, and cleanup that kills every process started here, also on failure.
import { spawn, execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SOURCE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN =
  process.env.TRAINYARD_BIN || path.join(SOURCE_DIR, 'build', 'src', 'cli', 'trainyard');
export const CHROMIUM = process.env.TRAINYARD_CHROMIUM || '/usr/bin/chromium';

// Exit code ctest reads as "skipped" (SKIP_RETURN_CODE in tests/CMakeLists.txt).
export const SKIP = 77;

// playwright-core comes from the web UI's own npm tree (web/node_modules, a devDependency), or
// from tests/web/node_modules when installed there by hand. Returns null when neither has it.
export function loadPlaywright() {
  for (const dir of [path.join(SOURCE_DIR, 'web'), path.join(SOURCE_DIR, 'tests', 'web')]) {
    const pkg = path.join(dir, 'node_modules', 'playwright-core', 'package.json');
    if (!fs.existsSync(pkg)) continue;
    return createRequire(pkg)('playwright-core');
  }
  return null;
}

// Why the browser tests cannot run here (for a skip message), or null when they can.
export function missingPrerequisite() {
  if (!fs.existsSync(CHROMIUM)) {
    return `${CHROMIUM} not found (Debian package chromium; scripts/setup.sh installs it)`;
  }
  if (!loadPlaywright()) {
    return 'playwright-core not found in web/node_modules (run `npm ci` in web/, as scripts/setup.sh does)';
  }
  if (!fs.existsSync(BIN)) return `trainyard binary not found at ${BIN} (set TRAINYARD_BIN)`;
  return null;
}

// Everything to undo at the end, newest first: killed process groups, closed browsers, removed
// folders. Runs once, on success, on failure and on SIGINT/SIGTERM.
const cleanups = [];
let cleaning = null;
export function onCleanup(fn) {
  cleanups.push(fn);
}
// Every caller (the script's end, a signal) waits for the same single pass.
export function cleanup() {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const fn = cleanups.pop();
      try {
        await fn();
      } catch (e) {
        console.error(`cleanup: ${e.message}`);
      }
    }
  })();
  return cleaning;
}
// Last resort when the process exits without running cleanup (an uncaught error): the server's
// process group is killed synchronously.
const groups = new Set();
process.on('exit', () => {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {}
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    await cleanup();
    process.exit(130);
  });
}

// Named steps run in order: each prints "ok - NAME (ms)" or "not ok - NAME (ms)" with the error;
// the first failure saves a screenshot and the HTML of `page()` (when there is one) into `dir`,
// sets .failed and rethrows.
export function stepper(dir, page) {
  const steps = { failed: false };
  steps.step = async (name, fn) => {
    const t0 = Date.now();
    try {
      await fn();
      console.log(`ok - ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      steps.failed = true;
      console.log(`not ok - ${name} (${Date.now() - t0} ms)\n${e.stack || e}`);
      const current = page();
      if (current) {
        try {
          await current.screenshot({ path: path.join(dir, 'failure.png'), fullPage: true });
          fs.writeFileSync(path.join(dir, 'failure.html'), await current.content());
          console.log(`page at the failure: ${current.url()}; screenshot and HTML in ${dir}`);
        } catch (e2) {
          console.log(`(no screenshot: ${e2.message})`);
        }
      }
      throw e;
    }
  };
  return steps;
}

export function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return dir;
}

// Runs the CLI; resolves {code, stdout, stderr} (never rejects on a non-zero exit).
export function cli(args, { env = {}, timeoutMs = 120_000, cwd } = {}) {
  const fullEnv = { ...process.env, ...env };
  delete fullEnv.TRAINYARD_WORKSPACE;
  if (!('TRAINYARD_TOKEN' in env)) delete fullEnv.TRAINYARD_TOKEN;
  return new Promise((resolve) => {
    execFile(BIN, args, { env: fullEnv, timeout: timeoutMs, cwd, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      });
  });
}

// The CLI, failing with its output unless it exits 0.
export async function cliOk(args, opts) {
  const r = await cli(args, opts);
  if (r.code !== 0) {
    throw new Error(`trainyard ${args.join(' ')} exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
  return r;
}

// `trainyard server token create`; returns the token (the last line of stdout).
export async function createToken(workspace, name, role) {
  const r = await cliOk(['server', 'token', 'create', '--workspace', workspace, '--name', name,
    '--role', role]);
  const lines = r.stdout.trim().split('\n');
  const token = lines[lines.length - 1].trim();
  if (!/^ty_[A-Za-z0-9_-]{43}$/.test(token)) throw new Error(`not a token: ${JSON.stringify(token)}`);
  return token;
}

// Starts `trainyard server --workspace DIR --port 0` in its own process group and waits for its
// "serving DIR at URL" line. Returns {url, proc, stderr()}; the group is killed at cleanup.
export async function startServer(workspace, { extraArgs = [], timeoutMs = 30_000 } = {}) {
  const env = { ...process.env };
  delete env.TRAINYARD_WORKSPACE;
  delete env.TRAINYARD_TOKEN;
  const proc = spawn(BIN, ['server', '--workspace', workspace, '--port', '0', ...extraArgs],
    { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  groups.add(proc.pid);
  let err = '';
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve({ code, sig })));
  onCleanup(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    try { process.kill(-proc.pid, 'SIGTERM'); } catch {}
    const t = setTimeout(() => { try { process.kill(-proc.pid, 'SIGKILL'); } catch {} }, 5000);
    await exited;
    clearTimeout(t);
    try { process.kill(-proc.pid, 'SIGKILL'); } catch {}  // anything it left in its group
    groups.delete(proc.pid);
  });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(
      `trainyard server printed no "serving ... at URL" line in ${timeoutMs} ms; stderr:\n${err}`)),
    timeoutMs);
    proc.stderr.on('data', (d) => {
      err += d;
      const m = /serving .* at (https?:\/\/[^\s]+)/.exec(err);
      if (m) { clearTimeout(timer); resolve(m[1].replace(/\/$/, '')); }
    });
    exited.then(({ code, sig }) => {
      clearTimeout(timer);
      reject(new Error(`trainyard server exited (${code ?? sig}) before serving; stderr:\n${err}\nstdout:\n${out}`));
    });
  });
  return { url, proc, stderr: () => err };
}

export async function launchChromium() {
  const { chromium } = loadPlaywright();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container: no user namespaces for the sandbox. /dev/shm is small in containers.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  onCleanup(() => browser.close());
  return browser;
}

// Polls fn() until it returns a truthy value; throws with describe() after timeoutMs.
export async function poll(fn, { timeoutMs = 60_000, intervalMs = 200, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// Writes a folder of files (a job's source); returns its path.
export function writeProject(dir, files) {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}
