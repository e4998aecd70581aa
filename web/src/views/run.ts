// A run: status (live), timeline, parameters and argv, snapshot files (viewable), live logs per
// rank, output files, and one chart per metric (refreshed live while the run goes on).
import { enc, get, getText, runParams, stream, API, type MetricSummary, type Run } from "../api";
import { LoadQueue, MetricChart } from "../chart";
import { clear, h, type Scope } from "../dom";
import { fmtBytes, fmtDuration, fmtTime, statusClass, text, toMillis } from "../format";
import type { Route } from "../main";

const MAX_LOG_LINES = 5000;
const TERMINAL = new Set(["Completed", "Failed", "Canceled"]);

interface FileEntry {
  path: string;
  size?: number;
  executable?: boolean;
  symlink?: string;
}

export function section(title: string, ...body: (Node | null)[]): HTMLElement {
  return h("section", { class: "card" }, h("h2", {}, title), ...body);
}

function timeline(el: HTMLElement, history: { status: string; at: number | string }[], ended: boolean): void {
  clear(el);
  if (!history.length) {
    el.append(h("p", { class: "muted" }, "No status changes recorded."));
    return;
  }
  const times = history.map((x) => toMillis(x.at) ?? 0);
  const end = ended ? times[times.length - 1] : Date.now();
  const span = Math.max(1, end - times[0]);
  const bar = h("div", { class: "timeline-bar" });
  const list = h("ol", { class: "timeline-list" });
  history.forEach((x, i) => {
    const next = i + 1 < times.length ? times[i + 1] : end;
    const seg = h("span", { class: `seg ${statusClass(x.status)}`, title: `${x.status}: ${fmtDuration((next - times[i]) / 1000)}` });
    seg.style.flexGrow = String(Math.max(0.02, (next - times[i]) / span));
    bar.append(seg);
    list.append(
      h(
        "li",
        { "data-status": x.status },
        h("span", { class: statusClass(x.status) }, x.status),
        " ",
        h("time", {}, fmtTime(x.at)),
        i + 1 < times.length || !ended ? h("span", { class: "muted" }, ` · ${fmtDuration((next - times[i]) / 1000)}`) : null,
      ),
    );
  });
  el.append(bar, list);
}

