/**
 * Types over the generated operation table: one name per operation (`search`, `read`, ...), its
 * input and output, and the method signature both clients share.
 */

import { OPERATIONS, type OperationTypes } from "./generated/operations.js";
import type { CallOptions } from "./http.js";

export { OPERATIONS };
export type { OperationTypes };

/** An operation's name: its REST route `/api/v1/<name>` and its method on both clients. */
export type OperationName = keyof OperationTypes;
/** An MCP tool name, e.g. `context_search`. */
export type ToolName = OperationTypes[OperationName]["tool"];
/** The arguments of an operation (REST body and MCP tool arguments alike). */
export type OperationInput<K extends OperationName> = OperationTypes[K]["input"];
/** The result of an operation (REST response and MCP structured content alike). */
export type OperationOutput<K extends OperationName> = OperationTypes[K]["output"];
/** The operation whose MCP tool is `T`. */
export type OperationOfTool<T extends ToolName> = {
  [K in OperationName]: OperationTypes[K]["tool"] extends T ? K : never;
}[OperationName];

/** The arguments of an operation's method: the input may be left out when every field is optional. */
export type OperationArgs<K extends OperationName, O = CallOptions> =
  // `{}` on purpose: "every field of the input is optional"
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  {} extends OperationInput<K> ? [input?: OperationInput<K>, options?: O] : [input: OperationInput<K>, options?: O];

/** One typed method per operation: `client.search({ query })`, `client.read({ path })`, ... */
export type OperationMethods<O = CallOptions> = {
  [K in OperationName]: (...args: OperationArgs<K, O>) => Promise<OperationOutput<K>>;
};

/** Every operation name, in the table's order. */
export const OPERATION_NAMES = Object.keys(OPERATIONS) as OperationName[];

const BY_TOOL = new Map<string, OperationName>(OPERATION_NAMES.map((name) => [OPERATIONS[name].tool, name]));

/** The operation of an MCP tool name, or undefined for a tool this SDK does not know. */
export function operationOfTool(tool: string): OperationName | undefined {
  return BY_TOOL.get(tool);
}
