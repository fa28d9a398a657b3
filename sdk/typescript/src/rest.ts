/**
 * The REST client: `POST /api/v1/<operation>` with the operation's typed input, answered with its
 * typed output, or a typed error carrying the server's RFC 9457 problem document.
 */

import { ConexusConnectionError, errorFromResponse } from "./errors.js";
import type { components } from "./generated/openapi.js";
import { type CallOptions, type FetchLike, type FetchOptions, conexusFetch, parseRetryAfter, withDeadline } from "./http.js";
import {
  OPERATIONS,
  OPERATION_NAMES,
  type OperationInput,
  type OperationMethods,
  type OperationName,
  type OperationOutput,
} from "./operations.js";

/** Options of {@link ConexusClient}. */
export interface ConexusClientOptions extends FetchOptions {
  /** The server, e.g. `http://127.0.0.1:8765` (what `conexus serve --http` listens on). */
  baseUrl: string;
  /** The default per-call timeout in milliseconds, retries included (default 60000; 0: none). */
  timeoutMs?: number;
}

/** The answer of `GET /readyz`. */
export interface Readiness {
  ready: boolean;
  status: number;
  body: unknown;
}

// Declaration merging gives the class one typed method per generated operation.
export interface ConexusClient extends OperationMethods {}

/**
 * A typed client of the Conexus REST API.
 *
 * ```ts
 * const conexus = new ConexusClient({ baseUrl: "http://127.0.0.1:8765", apiKey: process.env.CONEXUS_API_KEY });
 * const { hits } = await conexus.search({ query: "where are retries configured", top_k: 3 });
 * ```
 *
 * Every operation of the server is a method (`search`, `localize`, `related`, `explain`, `grep`,
 * `read`, `status`, `index`, `connectors`), typed from the server's OpenAPI document.
 *
 * @throws {@link ConexusApiError} (a subclass by status) when the server refuses or fails;
 *   {@link ConexusTimeoutError}, {@link ConexusConnectionError}; the signal's reason on abort.
 */
export class ConexusClient {
  readonly baseUrl: string;
  private readonly fetch: FetchLike;
  private readonly once: FetchLike;
  private readonly timeoutMs: number;

  constructor(options: ConexusClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.fetch = conexusFetch(options);
    this.once = conexusFetch({ ...options, retry: false });
    this.timeoutMs = options.timeoutMs ?? 60_000;
    for (const name of OPERATION_NAMES) {
      Object.defineProperty(this, name, {
        value: (input?: OperationInput<typeof name>, callOptions?: CallOptions) =>
          this.call(name, input ?? ({} as OperationInput<typeof name>), callOptions),
        enumerable: false,
      });
    }
  }

  /** Run operation `name` with `input`; the same as the method of that name. */
  async call<K extends OperationName>(name: K, input: OperationInput<K>, options: CallOptions = {}): Promise<OperationOutput<K>> {
    const url = this.baseUrl + OPERATIONS[name].route;
    return withDeadline(options, this.timeoutMs, `POST ${OPERATIONS[name].route}`, async (signal) => {
      const response = await this.fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, application/problem+json" },
        body: JSON.stringify(input),
        signal,
      });
      const text = await response.text();
      if (!response.ok) {
        throw errorFromResponse(response.status, response.statusText, text, parseRetryAfter(response.headers.get("retry-after")));
      }
      try {
        return JSON.parse(text) as OperationOutput<K>;
      } catch (error) {
        throw new ConexusConnectionError(`POST ${url} answered ${response.status} with a body that is not JSON`, { cause: error });
      }
    });
  }

  /** `GET /healthz`: true while the process serves requests. */
  async health(options: CallOptions = {}): Promise<boolean> {
    return withDeadline(options, this.timeoutMs, "GET /healthz", async (signal) => {
      const response = await this.fetch(`${this.baseUrl}/healthz`, { signal });
      await response.body?.cancel();
      return response.ok;
    });
  }

  /** `GET /readyz`: whether every served root's index opens and answers (never retried: 503 is an answer here). */
  async ready(options: CallOptions = {}): Promise<Readiness> {
    return withDeadline(options, this.timeoutMs, "GET /readyz", async (signal) => {
      const response = await this.once(`${this.baseUrl}/readyz`, { signal });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // readiness answers are JSON; anything else is passed on as text
      }
      return { ready: response.ok, status: response.status, body };
    });
  }
}

/** Schemas of the API by name, e.g. `Schemas["HitOut"]`. */
export type Schemas = components["schemas"];
