/**
 * What every request of the SDK goes through, REST and MCP alike: the credential, retries of
 * refusals that the server made before doing any work (429 and 503, honouring `Retry-After`),
 * and the caller's AbortSignal and timeout.
 */

import { ConexusConnectionError, ConexusTimeoutError } from "./errors.js";

/** A `fetch` of the platform's shape (Node's global `fetch`, or a test's). */
export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

/** How to authenticate: an API key from `conexus keys create`, or an OAuth access token. */
export interface Credentials {
  /** An API key (`cx_...`), sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /**
   * A bearer token (an OAuth JWT of the server's issuer), or a function that returns a fresh
   * one; it is called before every request, so it can refresh an expiring token.
   */
  token?: string | (() => string | Promise<string>);
}

/** Retries of answers the server refused without doing the work: 429 (rate limit) and 503. */
export interface RetryOptions {
  /** Attempts in all, the first included (default 4; 1 turns retries off). */
  maxAttempts?: number;
  /** The backoff's base: attempt n waits up to `baseDelayMs * 2^(n-1)` (default 250). */
  baseDelayMs?: number;
  /** The cap of the exponential part (default 8000). */
  maxDelayMs?: number;
  /** A `Retry-After` longer than this is not waited for: the error is thrown (default 30000). */
  maxRetryAfterMs?: number;
  /** Called before each wait, e.g. to log it. */
  onRetry?: (event: RetryEvent) => void;
  /** The random source of the jitter, in [0, 1) (default `Math.random`). */
  random?: () => number;
}

/** One retry about to happen. */
export interface RetryEvent {
  /** The attempt that was refused (1 for the first). */
  attempt: number;
  /** The refusal's status: 429 or 503. */
  status: number;
  /** What the server asked for (`Retry-After`, in seconds), if anything. */
  retryAfter: number | undefined;
  /** How long the client waits before the next attempt. */
  delayMs: number;
}

const RETRY_STATUSES = new Set([429, 503]);

/**
 * The seconds of a `Retry-After` header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3);
 * undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/**
 * The wait before retry `attempt` (1-based): the server's `Retry-After` when it sent one, plus
 * "full jitter" (a uniform draw in [0, min(cap, base * 2^(attempt-1))), as in the AWS
 * Architecture Blog's "Exponential Backoff and Jitter"), so clients refused together do not
 * come back together.
 */
export function retryDelay(attempt: number, retryAfter: number | undefined, options: RetryOptions = {}): number {
  const base = options.baseDelayMs ?? 250;
  const cap = options.maxDelayMs ?? 8000;
  const random = options.random ?? Math.random;
  const jitter = random() * Math.min(cap, base * 2 ** (attempt - 1));
  return Math.round((retryAfter ?? 0) * 1000 + jitter);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The `Authorization` header value for some credentials, or undefined for none. */
export async function authorization(credentials: Credentials): Promise<string | undefined> {
  const token = typeof credentials.token === "function" ? await credentials.token() : credentials.token;
  const secret = credentials.apiKey ?? token;
  return secret ? `Bearer ${secret}` : undefined;
}

/** Options of {@link conexusFetch}. */
export interface FetchOptions extends Credentials {
  retry?: RetryOptions | false;
  headers?: Record<string, string>;
  fetch?: FetchLike;
}

/**
 * A `fetch` that adds the credential and retries 429 and 503 answers with exponential backoff and
 * full jitter, at least `Retry-After` apart. The last answer is returned as it is (the caller
 * turns it into an error); a network failure becomes a {@link ConexusConnectionError}, and an
 * aborted `init.signal` rejects with its reason.
 */
export function conexusFetch(options: FetchOptions): FetchLike {
  const base = options.fetch ?? ((input, init) => fetch(input, init));
  const retry = options.retry === false ? { maxAttempts: 1 } : (options.retry ?? {});
  const maxAttempts = Math.max(1, retry.maxAttempts ?? 4);
  const maxRetryAfterMs = retry.maxRetryAfterMs ?? 30_000;
  return async (input, init = {}) => {
    const headers = new Headers(init.headers);
    for (const [name, value] of Object.entries(options.headers ?? {})) headers.set(name, value);
    const signal = init.signal ?? undefined;
    for (let attempt = 1; ; attempt++) {
      // Asked again for every attempt: a token function may hand out a fresh token.
      const auth = await authorization(options);
      if (auth !== undefined) headers.set("authorization", auth);
      let response: Response;
      try {
        response = await base(input, { ...init, headers });
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        throw new ConexusConnectionError(`cannot reach ${String(input)}: ${describeCause(error)}`, { cause: error });
      }
      if (!RETRY_STATUSES.has(response.status) || attempt >= maxAttempts) return response;
      const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
      if (retryAfter !== undefined && retryAfter * 1000 > maxRetryAfterMs) return response;
      const delayMs = retryDelay(attempt, retryAfter, retry);
      await response.body?.cancel();
      retry.onRetry?.({ attempt, status: response.status, retryAfter, delayMs });
      await sleep(delayMs, signal);
    }
  };
}

function describeCause(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}

/** The per-call options every operation takes. */
export interface CallOptions {
  /** Aborts the call (and any wait between retries); the call rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds, retries included, with a {@link ConexusTimeoutError}. */
  timeoutMs?: number;
}

/**
 * Run `work` under the caller's signal and a timeout: `work` gets one signal that fires on
 * either; a timeout surfaces as {@link ConexusTimeoutError}, the caller's abort as its reason.
 */
export async function withDeadline<T>(
  options: CallOptions,
  defaultTimeoutMs: number | undefined,
  what: string,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const timer = new AbortController();
  const timeout =
    timeoutMs !== undefined && timeoutMs > 0
      ? setTimeout(() => timer.abort(new ConexusTimeoutError(`${what} did not finish within ${timeoutMs} ms`)), timeoutMs)
      : undefined;
  const signal = options.signal ? AbortSignal.any([options.signal, timer.signal]) : timer.signal;
  try {
    return await work(signal);
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw error;
  } finally {
    clearTimeout(timeout);
  }
}
