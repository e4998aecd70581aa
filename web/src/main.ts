// The UI's entry: a hash router (#/runs/ID ...; docs/web.md lists the routes), the page frame,
// and the session: without a valid one any route shows the login page, and a 401 from any
// request (an expired or revoked token) goes back there, remembering where the user was.
import "./style.css";
import { get, post, setUnauthorizedHandler, type Info } from "./api";
import { clear, h, Scope } from "./dom";
import { loginView } from "./views/login";
import { experimentsView } from "./views/experiments";
import { runsView } from "./views/runs";
import { runView } from "./views/run";
import { compareView } from "./views/compare";
import { sweepView } from "./views/sweep";
import { modelsView, deploymentsView } from "./views/resources";

export interface Route {
  path: string[];
  query: URLSearchParams;
}
export type View = (root: HTMLElement, route: Route, scope: Scope) => void | Promise<void>;

let info: Info | null = null;
let scope = new Scope();
let afterLogin = "#/experiments";

function parse(hash: string): Route {
  const raw = hash.replace(/^#\/?/, "");
  const qi = raw.indexOf("?");
  const path = (qi >= 0 ? raw.slice(0, qi) : raw).split("/").filter(Boolean).map(decodeURIComponent);
  return { path, query: new URLSearchParams(qi >= 0 ? raw.slice(qi + 1) : "") };
}

function pick(route: Route): { view: View; nav: string } | null {
  const [a, b] = route.path;
  switch (a ?? "experiments") {
    case "experiments":
      return { view: experimentsView, nav: "experiments" };
    case "runs":
      return b ? { view: runView, nav: "runs" } : { view: runsView, nav: "runs" };
    case "compare":
      return { view: compareView, nav: "runs" };
    case "sweeps":
      return b ? { view: sweepView, nav: "runs" } : null;
    case "models":
      return { view: modelsView, nav: "models" };
    case "deployments":
      return { view: deploymentsView, nav: "deployments" };
    default:
      return null;
  }
}

function frame(nav: string): HTMLElement {
  const app = document.getElementById("app")!;
  clear(app);
  const link = (href: string, name: string, label: string) =>
    h("a", { href, class: nav === name ? "active" : "", "aria-current": nav === name ? "page" : null }, label);
  const logout = h("button", { type: "button", class: "link", "data-testid": "logout" }, "Log out");
  logout.addEventListener("click", () => {
    void post("/logout", {})
      .catch(() => {
        // Gone already (expired, revoked): the login page is where we go anyway.
      })
      .finally(() => {
      info = null;
      location.hash = "#/login";
    });
  });
  const header = h(
    "header",
    { class: "top" },
    h("a", { href: "#/experiments", class: "brand" }, "trainyard"),
    h(
      "nav",
      {},
      link("#/experiments", "experiments", "Experiments"),
      link("#/runs", "runs", "Runs"),
      link("#/models", "models", "Models"),
      link("#/deployments", "deployments", "Deployments"),
    ),
    h("span", { class: "spacer" }),
    info ? h("span", { class: "muted who", title: info.workspace }, `${info.caller.name} (${info.caller.role})`) : null,
    logout,
  );
  const main = h("main", { id: "main" });
  app.append(header, main);
  return main;
}

function errorBox(root: HTMLElement, e: unknown): void {
  root.append(h("div", { class: "error", "data-testid": "error", role: "alert" }, e instanceof Error ? e.message : String(e)));
}

async function render(): Promise<void> {
  scope.close();
  scope = new Scope();
  const my = scope;
  delete window.__tyFirstChartMs;
  const route = parse(location.hash);

  if (route.path[0] === "login") {
    const app = document.getElementById("app")!;
    clear(app);
    loginView(app, (who) => {
      info = who;
      location.hash = afterLogin;
    });
    return;
  }
  if (!info) {
    try {
      info = await get<Info>("");
    } catch {
      // The 401 handler has sent us to the login page; another error shows there too.
      if (my.active && !location.hash.startsWith("#/login")) toLogin();
      return;
    }
    if (!my.active) return;
  }
  const picked = pick(route);
  const main = frame(picked?.nav ?? "");
  if (!picked) {
    errorBox(main, `No page at ${location.hash}`);
    return;
  }
  document.title = "trainyard";
  try {
    await picked.view(main, route, my);
  } catch (e) {
    if (my.active) errorBox(main, e);
  }
}

function toLogin(): void {
  info = null;
  if (!location.hash.startsWith("#/login")) {
    afterLogin = location.hash && location.hash !== "#/" ? location.hash : "#/experiments";
    location.hash = "#/login";
  }
}

setUnauthorizedHandler(toLogin);
window.addEventListener("hashchange", () => void render());
// Keyboard: g then e/r/m/d jumps between the top-level pages (not while typing in a field).
let pendingG = false;
window.addEventListener("keydown", (e) => {
  const t = e.target as HTMLElement;
  if (t.closest("input, textarea, select") || e.ctrlKey || e.metaKey || e.altKey) return;
  if (pendingG) {
    pendingG = false;
    const to = { e: "#/experiments", r: "#/runs", m: "#/models", d: "#/deployments" }[e.key];
    if (to) location.hash = to;
  } else if (e.key === "g") {
    pendingG = true;
    setTimeout(() => (pendingG = false), 1000);
  }
});
void render();
