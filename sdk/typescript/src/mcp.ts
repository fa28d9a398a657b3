/**
 * Typed helpers for every Conexus MCP tool, over the official MCP TypeScript SDK's client:
 * streamable HTTP to a running `conexus serve --http`, or stdio to a `conexus serve` it spawns.
 */

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport, getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";

import { ToolError, errorFromResponse } from "./errors.js";
import { type CallOptions, type FetchLike, type FetchOptions, conexusFetch, parseRetryAfter, withDeadline } from "./http.js";
import {
  OPERATIONS,
  OPERATION_NAMES,
  type OperationInput,
  type OperationMethods,
  type OperationName,
  type OperationOutput,
  operationOfTool,
} from "./operations.js";

const VERSION = "0.1.0";
// setTimeout's largest delay: "no timeout" for the SDK's own request timer.
const NO_TIMEOUT_MS = 2 ** 31 - 1;

/** Per-call options of MCP tools: those of every call, and progress notifications. */
export interface McpCallOptions extends CallOptions {
  /** Progress of long tools (index jobs started by `index`): done, total, message. */
  onProgress?: (progress: { progress: number; total?: number; message?: string }) => void;
}

/** Options shared by both transports. */
export interface McpClientOptions {
  /** The default per-call timeout in milliseconds (default 60000; 0: none). */
  timeoutMs?: number;
  /** How this client introduces itself to the server. */
  clientInfo?: { name: string; version: string };
}

/** Options of {@link ConexusMcpClient.connectHttp}. */
export interface McpHttpOptions extends McpClientOptions, FetchOptions {
  /** The server's URL: its `/mcp` endpoint, or the base URL (`/mcp` is appended). */
  url: string | URL;
}

/** Options of {@link ConexusMcpClient.connectStdio}. */
export interface McpStdioOptions extends McpClientOptions {
  /**
   * The `conexus` executable (default: `$CONEXUS_EXECUTABLE`, else `conexus` on the PATH), e.g.
   * `/home/me/src/conexus/.venv/bin/conexus`; or an interpreter with `args: ["-m", "conexus"]`.
   */
  command?: string;
  /** Arguments before `serve` (e.g. `["-m", "conexus"]`, or global options like `--home DIR`). */
  args?: string[];
  /** The folders to serve (default: the server's working directory). */
  roots?: string[];
  /** Options of `conexus serve` itself, e.g. `["--no-watch"]`. */
  serveArgs?: string[];
  /**
   * Variables for the server, over the SDK's safe default environment (`PATH`, `HOME`, ...) and
   * this process's `CONEXUS_*` variables (so `CONEXUS_HOME`, `CONEXUS_EMBEDDER` carry over).
   */
  env?: Record<string, string>;
  /** The server's working directory. */
  cwd?: string;
  /** What to do with the server's stderr (its log): `inherit` (default), `pipe` or `ignore`. */
  stderr?: "inherit" | "pipe" | "ignore";
}

/** A tool as an LLM API takes it (Anthropic's `input_schema`; OpenAI calls it `parameters`). */
export interface AgentToolDefinition {
  name: string;
  description: string;
  input_schema: Record<string, unknown>;
}

/** The answer of a tool call, ready to hand back to a model: never throws on a tool's own error. */
export interface ToolAnswer {
  /** The readable text of the result, or the error message the model can act on. */
  text: string;
  /** The structured result (absent for errors). */
  structured: Record<string, unknown> | undefined;
  isError: boolean;
}

function mcpUrl(url: string | URL): URL {
  const parsed = new URL(url);
  if (!parsed.pathname.replace(/\/+$/, "").endsWith("/mcp")) {
    parsed.pathname = parsed.pathname.replace(/\/+$/, "") + "/mcp";
  }
  return parsed;
}

function conexusVariables(): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith("CONEXUS_") && value !== undefined) picked[name] = value;
  }
  return picked;
}

function textOf(content: unknown): string {
  if (!Array.isArray(content)) return "";
  return content
    .filter((c): c is { type: "text"; text: string } => c?.type === "text" && typeof c.text === "string")
    .map((c) => c.text)
    .join("\n");
}

// Declaration merging gives the class one typed method per generated operation.
export interface ConexusMcpClient extends OperationMethods<McpCallOptions> {}

/**
 * A connected MCP client of a Conexus server, with one typed method per tool:
 * `mcp.search({ query })` calls `context_search` and returns its structured content.
 *
 * ```ts
 * const mcp = await ConexusMcpClient.connectHttp({ url: "http://127.0.0.1:8765/mcp", apiKey });
 * const { hits } = await mcp.search({ query: "retry backoff" });
 * await mcp.close();
 * ```
 *
 * @throws {@link ToolError} when a tool answers `isError` (bad arguments, a missing file, ...);
 *   over HTTP a refused request is a {@link ConexusApiError} with the problem details.
 */
