import { get } from "../api";
import { h } from "../dom";
import { fmtTime } from "../format";
import type { Route } from "../main";
import type { Scope } from "../dom";

interface Experiment {
  name: string;
  created_at?: string | number;
  runs?: number;
  active_runs?: number;
  last_run_at?: string | number | null;
}

export async function experimentsView(root: HTMLElement, _route: Route, scope: Scope): Promise<void> {
  const ctl = new AbortController();
  scope.add(() => ctl.abort());
  const { experiments } = await get<{ experiments: Experiment[] }>("/experiments", ctl.signal);
  const rows = experiments.map((e) =>
    h(
      "tr",
      { "data-testid": "experiment-row", "data-name": e.name },
      h("td", {}, h("a", { href: `#/runs?experiment=${encodeURIComponent(e.name)}` }, e.name)),
      h("td", { class: "num" }, e.runs ?? ""),
      h("td", { class: "num" }, e.active_runs ?? ""),
      h("td", {}, fmtTime(e.last_run_at)),
      h("td", {}, fmtTime(e.created_at)),
    ),
  );
  root.append(
    h("h1", {}, "Experiments"),
    experiments.length === 0
      ? h("p", { class: "muted", "data-testid": "experiments" }, "No experiments yet: submit a run with trainyard submit.")
      : h(
          "table",
          { class: "grid", "data-testid": "experiments" },
          h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", { class: "num" }, "Runs"), h("th", { class: "num" }, "Active"), h("th", {}, "Last run"), h("th", {}, "Created"))),
          h("tbody", {}, rows),
        ),
  );
}
