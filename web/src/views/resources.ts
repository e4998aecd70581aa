// Models and deployments: the registry's and the deployments' --json shapes, as tables.
import { get } from "../api";
import { h, type Scope } from "../dom";
import { fmtTime, statusClass, text } from "../format";
import type { Route } from "../main";

type Obj = Record<string, unknown>;

function cell(key: string, v: unknown): Node | string {
  if (key.endsWith("_at") || key === "created" || key === "updated") return fmtTime(v) || text(v);
  if (key === "status" || key === "state") return h("span", { class: statusClass(String(v ?? "")) }, text(v));
  if (v && typeof v === "object") return h("code", { class: "small" }, JSON.stringify(v));
  return text(v);
}

// Columns: the preferred ones that any row has, then the rest of the scalar keys.
function columnsOf(rows: Obj[], preferred: string[]): string[] {
  const keys = new Set(rows.flatMap((r) => Object.keys(r)));
  const first = preferred.filter((k) => keys.has(k));
  const rest = [...keys].filter((k) => !first.includes(k) && rows.every((r) => r[k] === null || typeof r[k] !== "object")).sort();
  return [...first, ...rest].slice(0, 10);
}

function tableOf(testid: string, rows: Obj[], preferred: string[], empty: string): HTMLElement {
  if (!rows.length) return h("p", { class: "muted", "data-testid": testid }, empty);
  const cols = columnsOf(rows, preferred);
  return h(
    "table",
    { class: "grid", "data-testid": testid },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c.replace(/_/g, " "))))),
    h("tbody", {}, rows.map((r) => h("tr", { "data-name": text(r.name) }, cols.map((c) => h("td", {}, cell(c, r[c])))))),
  );
}

export async function modelsView(root: HTMLElement, _route: Route, scope: Scope): Promise<void> {
  const ctl = new AbortController();
  scope.add(() => ctl.abort());
  const { models } = await get<{ models: Obj[] }>("/models", ctl.signal);
  root.append(h("h1", {}, "Models"), tableOf("models-table", models, ["name", "latest_version", "version", "versions", "flavor", "description", "created_at", "updated_at"], "No registered models: trainyard model register."));
}

export async function deploymentsView(root: HTMLElement, _route: Route, scope: Scope): Promise<void> {
  const ctl = new AbortController();
  scope.add(() => ctl.abort());
  const { deployments } = await get<{ deployments: Obj[] }>("/deployments", ctl.signal);
  root.append(
    h("h1", {}, "Deployments"),
    tableOf("deployments-table", deployments, ["name", "model", "version", "status", "state", "url", "endpoint", "instances", "created_at", "updated_at"], "No deployments: trainyard deploy."),
  );
}