export class ConexusMcpClient {
  /** The official SDK's client, for what these helpers do not cover (resources, raw requests). */
  readonly client: Client;
  private readonly timeoutMs: number;

  private constructor(client: Client, options: McpClientOptions) {
    this.client = client;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    for (const name of OPERATION_NAMES) {
      Object.defineProperty(this, name, {
        value: (input?: OperationInput<typeof name>, callOptions?: McpCallOptions) =>
          this.call(name, input ?? ({} as OperationInput<typeof name>), callOptions),
        enumerable: false,
      });
    }
  }

  private static async open(transport: Transport, options: McpClientOptions): Promise<ConexusMcpClient> {
    const client = new Client(options.clientInfo ?? { name: "@conexus/client", version: VERSION });
    const timeout = options.timeoutMs === 0 ? NO_TIMEOUT_MS : (options.timeoutMs ?? 60_000);
    await client.connect(transport, { timeout });
    return new ConexusMcpClient(client, options);
  }

  /** Connect over streamable HTTP to a running `conexus serve --http` (`POST /mcp`). */
  static async connectHttp(options: McpHttpOptions): Promise<ConexusMcpClient> {
    const retrying = conexusFetch(options);
    // A refused POST (401, 403, 429 after its retries, ...) becomes the typed error with the
    // server's problem details, instead of the transport's generic one.
    const fetch: FetchLike = async (input, init) => {
      const response = await retrying(input, init);
      if (!response.ok && (init?.method ?? "GET").toUpperCase() === "POST") {
        const text = await response.text();
        throw errorFromResponse(response.status, response.statusText, text, parseRetryAfter(response.headers.get("retry-after")));
      }
      return response;
    };
    return ConexusMcpClient.open(new StreamableHTTPClientTransport(mcpUrl(options.url), { fetch }), options);
  }

  /** Spawn `conexus serve` and talk to it over stdio; {@link close} stops it. */
  static async connectStdio(options: McpStdioOptions = {}): Promise<ConexusMcpClient> {
    const command = options.command ?? process.env.CONEXUS_EXECUTABLE ?? "conexus";
    const transport = new StdioClientTransport({
      command,
      args: [...(options.args ?? []), "serve", ...(options.serveArgs ?? []), ...(options.roots ?? [])],
      env: { ...getDefaultEnvironment(), ...conexusVariables(), ...(options.env ?? {}) },
      stderr: options.stderr ?? "inherit",
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    });
    return ConexusMcpClient.open(transport, options);
  }

  /** Call the tool of operation `name`; the same as the method of that name. */
  async call<K extends OperationName>(name: K, input: OperationInput<K>, options: McpCallOptions = {}): Promise<OperationOutput<K>> {
    const tool = OPERATIONS[name].tool;
    const answer = await this.callTool(tool, input as Record<string, unknown>, options);
    if (answer.isError) throw new ToolError(tool, answer.text);
    return answer.structured as OperationOutput<K>;
  }

  /**
   * Call a tool by its MCP name with untyped arguments (what a model asks for) and return the
   * answer for the model: an `isError` result is returned, not thrown.
   */
  async callTool(tool: string, args: Record<string, unknown>, options: McpCallOptions = {}): Promise<ToolAnswer> {
    return withDeadline(options, this.timeoutMs, tool, async (signal) => {
      const result = await this.client.callTool({ name: tool, arguments: args }, undefined, {
        signal,
        timeout: NO_TIMEOUT_MS, // withDeadline owns the timeout
        ...(options.onProgress ? { onprogress: options.onProgress, resetTimeoutOnProgress: true } : {}),
      });
      const structured = result.structuredContent as Record<string, unknown> | undefined;
      return { text: textOf(result.content), structured, isError: result.isError === true };
    });
  }

  /** The server's tools as an LLM API takes them, for an agent's tool list. */
  async toolDefinitions(options: CallOptions = {}): Promise<AgentToolDefinition[]> {
    return withDeadline(options, this.timeoutMs, "tools/list", async (signal) => {
      const { tools } = await this.client.listTools(undefined, { signal, timeout: NO_TIMEOUT_MS });
      return tools.map((tool) => ({
        name: tool.name,
        description: tool.description ?? "",
        input_schema: tool.inputSchema as Record<string, unknown>,
      }));
    });
  }

  /** The operation behind an MCP tool name, or undefined for a tool this SDK does not know. */
  static operationOfTool(tool: string): OperationName | undefined {
    return operationOfTool(tool);
  }

  /** End the session (over HTTP: `DELETE /mcp`, so the server frees it at once; over stdio: stop the server). */
  async close(): Promise<void> {
    const transport = this.client.transport;
    if (transport instanceof StreamableHTTPClientTransport && transport.sessionId !== undefined) {
      // Best effort: the server also ends idle sessions itself.
      await transport.terminateSession().catch(() => undefined);
    }
    await this.client.close();
  }
}
