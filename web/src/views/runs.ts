// The runs table: server-side sort, filter and paging (GET /api/v1/runs), and virtualized rows:
// only the rows in view (plus a margin) exist in the DOM, and pages of PAGE rows are fetched as
// they scroll into view, so 10,000 runs cost what 50 do.
import { enc, get, type Run, type RunsPage } from "../api";
import { h, type Scope } from "../dom";
import { fmtDuration, fmtNum, fmtTime, statusClass } from "../format";
import type { Route } from "../main";

const PAGE = 100;
const ROW = 32;
const OVERSCAN = 10;
const REFRESH_MS = 5000;
const TERMINAL = new Set(["Completed", "Failed", "Canceled"]);
const STATUSES = ["", "Queued", "Preparing", "Starting", "Running", "Finalizing", "Completed", "Failed", "Canceled", "CancelRequested"];

interface Column {
  key: string; // the sort key, and data-testid=sort-<key>
  label: string;
  width: number;
  cls?: string;
  sortable: boolean;
  cell: (r: Run) => Node | string;
}

const METRIC_VALUES = ["last", "min", "max"] as const;
type MetricValue = (typeof METRIC_VALUES)[number];

// A metric column's sort key: metrics.NAME (its last value) or metrics.NAME.min / .max.
function metricKey(name: string, value: MetricValue): string {
  return value === "last" ? `metrics.${name}` : `metrics.${name}.${value}`;
}

// The value= of the address, "last" when absent or unknown.
function metricValue(v: string | null): MetricValue {
  return (METRIC_VALUES as readonly (string | null)[]).includes(v) ? (v as MetricValue) : "last";
}

// The metric a sort key names (null for other columns): the inverse of metricKey.
function metricSortName(sort: string): string | null {
  if (!sort.startsWith("metrics.")) return null;
  const rest = sort.slice("metrics.".length);
  const m = /^(.*)\.(last|min|max)$/.exec(rest);
  return m ? m[1] : rest;
}

// Filters typed as "params.lr>=0.01 metrics.loss.last<0.5 status=Completed" (space or comma
// separated), each sent as one filter= parameter.
function splitFilters(s: string): string[] {
  return s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
}

