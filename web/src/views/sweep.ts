// A sweep: its trials sorted by the primary metric (best first), which ones a policy stopped
// and why, parallel coordinates of parameters against the metric, and the best-so-far curve.
import { enc, get } from "../api";
import { staticChart } from "../chart";
import { h, type Scope } from "../dom";
import { fmtNum, num, statusClass, text } from "../format";
import type { Route } from "../main";
import { parallelCoords, type PCTrial } from "../parcoords";
import { section } from "./run";

interface Trial {
  id?: string;
  run_id?: string;
  trial_index?: number;
  index?: number;
  status: string;
  params?: Record<string, unknown>;
  parameters?: Record<string, unknown>;
  primary_metric?: number | string | null;
  best?: number | string | null;
  stopped_by?: string | null;
  stop_reason?: string | null;
}
interface Sweep {
  id: string;
  experiment?: string;
  display_name?: string;
  status: string;
  status_detail?: string;
  objective?: { primary_metric: string; goal: string };
  search_space?: string[];
  best_run_id?: string | null;
  counts?: Record<string, number>;
  trials: Trial[];
  best_so_far?: { trial_index: number; value: number | string | null }[];
  early_termination?: unknown;
}

export async function sweepView(root: HTMLElement, route: Route, scope: Scope): Promise<void> {
  const id = route.path[1];
  const ctl = new AbortController();
  scope.add(() => ctl.abort());
  const s = await get<Sweep>(`/sweeps/${enc(id)}`, ctl.signal);
  const metric = s.objective?.primary_metric ?? "metric";
  const goal = s.objective?.goal ?? "minimize";
  const trials = s.trials.map((t) => {
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(t.params ?? t.parameters ?? {})) params[k] = typeof v === "string" ? v : JSON.stringify(v);
    return {
      id: t.id ?? t.run_id ?? "",
      index: t.trial_index ?? t.index ?? 0,
      status: t.status,
      params,
      value: num(t.primary_metric !== undefined ? t.primary_metric : t.best),
      stoppedBy: t.stopped_by ?? null,
      stopReason: t.stop_reason ?? null,
    };
  });
  // Best first (the server sorts already; a stable sort keeps its order).
  const sign = goal === "maximize" ? -1 : 1;
  const sorted = [...trials].sort((a, b) => (a.value === null ? 1 : b.value === null ? -1 : sign * (a.value - b.value)));
  const paramNames = s.search_space?.length ? s.search_space : [...new Set(trials.flatMap((t) => Object.keys(t.params)))].sort();

  const page = h("div", { class: "sweep", "data-testid": "sweep", "data-run-id": s.id });
  root.append(page);
  page.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, s.display_name || s.id),
      h("span", { class: statusClass(s.status), "data-testid": "run-status" }, s.status),
      h("span", { class: "muted" }, `${goal} ${metric} · ${trials.length} trials`),
      h("a", { class: "button", href: `#/runs/${enc(s.id)}` }, "Sweep run"),
      trials.length >= 2 ? h("a", { class: "button", href: `#/compare?runs=${sorted.slice(0, 5).map((t) => enc(t.id)).join(",")}` }, "Compare best 5") : null,
    ),
  );

  const table = h(
    "table",
    { class: "grid", "data-testid": "trials" },
    h(
      "thead",
      {},
      h("tr", {}, h("th", { class: "num" }, "#"), h("th", {}, "Trial"), h("th", {}, "Status"), h("th", { class: "num" }, metric), paramNames.map((p) => h("th", { class: "num" }, p)), h("th", {}, "Stopped")),
    ),
    h(
      "tbody",
      {},
      sorted.map((t, rank) =>
        h(
          "tr",
          {
            "data-testid": "trial-row",
            "data-run-id": t.id,
            "data-trial-index": t.index,
            "data-stopped": t.stoppedBy ? "1" : "0",
            class: rank === 0 && t.value !== null ? "best" : "",
          },
          h("td", { class: "num" }, t.index),
          h("td", {}, h("a", { href: `#/runs/${enc(t.id)}` }, t.id)),
          h("td", {}, h("span", { class: statusClass(t.status) }, t.status)),
          h("td", { class: "num" }, fmtNum(t.value)),
          paramNames.map((p) => h("td", { class: "num" }, t.params[p] ?? "")),
          h("td", { class: "stop" }, t.stoppedBy ? h("span", {}, h("strong", {}, t.stoppedBy), t.stopReason ? `: ${t.stopReason}` : "") : ""),
        ),
      ),
    ),
  );
  const pc = h("div", { class: "parcoords", "data-testid": "parallel-coords" });
  const bsf = h("div", { "data-testid": "best-so-far", "data-metric": metric });
  page.append(section("Trials", table), h("div", { class: "two" }, section("Parallel coordinates", pc), section(`Best ${metric} so far`, bsf)));

  const pcTrials: PCTrial[] = trials.map((t) => ({ id: t.id, label: `trial ${t.index}`, params: t.params, value: t.value, stopped: !!t.stoppedBy }));
  scope.add(parallelCoords(pc, paramNames, metric, goal, pcTrials));

  // The best value after each trial, in trial order (computed when the server does not send it).
  let curve = s.best_so_far?.map((p) => ({ x: p.trial_index, y: num(p.value) }));
  if (!curve) {
    let best: number | null = null;
    curve = [...trials]
      .sort((a, b) => a.index - b.index)
      .map((t) => {
        if (t.value !== null && (best === null || sign * (t.value - best) < 0)) best = t.value;
        return { x: t.index, y: best };
      });
  }
  scope.add(staticChart(bsf, `best ${metric}`, curve.map((p) => p.x), curve.map((p) => p.y), "trial"));
  if (s.early_termination) page.append(section("Early termination", h("pre", { class: "argv" }, text(s.early_termination))));
}
