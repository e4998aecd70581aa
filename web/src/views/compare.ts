// Compare runs: the parameters that differ, and one overlaid chart per metric (a series per run).
import { enc, get, runParams, type Run } from "../api";
import { colour, LoadQueue, MetricChart } from "../chart";
import { h, type Scope } from "../dom";
import { fmtNum, statusClass } from "../format";
import type { Route } from "../main";
import { section } from "./run";

export async function compareView(root: HTMLElement, route: Route, scope: Scope): Promise<void> {
  const ids = (route.query.get("runs") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const ctl = new AbortController();
  scope.add(() => ctl.abort());
  const page = h("div", { class: "compare", "data-testid": "compare" });
  root.append(page);
  page.append(h("h1", {}, `Compare ${ids.length} runs`));
  if (ids.length === 0) {
    page.append(h("p", { class: "muted" }, "Select runs in the runs table, then Compare."));
    return;
  }
  const runs = await Promise.all(ids.map((id) => get<Run>(`/runs/${enc(id)}`, ctl.signal)));
  const label = (r: Run) => r.display_name || r.id;

  page.append(
    h(
      "div",
      { class: "legend-row" },
      runs.map((r, i) =>
        h("a", { href: `#/runs/${enc(r.id)}`, class: "legend-item" }, h("span", { class: `swatch c${i % 10}` }), label(r), " ", h("span", { class: statusClass(r.status) }, r.status)),
      ),
    ),
  );

  // Parameters whose values are not the same in every run (absent counts as a value).
  const params = runs.map(runParams);
  const names = [...new Set(params.flatMap((p) => Object.keys(p)))].sort();
  const differing = names.filter((n) => new Set(params.map((p) => p[n] ?? "\u0000absent")).size > 1);
  const same = names.length - differing.length;
  page.append(
    section(
      "Parameter differences",
      h(
        "table",
        { class: "grid compact", "data-testid": "param-diff" },
        h("thead", {}, h("tr", {}, h("th", {}, "Parameter"), runs.map((r) => h("th", {}, label(r))))),
        h(
          "tbody",
          {},
          differing.map((n) => h("tr", { "data-param": n }, h("th", {}, n), params.map((p) => h("td", { class: p[n] === undefined ? "muted" : "" }, p[n] ?? "—")))),
        ),
      ),
      h("p", { class: "muted small" }, differing.length ? `${same} parameter${same === 1 ? "" : "s"} with the same value in every run not shown.` : "Every parameter has the same value in every run."),
    ),
  );

  // Metric summary table and the overlaid charts.
  const metricNames = [...new Set(runs.flatMap((r) => Object.keys(r.metrics ?? {})))].sort();
  page.append(
    section(
      "Metrics (last value)",
      h(
        "table",
        { class: "grid compact", "data-testid": "metric-diff" },
        h("thead", {}, h("tr", {}, h("th", {}, "Metric"), runs.map((r) => h("th", {}, label(r))))),
        h("tbody", {}, metricNames.map((m) => h("tr", { "data-metric": m }, h("th", {}, m), runs.map((r) => h("td", { class: "num" }, fmtNum(r.metrics?.[m]?.last)))))),
      ),
    ),
  );
  const queue = new LoadQueue(4);
  const chartsEl = h("div", { class: "charts" });
  page.append(section("Charts", chartsEl));
  for (const m of metricNames) {
    // Only runs that logged the metric, each keeping its colour from the legend.
    const sources = runs.map((r, i) => ({ r, i })).filter(({ r }) => r.metrics?.[m] !== undefined);
    const chart = new MetricChart(
      m,
      sources.map(({ r }) => ({ runId: r.id, label: label(r) })),
      queue,
      sources.map(({ i }) => colour(i)),
    );
    chartsEl.append(chart.el);
    scope.add(() => chart.destroy());
    void chart.load();
  }
}