function kv(rows: [string, Node | string][]): HTMLElement {
  return h("dl", { class: "kv" }, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

export async function runView(root: HTMLElement, route: Route, scope: Scope): Promise<void> {
  const id = route.path[1];
  const ctl = new AbortController();
  scope.add(() => ctl.abort());
  // The charts need only the metric list: they start at once, without waiting for the run's
  // JSON (which can take longer on runs with many points).
  const runP = get<Run>(`/runs/${enc(id)}`, ctl.signal);
  const metricsP = get<{ metrics: MetricSummary[] }>(`/runs/${enc(id)}/metrics`, ctl.signal);
  metricsP.catch(() => {
    // The run's JSON (or the live stream) brings them.
  });

  // --- header and status (filled when the run's JSON arrives) ---------------------------------
  const statusEl = h("span", { class: "status", "data-testid": "run-status" });
  const detailEl = h("span", { class: "muted", "data-testid": "run-status-detail" });
  const timelineEl = h("div", { class: "timeline", "data-testid": "status-timeline" });
  const titleEl = h("h1", {}, id);
  const links = h("span", { class: "page-links" });
  const kvEl = h("div", {});
  const setStatus = (status: string, detail: string) => {
    statusEl.textContent = status;
    statusEl.className = statusClass(status);
    detailEl.textContent = detail ?? "";
  };
  const page = h(
    "div",
    { class: "run-page", "data-testid": "run-page", "data-run-id": id },
    h("div", { class: "page-head" }, titleEl, statusEl, detailEl, links),
    kvEl,
  );
  root.append(page);

  // --- charts ---------------------------------------------------------------------------------
  const queue = new LoadQueue(4);
  const charts = new Map<string, MetricChart>();
  const chartsEl = h("div", { class: "charts", "data-testid": "charts" });
  const noMetrics = h("p", { class: "muted", hidden: true }, "No metrics logged yet.");
  const counts = new Map<string, number>();
  scope.add(() => charts.forEach((c) => c.destroy()));
  const syncCharts = (metrics: MetricSummary[]) => {
    noMetrics.hidden = metrics.length > 0 || charts.size > 0;
    for (const m of metrics) {
      const name = m.name ?? "";
      let c = charts.get(name);
      if (!c) {
        c = new MetricChart(name, [{ runId: id, label: name }], queue);
        charts.set(name, c);
        chartsEl.append(c.el);
        counts.set(name, m.count);
        void c.load();
      } else if (counts.get(name) !== m.count) {
        counts.set(name, m.count);
        c.refresh();
      }
    }
  };
  page.append(section("Metrics", noMetrics, chartsEl));
  void metricsP.then(({ metrics }) => scope.active && syncCharts(metrics)).catch(() => {});

  const run = await runP;
  if (!scope.active) return;
  document.title = `${run.display_name || run.id} · trainyard`;
  titleEl.textContent = run.display_name || run.id;
  setStatus(run.status, run.status_detail ?? "");
  const history = [...(run.status_history ?? [])];
  timeline(timelineEl, history, TERMINAL.has(run.status));
  if (run.kind === "sweep") links.append(h("a", { href: `#/sweeps/${enc(run.id)}`, class: "button" }, "Open sweep"));
  if (run.parent_id) links.append(h("a", { href: `#/sweeps/${enc(run.parent_id)}`, class: "button" }, `Sweep ${run.parent_id}`));
  kvEl.replaceWith(
    kv([
      ["Run", run.id],
      ["Experiment", h("a", { href: `#/runs?experiment=${enc(run.experiment)}` }, run.experiment)],
      ["Target", run.target ?? ""],
      ["Created", fmtTime(run.created_at)],
      ["Started", fmtTime(run.started_at)],
      ["Ended", fmtTime(run.ended_at)],
      ...(run.error ? ([["Error", h("span", { class: "error-text" }, run.error)]] as [string, Node][]) : []),
    ]),
  );
  // Summaries in the run's JSON: charts for any metric the list did not have yet.
  if (run.metrics) syncCharts(Object.entries(run.metrics).map(([name, m]) => ({ ...m, name })));
  else noMetrics.hidden = charts.size > 0;

  // --- the rest of the page --------------------------------------------------------------------
  const params = runParams(run);
  const paramRows = Object.entries(params).sort(([a], [b]) => a.localeCompare(b));
  page.append(
    h(
      "div",
      { class: "two" },
      section("Status", timelineEl),
      section(
        "Parameters",
        h(
          "table",
          { class: "grid compact", "data-testid": "params" },
          h("tbody", {}, paramRows.length ? paramRows.map(([k, v]) => h("tr", { "data-param": k }, h("th", {}, k), h("td", {}, v))) : h("tr", {}, h("td", { class: "muted" }, "none"))),
        ),
        h("h3", {}, "Command (rank 0)"),
        h("pre", { class: "argv", "data-testid": "argv" }, (run.argv ?? []).map(quoteArg).join(" ")),
      ),
    ),
  );

  page.append(logsSection(run, scope));
  const outputs = outputFiles(run, ctl.signal);
  page.append(h("div", { class: "two" }, outputs.el, snapshotFiles(run, ctl.signal)));
  let listedAtEnd = TERMINAL.has(run.status);

  const stop = stream(`/runs/${enc(run.id)}/events`, {
    status: (d: { status: string; status_detail?: string; at?: number | string; ended?: boolean }) => {
      setStatus(d.status, d.status_detail ?? "");
      const last = history[history.length - 1];
      if (!last || last.status !== d.status) history.push({ status: d.status, at: d.at ?? Date.now() * 1000 });
      timeline(timelineEl, history, !!d.ended || TERMINAL.has(d.status));
      if (!listedAtEnd && TERMINAL.has(d.status)) {
        listedAtEnd = true;
        outputs.reload();
      }
    },
    metrics: (d: { metrics: MetricSummary[] }) => syncCharts(d.metrics),
  });
  scope.add(stop);
}

function quoteArg(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

// Live logs: the merged view, or one rank; the last lines first, then as they come.
function logsSection(run: Run, scope: Scope): HTMLElement {
  const pre = h("pre", { class: "logs", "data-testid": "logs", tabindex: "0", "aria-live": "off" });
  const ranks = Math.max(1, run.world_size ?? 1);
  const rankSel = h(
    "select",
    { "aria-label": "Rank", "data-testid": "log-rank" },
    h("option", { value: "" }, ranks > 1 ? "all ranks" : "rank 0"),
    ranks > 1 ? Array.from({ length: ranks }, (_, r) => h("option", { value: String(r) }, `rank ${r}`)) : null,
  );
  const state = h("span", { class: "muted small" });
  const follow = h("input", { type: "checkbox", checked: true, id: "follow", "aria-label": "Follow" });
  let stop: (() => void) | null = null;
  let lines = 0;
  const open = () => {
    stop?.();
    pre.textContent = "";
    lines = 0;
    state.textContent = "connecting…";
    const rank = rankSel.value;
    const q = `?tail=200${rank ? `&rank=${rank}` : ""}`;
    let buffer: string[] = [];
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      if (!buffer.length) return;
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
      pre.append(document.createTextNode(buffer.join("")));
      lines += buffer.length;
      buffer = [];
      // Keep the DOM bounded on chatty runs: drop the oldest text nodes.
      while (lines > MAX_LOG_LINES && pre.firstChild) {
        lines -= (pre.firstChild.textContent ?? "").split("\n").length - 1;
        pre.removeChild(pre.firstChild);
      }
      if (follow.checked && atBottom) pre.scrollTop = pre.scrollHeight;
    };
    stop = stream(
      `/runs/${enc(run.id)}/logs/stream${q}`,
      {
        line: (d: { rank: number | null; text: string }) => {
          if (state.textContent) state.textContent = "";
          buffer.push(d.text.endsWith("\n") ? d.text : d.text + "\n");
          if (!scheduled) {
            scheduled = true;
            requestAnimationFrame(flush);
          }
        },
      },
      () => {
        flush();
        state.textContent = "end of log";
      },
    );
  };
  rankSel.addEventListener("change", open);
  scope.add(() => stop?.());
  open();
  const dl = h("a", { href: `${API}/runs/${enc(run.id)}/logs`, download: `${run.id}.log`, class: "small" }, "download");
  return section("Logs", h("div", { class: "toolbar" }, rankSel, h("label", { for: "follow", class: "small" }, follow, " follow"), state, h("span", { class: "spacer" }), dl), pre);
}

// The run's files; `reload` lists them again (the run page does when the run ends, since a script
// writes its outputs up to its last moment).
function outputFiles(run: Run, signal: AbortSignal): { el: HTMLElement; reload: () => void } {
  const list = h("ul", { class: "files", "data-testid": "output-files" });
  const reload = (): void => {
    void get<{ files: FileEntry[] }>(`/runs/${enc(run.id)}/files`, signal)
      .then(({ files }) => {
        list.replaceChildren();
        if (!files.length) list.append(h("li", { class: "muted" }, "none"));
        for (const f of files) {
          const href = `${API}/runs/${enc(run.id)}/files/${f.path.split("/").map(enc).join("/")}`;
          list.append(h("li", {}, h("a", { href, download: f.path.split("/").pop() ?? f.path }, f.path), h("span", { class: "muted" }, ` ${fmtBytes(f.size)}`)));
        }
      })
      .catch((e: unknown) => list.replaceChildren(h("li", { class: "error-text" }, text(e instanceof Error ? e.message : e))));
  };
  reload();
  return { el: section("Output files", list), reload };
}

function snapshotFiles(run: Run, signal: AbortSignal): HTMLElement {
  const list = h("ul", { class: "files", "data-testid": "snapshot-files" });
  const viewer = h("pre", { class: "viewer", "data-testid": "snapshot-viewer", hidden: true });
  const title = h("div", { class: "muted small" });
  void get<{ files: FileEntry[] }>(`/runs/${enc(run.id)}/snapshot`, signal)
    .then(({ files }) => {
      if (!files.length) list.append(h("li", { class: "muted" }, "none"));
      for (const f of files) {
        const b = h("button", { type: "button", class: "link", "data-path": f.path }, f.path);
        b.addEventListener("click", () => {
          title.textContent = f.path;
          viewer.hidden = false;
          viewer.textContent = "loading…";
          if (f.symlink) {
            viewer.textContent = `symbolic link to ${f.symlink}`;
            return;
          }
          if ((f.size ?? 0) > 2 * 1024 * 1024) {
            viewer.textContent = `${fmtBytes(f.size)}: too large to show here`;
            return;
          }
          void getText(`/runs/${enc(run.id)}/snapshot/${f.path.split("/").map(enc).join("/")}`)
            .then((t) => (viewer.textContent = /\u0000/.test(t.slice(0, 4096)) ? "(binary file)" : t))
            .catch((e: unknown) => (viewer.textContent = e instanceof Error ? e.message : String(e)));
        });
        list.append(h("li", {}, b, h("span", { class: "muted" }, ` ${fmtBytes(f.size)}${f.executable ? " · executable" : ""}`)));
      }
    })
    .catch((e: unknown) => list.append(h("li", { class: "error-text" }, e instanceof Error ? e.message : String(e))));
  return section("Snapshot", list, title, viewer);
}
