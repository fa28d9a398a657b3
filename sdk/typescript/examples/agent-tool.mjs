// An agent's tools: hand the Conexus MCP tools to an LLM API and run the calls the model makes.
//   CONEXUS_URL=http://127.0.0.1:8765 CONEXUS_API_KEY=cx_... node agent-tool.mjs
import { ConexusMcpClient } from "@conexus/client";

const mcp = await ConexusMcpClient.connectHttp({
  url: process.env.CONEXUS_URL ?? "http://127.0.0.1:8765",
  apiKey: process.env.CONEXUS_API_KEY,
});
// Or spawn a server over stdio: ConexusMcpClient.connectStdio({ roots: ["/path/to/repo"] })

try {
  // 1. The tool list for the model: Anthropic's Messages API takes these as `tools` as they are
  //    (OpenAI's function tools call `input_schema` `parameters`).
  const tools = await mcp.toolDefinitions();
  console.log(`tools for the model: ${tools.map((t) => t.name).join(", ")}`);

  // 2. The model answers with a tool call; here one is written out instead of calling an LLM.
  const toolUse = { type: "tool_use", id: "toolu_01", name: "context_search", input: { query: "retry backoff", top_k: 3 } };

  // 3. Run it and hand the result back. callTool never throws on a tool's own error: the
  //    message (e.g. "the path leaves the root") goes back to the model, which can fix its call.
  const answer = await mcp.callTool(toolUse.name, toolUse.input, { timeoutMs: 30_000 });
  const toolResult = { type: "tool_result", tool_use_id: toolUse.id, content: answer.text, is_error: answer.isError };
  console.log(toolResult.content.split("\n").slice(0, 8).join("\n"));
} finally {
  await mcp.close();
}
