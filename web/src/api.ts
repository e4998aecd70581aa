// The server's API (docs/api.md) as the UI uses it: same-origin fetches that carry the session
// cookie, errors as ApiError, and a 401 anywhere sends the user to the login page.

export class ApiError extends Error {
  constructor(
    public readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

export const API = "/api/v1";

export function enc(s: string): string {
  return encodeURIComponent(s);
}

async function errorOf(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { error?: string };
    if (body && typeof body.error === "string") message = body.error;
  } catch {
    // Not JSON: keep the status line.
  }
  return new ApiError(res.status, message);
}

export async function request(path: string, init: RequestInit = {}, signal?: AbortSignal): Promise<Response> {
  const res = await fetch(API + path, { credentials: "same-origin", signal, ...init });
  if (res.status === 401 && path !== "/login") {
    onUnauthorized();
    throw await errorOf(res);
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

export async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await request(path, { headers: { Accept: "application/json" } }, signal);
  return (await res.json()) as T;
}

export async function getText(path: string, signal?: AbortSignal): Promise<string> {
  const res = await request(path, {}, signal);
  return await res.text();
}

export async function post<T>(path: string, body: unknown): Promise<T> {
  const res = await request(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  const t = await res.text();
  return (t ? JSON.parse(t) : {}) as T;
}

// A server-sent event stream. EventSource reconnects by itself after a network error; the
// server's `end` event closes it for good. On an error the session is checked: an expired
// token must land on the login page rather than retry forever.
export function stream(
  path: string,
  handlers: Record<string, (data: any) => void>,
  onEnd?: () => void,
): () => void {
  const es = new EventSource(API + path, { withCredentials: true });
  let closed = false;
  const close = () => {
    if (!closed) {
      closed = true;
      es.close();
    }
  };
  for (const [type, fn] of Object.entries(handlers)) {
    es.addEventListener(type, (ev) => {
      try {
        fn(JSON.parse((ev as MessageEvent).data));
      } catch (e) {
        console.error(`event ${type}:`, e);
      }
    });
  }
  es.addEventListener("end", () => {
    close();
    onEnd?.();
  });
  // The session's token was revoked while the stream was open (the server's last event).
  es.addEventListener("refused", () => {
    close();
    onUnauthorized();
  });
  es.onerror = () => {
    if (closed) return;
    if (es.readyState === EventSource.CLOSED) {
      // The server refused the stream (401/404...): find out whether the session is gone.
      fetch(API, { credentials: "same-origin" })
        .then((r) => {
          if (r.status === 401) onUnauthorized();
        })
        .catch(() => {
          // The server is away: EventSource is closed; the page says nothing more.
        });
    }
  };
  return close;
}

// Types of the API's JSON (only what the UI reads).
export interface Caller {
  name: string;
  role: string;
}
export interface Info {
  api: number;
  version: string;
  workspace: string;
  caller: Caller;
}
export interface MetricSummary {
  name?: string;
  last: number | string | null;
  min: number | string | null;
  max: number | string | null;
  last_step?: number;
  step?: number;
  count: number;
}
export interface Run {
  id: string;
  experiment: string;
  display_name: string;
  status: string;
  status_detail?: string;
  target?: string;
  kind?: string;
  parent_id?: string;
  trial_index?: number | null;
  created_at: number | string;
  started_at?: number | string | null;
  ended_at?: number | string | null;
  duration_s?: number | null;
  duration_seconds?: number | null;
  params?: Record<string, string>;
  parameters?: Record<string, unknown>;
  metrics?: Record<string, MetricSummary>;
  argv?: string[];
  status_history?: { status: string; at: number | string }[];
  world_size?: number;
  error?: string;
  exit_code?: number | null;
  tags?: Record<string, string>;
  snapshot?: { id: string };
}
export interface RunsPage {
  total: number;
  offset: number;
  limit: number;
  runs: Run[];
  columns: { params: string[]; metrics: string[] };
}
export interface Series {
  name: string;
  total: number;
  downsampled: boolean;
  step: number[];
  value: (number | string | null)[];
  min?: (number | string | null)[];
  max?: (number | string | null)[];
}

export function runParams(r: Run): Record<string, string> {
  if (r.params) return r.params;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.parameters ?? {})) out[k] = typeof v === "string" ? v : JSON.stringify(v);
  return out;
}
