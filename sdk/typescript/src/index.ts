/**
 * `@conexus/client`: a typed TypeScript client for Conexus, the codebase-context engine.
 *
 * - {@link ConexusClient}: the REST API (`POST /api/v1/<operation>`).
 * - {@link ConexusMcpClient}: every MCP tool, over streamable HTTP or stdio (`conexus serve`).
 *
 * Both have one method per operation with the same input and output types, generated from the
 * server's OpenAPI document; both retry 429/503 refusals, take an AbortSignal and a timeout per
 * call, and throw the typed errors of `errors.ts`.
 */

export * from "./errors.js";
export {
  type CallOptions,
  type Credentials,
  type FetchLike,
  type FetchOptions,
  type RetryEvent,
  type RetryOptions,
  conexusFetch,
  parseRetryAfter,
  retryDelay,
} from "./http.js";
export * from "./operations.js";
export { ConexusClient, type ConexusClientOptions, type Readiness, type Schemas } from "./rest.js";
export {
  ConexusMcpClient,
  type AgentToolDefinition,
  type McpCallOptions,
  type McpClientOptions,
  type McpHttpOptions,
  type McpStdioOptions,
  type ToolAnswer,
} from "./mcp.js";
export type { components, operations, paths } from "./generated/openapi.js";
