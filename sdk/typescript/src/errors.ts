/**
 * The errors of the Conexus client, one tree under {@link ConexusError}.
 *
 * ```
 * ConexusError
 * ├── ConexusApiError            the server answered with an RFC 9457 problem document (`problem`)
 * │   ├── InvalidArgumentsError  400: the arguments do not fit the operation (`problem.errors` lists them)
 * │   ├── AuthenticationError    401: no key or token, or one that is invalid or expired
 * │   ├── PermissionDeniedError  403: the key lacks the scope, or the path or root is denied
 * │   ├── NotFoundError          404: unknown root or file, or no index yet
 * │   ├── RateLimitError         429: a rate limit; `retryAfter` seconds (retried before it is thrown)
 * │   └── UnavailableError       503: not ready or overloaded; `retryAfter` seconds (retried likewise)
 * ├── ToolError                  an MCP tool answered `isError: true` (`message` says what to change)
 * ├── ConexusTimeoutError        the per-call timeout ran out (an AbortSignal of the caller throws its own reason)
 * └── ConexusConnectionError     the server could not be reached, or answered something that is not JSON
 * ```
 */

import type { components } from "./generated/openapi.js";

/** An RFC 9457 problem document, as the server sends it (`application/problem+json`). */
export type Problem = components["schemas"]["Problem"];

/** The root of every error the client throws (an abort by the caller's own signal excepted). */
export class ConexusError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The server refused or failed a request; `problem` is the problem document it sent. */
export class ConexusApiError extends ConexusError {
  /** The HTTP status (also `problem.status`). */
  readonly status: number;
  /** The problem document: `type`, `title`, `status`, `detail`, `instance`, `errors`. */
  readonly problem: Problem;
  /** Seconds the server asked to wait (`Retry-After`), when it sent one. */
  readonly retryAfter: number | undefined;

  constructor(problem: Problem, retryAfter?: number) {
    super(`${problem.status} ${problem.title}: ${problem.detail}`);
    this.status = problem.status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }

  /** The last segment of `problem.type`, e.g. `invalid-arguments`, `index-not-ready`. */
  get kind(): string {
    return this.problem.type.slice(this.problem.type.lastIndexOf("/") + 1);
  }
}

export class InvalidArgumentsError extends ConexusApiError {}
export class AuthenticationError extends ConexusApiError {}
export class PermissionDeniedError extends ConexusApiError {}
export class NotFoundError extends ConexusApiError {}
export class RateLimitError extends ConexusApiError {}
export class UnavailableError extends ConexusApiError {}

/** An MCP tool call that the server answered with `isError: true`. */
export class ToolError extends ConexusError {
  /** The tool that failed, e.g. `context_read`. */
  readonly tool: string;

  constructor(tool: string, message: string) {
    super(`${tool}: ${message}`);
    this.tool = tool;
  }
}

/** The call ran longer than its `timeoutMs`. */
export class ConexusTimeoutError extends ConexusError {}

/** The server could not be reached, or its answer was not what the API describes. */
export class ConexusConnectionError extends ConexusError {}

const BY_STATUS: Record<number, new (problem: Problem, retryAfter?: number) => ConexusApiError> = {
  400: InvalidArgumentsError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  429: RateLimitError,
  503: UnavailableError,
};

/** The typed error for a problem document (a 413, 409 or 5xx is a plain {@link ConexusApiError}). */
export function errorFromProblem(problem: Problem, retryAfter?: number): ConexusApiError {
  const Class = BY_STATUS[problem.status] ?? ConexusApiError;
  return new Class(problem, retryAfter);
}

function isProblem(value: unknown): value is Problem {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.type === "string" && typeof v.title === "string" && typeof v.status === "number";
}

/**
 * The error for a failed HTTP answer: its problem document when it sent one, else a problem
 * made from the status line (a proxy's HTML page, a JSON-RPC error object on `/mcp`).
 */
export function errorFromResponse(status: number, statusText: string, body: string, retryAfter?: number): ConexusApiError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  if (isProblem(parsed)) {
    return errorFromProblem({ ...parsed, detail: parsed.detail ?? "" }, retryAfter);
  }
  let detail = body.slice(0, 500);
  const rpc = (parsed as { error?: { message?: unknown } } | undefined)?.error;
  if (rpc && typeof rpc.message === "string") detail = rpc.message;
  return errorFromProblem(
    { type: "about:blank", title: statusText || `HTTP ${status}`, status, detail },
    retryAfter,
  );
}
