// The console's one door to the server: the REST API (/api/v1/<operation>) and /metrics, on the
// page's own origin, with the API key (when one is set) as `Authorization: Bearer`.
//
// The key lives in sessionStorage: it survives a reload of the tab, is gone when the tab closes,
// is never put in a URL (URLs end up in logs and history) and never in a cookie (a cookie would be
// sent by any page that makes the browser call this server).

const KEY_STORAGE = "conexus.apiKey";

export function storedKey(): string {
  try {
    return sessionStorage.getItem(KEY_STORAGE) ?? "";
  } catch {
    return ""; // storage disabled: the key lasts as long as the page
  }
}

export function storeKey(key: string): void {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage disabled: nothing to remember
  }
}

/** An RFC 9457 problem document, as every route answers its errors. */
export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  errors?: { field: string; problem: string }[];
}

/** A refused or failed request: the HTTP status and the server's problem document. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.status = problem.status;
    this.problem = problem;
  }

  /** 401: the server needs a key and this one is missing or not valid. */
  get needsKey(): boolean {
    return this.status === 401;
  }

  /** 403: the key is valid but lacks the scope (or the root is not allowed). */
  get forbidden(): boolean {
    return this.status === 403;
  }
}

let currentKey = storedKey();
const keyListeners = new Set<() => void>();

export function apiKey(): string {
  return currentKey;
}

export function setApiKey(key: string): void {
  currentKey = key.trim();
  storeKey(currentKey);
  keyListeners.forEach((listener) => listener());
}

export function onKeyChange(listener: () => void): () => void {
  keyListeners.add(listener);
  return () => keyListeners.delete(listener);
}

function headers(json: boolean): Headers {
  const h = new Headers({ Accept: json ? "application/json" : "text/plain" });
  if (json) h.set("Content-Type", "application/json");
  if (currentKey) h.set("Authorization", `Bearer ${currentKey}`);
  return h;
}

async function failure(response: Response): Promise<ApiError> {
  let problem: Problem = { status: response.status, title: response.statusText };
  try {
    const body = (await response.json()) as Partial<Problem>;
    problem = { ...problem, ...body, status: response.status };
  } catch {
    // not a problem document (a proxy's page): keep the status line
  }
  return new ApiError(problem);
}

/** POST /api/v1/<operation> with `args`; the operation's output, or an ApiError. */
export async function call<T>(operation: string, args: object, signal?: AbortSignal): Promise<T> {
  const response = await fetch(`/api/v1/${operation}`, {
    method: "POST",
    headers: headers(true),
    body: JSON.stringify(args),
    signal,
    cache: "no-store",
    credentials: "omit",
  });
  if (!response.ok) throw await failure(response);
  return (await response.json()) as T;
}

/** GET /metrics as text (needs the admin scope unless the server makes it public). */
export async function metricsText(signal?: AbortSignal): Promise<string> {
  const response = await fetch("/metrics", { headers: headers(false), signal, cache: "no-store", credentials: "omit" });
  if (!response.ok) throw await failure(response);
  return response.text();
}

/** A readable one-line message of any error a call raised. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = error.problem.errors?.map((e) => `${e.field}: ${e.problem}`).join("; ");
    return fields ? `${error.message} (${fields})` : error.message;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
