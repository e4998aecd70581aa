// The login page: a token (from `trainyard server token create`) is posted once; the server
// answers with an HttpOnly session cookie, so the token is never kept by the page itself.
import { ApiError, post, get, type Caller, type Info } from "../api";
import { h } from "../dom";

export function loginView(root: HTMLElement, done: (info: Info) => void): void {
  const input = h("input", {
    type: "password",
    id: "token",
    name: "token",
    autocomplete: "current-password",
    placeholder: "ty_…",
    required: true,
    "data-testid": "login-token",
  });
  const error = h("div", { class: "error", "data-testid": "login-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "login-submit" }, "Sign in");
  const form = h(
    "form",
    { class: "login", "data-testid": "login" },
    h("h1", {}, "trainyard"),
    h("label", { for: "token" }, "Access token"),
    input,
    h("p", { class: "muted small" }, "Create one on the server's machine: trainyard server token create --name NAME --role read"),
    submit,
    error,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    void (async () => {
      try {
        await post<Caller>("/login", { token: input.value.trim() });
        done(await get<Info>(""));
      } catch (err) {
        error.textContent =
          err instanceof ApiError && err.status === 401 ? "That token is not valid." : err instanceof Error ? err.message : String(err);
        error.hidden = false;
        input.select();
      } finally {
        submit.disabled = false;
      }
    })();
  });
  root.append(h("div", { class: "login-page" }, form));
  input.focus();
}