export function runsView(root: HTMLElement, route: Route, scope: Scope): void {
  const state = {
    experiment: route.query.get("experiment") ?? "",
    q: route.query.get("q") ?? "",
    status: route.query.get("status") ?? "",
    filter: route.query.getAll("filter").join(" "),
    sort: route.query.get("sort") ?? "created_at",
    order: route.query.get("order") ?? "desc",
    // Which stored value the metric columns show and sort by: the last one, or the best for a
    // goal (min, max): metric_summary holds all three.
    value: metricValue(route.query.get("value")),
  };
  const selected = new Set<string>();
  let gen = 0;
  let total = 0;
  let paramCols: string[] = [];
  let metricCols: string[] = [];
  let pages = new Map<number, Run[]>();
  let pending = new Set<number>();
  const rowEls = new Map<number, { el: HTMLElement; loaded: boolean }>();
  let columns: Column[] = [];
  const ctl = new AbortController();
  scope.add(() => ctl.abort());

  // --- toolbar -----------------------------------------------------------------------------
  const qInput = h("input", { type: "search", placeholder: "Search id or name", value: state.q, "aria-label": "Search runs", "data-testid": "runs-search" });
  const statusSel = h("select", { "aria-label": "Status", "data-testid": "runs-status" }, STATUSES.map((s) => h("option", { value: s, selected: s === state.status }, s || "any status")));
  const filterInput = h("input", {
    type: "text",
    class: "wide",
    placeholder: "Filter: params.lr>=0.01 metrics.loss.last<0.5",
    value: state.filter,
    "aria-label": "Filter expressions",
    "data-testid": "runs-filter",
  });
  const valueSel = h(
    "select",
    { "aria-label": "Metric value shown", "data-testid": "runs-metric-value", title: "The metric columns show, and sort by, each run's last, smallest or largest value" },
    METRIC_VALUES.map((v) => h("option", { value: v, selected: v === state.value }, `${v} value`)),
  );
  valueSel.addEventListener("change", () => {
    const metric = metricSortName(state.sort);
    state.value = valueSel.value as MetricValue;
    if (metric !== null) state.sort = metricKey(metric, state.value);
    reload();
  });
  const compareBtn = h("button", { type: "button", class: "primary", "data-testid": "compare-button", disabled: true }, "Compare");
  const countEl = h("span", { class: "muted", "data-testid": "runs-count" });
  const errEl = h("div", { class: "error", role: "alert", hidden: true });
  compareBtn.addEventListener("click", () => {
    if (selected.size >= 1) location.hash = `#/compare?runs=${[...selected].map(enc).join(",")}`;
  });
  let debounce = 0;
  const changed = () => {
    clearTimeout(debounce);
    debounce = window.setTimeout(() => {
      state.q = qInput.value.trim();
      state.status = statusSel.value;
      state.filter = filterInput.value.trim();
      reload();
    }, 200);
  };
  qInput.addEventListener("input", changed);
  statusSel.addEventListener("change", changed);
  filterInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") changed();
  });
  filterInput.addEventListener("change", changed);

  // --- table -------------------------------------------------------------------------------
  const headRow = h("div", { class: "vrow vhead", role: "row" });
  const body = h("div", { class: "vbody", role: "rowgroup" });
  const scroller = h("div", { class: "vscroll", tabindex: "0" }, headRow, body);
  const table = h("div", { class: "vtable", role: "table", "aria-label": "Runs", "data-testid": "runs-table", "data-total": "0", "aria-busy": "true" }, scroller);

  const title = state.experiment ? `Runs of ${state.experiment}` : "Runs";
  root.append(
    h("h1", {}, title, state.experiment ? h("a", { class: "small link", href: "#/runs" }, " (all experiments)") : null),
    h("div", { class: "toolbar" }, qInput, statusSel, filterInput, valueSel, compareBtn, countEl),
    errEl,
    table,
  );

  function updateCompare() {
    compareBtn.disabled = selected.size < 2;
    compareBtn.textContent = selected.size ? `Compare (${selected.size})` : "Compare";
  }

  function buildColumns(): void {
    const cols: Column[] = [
      {
        key: "select",
        label: "",
        width: 34,
        sortable: false,
        cell: (r) => {
          const cb = h("input", { type: "checkbox", "data-testid": "run-select", "data-run-id": r.id, "aria-label": `Select ${r.id}`, checked: selected.has(r.id) });
          cb.addEventListener("change", () => {
            if (cb.checked) selected.add(r.id);
            else selected.delete(r.id);
            updateCompare();
          });
          return cb;
        },
      },
      {
        key: "id",
        label: "Run",
        width: 190,
        sortable: true,
        cell: (r) =>
          h(
            "span",
            {},
            h("a", { href: r.kind === "sweep" ? `#/sweeps/${enc(r.id)}` : `#/runs/${enc(r.id)}` }, r.id),
            r.kind === "sweep" ? h("span", { class: "badge" }, "sweep") : null,
          ),
      },
      { key: "display_name", label: "Name", width: 170, sortable: false, cell: (r) => r.display_name ?? "" },
      {
        key: "status",
        label: "Status",
        width: 110,
        sortable: true,
        cell: (r) => h("span", { class: statusClass(r.status), "data-testid": "run-status" }, r.status),
      },
    ];
    if (!state.experiment) cols.push({ key: "experiment", label: "Experiment", width: 140, sortable: false, cell: (r) => r.experiment });
    cols.push(
      { key: "created_at", label: "Created", width: 170, sortable: true, cell: (r) => fmtTime(r.created_at) },
      { key: "duration", label: "Duration", width: 90, cls: "num", sortable: true, cell: (r) => fmtDuration(r.duration_s ?? r.duration_seconds) },
    );
    for (const p of paramCols) {
      cols.push({ key: `params.${p}`, label: p, width: 110, cls: "num param", sortable: true, cell: (r) => r.params?.[p] ?? "" });
    }
    for (const m of metricCols) {
      const label = state.value === "last" ? m : `${m} (${state.value})`;
      cols.push({ key: metricKey(m, state.value), label, width: 110, cls: "num metric", sortable: true, cell: (r) => fmtNum(r.metrics?.[m]?.[state.value]) });
    }
    columns = cols;
    table.style.setProperty("--cols", cols.map((c) => `${c.width}px`).join(" "));
    table.style.setProperty("--width", `${cols.reduce((a, c) => a + c.width, 0)}px`);
    headRow.replaceChildren(
      ...cols.map((c) => {
        if (!c.sortable) return h("div", { class: `cell ${c.cls ?? ""}`, role: "columnheader" }, c.label);
        const active = state.sort === c.key;
        const b = h(
          "button",
          {
            type: "button",
            class: `cell sort ${c.cls ?? ""} ${active ? "active" : ""}`,
            role: "columnheader",
            "data-testid": `sort-${c.key}`,
            "aria-sort": active ? (state.order === "asc" ? "ascending" : "descending") : "none",
            title: c.key.startsWith("metrics.") ? `${c.label}: each run's ${state.value} value` : c.label,
          },
          c.label,
          active ? (state.order === "asc" ? " ▲" : " ▼") : "",
        );
        b.addEventListener("click", () => {
          if (state.sort === c.key) state.order = state.order === "asc" ? "desc" : "asc";
          else {
            state.sort = c.key;
            state.order = c.key === "created_at" ? "desc" : "asc";
          }
          reload();
        });
        return b;
      }),
    );
  }

  function query(offset: number): string {
    const p = new URLSearchParams();
    if (state.experiment) p.set("experiment", state.experiment);
    if (state.q) p.set("q", state.q);
    if (state.status) p.set("status", state.status);
    for (const f of splitFilters(state.filter)) p.append("filter", f);
    p.set("sort", state.sort);
    p.set("order", state.order);
    p.set("offset", String(offset));
    p.set("limit", String(PAGE));
    return p.toString();
  }

  function remember(): void {
    // The view's state in the address (shareable) without a hashchange re-render.
    const p = new URLSearchParams();
    if (state.experiment) p.set("experiment", state.experiment);
    if (state.q) p.set("q", state.q);
    if (state.status) p.set("status", state.status);
    for (const f of splitFilters(state.filter)) p.append("filter", f);
    if (state.sort !== "created_at") p.set("sort", state.sort);
    if (state.order !== "desc") p.set("order", state.order);
    if (state.value !== "last") p.set("value", state.value);
    const s = p.toString();
    history.replaceState(null, "", `#/runs${s ? "?" + s : ""}`);
  }

  async function fetchPage(page: number, g: number): Promise<void> {
    if (pending.has(page) || pages.has(page)) return;
    pending.add(page);
    try {
      const res = await get<RunsPage>(`/runs?${query(page * PAGE)}`, ctl.signal);
      if (g !== gen) return;
      errEl.hidden = true;
      pages.set(page, res.runs);
      const colsChanged =
        page === 0 &&
        (res.columns.params.join("\u0000") !== paramCols.join("\u0000") || res.columns.metrics.join("\u0000") !== metricCols.join("\u0000"));
      if (colsChanged || columns.length === 0) {
        paramCols = res.columns.params;
        metricCols = res.columns.metrics;
        buildColumns();
        for (const r of rowEls.values()) r.el.remove();
        rowEls.clear();
      }
      if (res.total !== total || table.getAttribute("aria-busy") === "true") {
        total = res.total;
        body.style.height = `${total * ROW}px`;
        countEl.textContent = `${total.toLocaleString()} run${total === 1 ? "" : "s"}`;
      }
      table.setAttribute("aria-busy", "false");
      table.dataset.total = String(total);
      paint();
    } catch (e) {
      if (g !== gen || ctl.signal.aborted) return;
      errEl.textContent = e instanceof Error ? e.message : String(e);
      errEl.hidden = false;
      table.setAttribute("aria-busy", "false");
    } finally {
      pending.delete(page);
    }
  }

  function rowFor(i: number): { el: HTMLElement; loaded: boolean } {
    const r = pages.get(Math.floor(i / PAGE))?.[i % PAGE];
    const el = r
      ? h("div", { class: "vrow", role: "row", "data-testid": "run-row", "data-run-id": r.id, "aria-rowindex": i + 2 }, columns.map((c) => h("div", { class: `cell ${c.cls ?? ""}`, role: "cell", "data-col": c.key }, c.cell(r))))
      : h("div", { class: "vrow placeholder", role: "row", "aria-rowindex": i + 2 }, h("div", { class: "cell muted" }, "…"));
    el.style.transform = `translateY(${i * ROW}px)`;
    return { el, loaded: !!r };
  }

  // Puts the rows in view into the DOM (and takes the others out); asks for missing pages.
  function paint(): void {
    if (total === 0) {
      for (const r of rowEls.values()) r.el.remove();
      rowEls.clear();
      return;
    }
    const top = scroller.scrollTop;
    const height = scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(total - 1, Math.ceil((top + height) / ROW) + OVERSCAN);
    for (const [i, r] of rowEls) {
      if (i < first || i > last) {
        r.el.remove();
        rowEls.delete(i);
      }
    }
    const g = gen;
    let maxBefore = -1;
    for (const i of rowEls.keys()) maxBefore = Math.max(maxBefore, i);
    let outOfOrder = false;
    for (let i = first; i <= last; i++) {
      const page = Math.floor(i / PAGE);
      if (!pages.has(page)) void fetchPage(page, g);
      const have = rowEls.get(i);
      if (have && (have.loaded || !pages.has(page))) continue;
      const r = rowFor(i);
      if (have) have.el.replaceWith(r.el);
      else {
        body.appendChild(r.el);
        outOfOrder ||= i < maxBefore;
      }
      rowEls.set(i, r);
    }
    // Rows added above the ones already there (scrolling up): the DOM keeps the table's order,
    // for screen readers and for anything that reads the rows in order.
    if (outOfOrder) {
      for (const i of [...rowEls.keys()].sort((a, b) => a - b)) body.appendChild(rowEls.get(i)!.el);
    }
  }

  function reload(): void {
    gen++;
    pages = new Map();
    pending = new Set();
    for (const r of rowEls.values()) r.el.remove();
    rowEls.clear();
    table.setAttribute("aria-busy", "true");
    scroller.scrollTop = 0;
    remember();
    buildColumns();
    void fetchPage(0, gen);
  }

  // While runs in view are active, their pages are fetched again every few seconds and rows
  // whose run changed are redrawn in place (status, duration, metrics).
  async function refreshVisible(): Promise<void> {
    if (document.hidden || rowEls.size === 0) return;
    const g = gen;
    const want = new Set<number>();
    for (const i of rowEls.keys()) {
      const page = Math.floor(i / PAGE);
      const r = pages.get(page)?.[i % PAGE];
      if (r && !TERMINAL.has(r.status)) want.add(page);
    }
    for (const page of want) {
      let res: RunsPage;
      try {
        res = await get<RunsPage>(`/runs?${query(page * PAGE)}`, ctl.signal);
      } catch {
        return;  // The next tick tries again; a 401 has gone to the login page.
      }
      if (g !== gen) return;
      const old = pages.get(page) ?? [];
      pages.set(page, res.runs);
      if (res.total !== total) {
        total = res.total;
        table.dataset.total = String(total);
        body.style.height = `${total * ROW}px`;
        countEl.textContent = `${total.toLocaleString()} run${total === 1 ? "" : "s"}`;
      }
      res.runs.forEach((r, k) => {
        const i = page * PAGE + k;
        const have = rowEls.get(i);
        if (have && JSON.stringify(old[k]) !== JSON.stringify(r)) {
          const fresh = rowFor(i);
          have.el.replaceWith(fresh.el);
          rowEls.set(i, fresh);
        }
      });
    }
    paint();
  }
  const timer = window.setInterval(() => void refreshVisible(), REFRESH_MS);
  scope.add(() => clearInterval(timer));

  let frame = 0;
  scroller.addEventListener("scroll", () => {
    if (!frame) frame = requestAnimationFrame(() => {
      frame = 0;
      paint();
    });
  });
  const ro = new ResizeObserver(() => paint());
  ro.observe(scroller);
  scope.add(() => ro.disconnect());
  updateCompare();
  buildColumns();
  void fetchPage(0, gen);
}
