import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";

import {
  AuthenticationError,
  ConexusMcpClient,
  ConexusTimeoutError,
  OPERATIONS,
  OPERATION_NAMES,
  ToolError,
} from "@conexus/client";

import { env, eventually, searchReadEditSee } from "./helpers.mjs";

describe("the MCP client over streamable HTTP", () => {
  let mcp;
  before(async () => {
    mcp = await ConexusMcpClient.connectHttp({ url: `${env.url}/mcp`, apiKey: env.adminKey });
  });
  after(async () => {
    await mcp?.close();
  });

  it("searches, reads the cited lines, and sees an edit of the file", async () => {
    await searchReadEditSee(mcp, env.repo, assert, "mcp_http");
  });

  it("has a helper for exactly the tools the server lists, with the OpenAPI document's arguments", async () => {
    const openapi = JSON.parse(await readFile(env.openapi, "utf8"));
    const { tools } = await mcp.client.listTools();
    assert.deepEqual(
      tools.map((t) => t.name).sort(),
      OPERATION_NAMES.map((n) => OPERATIONS[n].tool).sort(),
    );
    for (const name of OPERATION_NAMES) {
      const tool = tools.find((t) => t.name === OPERATIONS[name].tool);
      const ref = openapi.paths[OPERATIONS[name].route].post.requestBody.content["application/json"].schema.$ref;
      const schema = openapi.components.schemas[ref.split("/").pop()];
      assert.deepEqual(Object.keys(tool.inputSchema.properties ?? {}).sort(), Object.keys(schema.properties).sort(), name);
      assert.deepEqual((tool.inputSchema.required ?? []).sort(), (schema.required ?? []).sort(), name);
      assert.equal(ConexusMcpClient.operationOfTool(tool.name), name);
    }
  });

  it("gives an agent the tool definitions and answers a model's tool call by name", async () => {
    const definitions = await mcp.toolDefinitions();
    const search = definitions.find((d) => d.name === "context_search");
    assert.ok(search.description.length > 20);
    assert.equal(search.input_schema.type, "object");
    const answer = await mcp.callTool("context_search", { query: "cookie jar", top_k: 2 });
    assert.equal(answer.isError, false);
    assert.match(answer.text, /cookies\.py/);
    const refused = await mcp.callTool("context_read", { path: "../outside.txt" });
    assert.equal(refused.isError, true);
    assert.ok(refused.text.length > 0);
  });

  it("throws ToolError with the server's message when a tool fails", async () => {
    await assert.rejects(mcp.read({ path: "httpkit/no_such_file.py" }), (e) => {
      assert.ok(e instanceof ToolError, String(e));
      assert.equal(e.tool, "context_read");
      assert.match(e.message, /no_such_file/);
      return true;
    });
  });

  it("reports progress of an index job it waits for", async () => {
    const progress = [];
    const done = await mcp.index({ action: "reindex", wait: true }, { onProgress: (p) => progress.push(p) });
    assert.equal(done.action, "reindex");
    assert.equal(done.index_state, "ready");
    assert.ok(progress.length >= 1, "at least the job's last progress notification");
    assert.ok(progress.every((p) => typeof p.progress === "number" && typeof p.message === "string"));
    await eventually(async () => (await mcp.status()).index_state === "ready", 30_000, "the index is ready again");
  });

  it("rejects with the caller's reason on abort and with ConexusTimeoutError on timeout", async () => {
    const controller = new AbortController();
    const pending = mcp.localize({ issue: "redirects drop the cookie jar" }, { signal: controller.signal });
    controller.abort();
    await assert.rejects(pending, { name: "AbortError" });
    await assert.rejects(mcp.localize({ issue: "redirect cookies" }, { timeoutMs: 1 }), ConexusTimeoutError);
    assert.equal((await mcp.status()).index_state, "ready", "the session survives a cancelled call");
  });

  it("refuses to connect without a key, with the problem details", async () => {
    await assert.rejects(ConexusMcpClient.connectHttp({ url: env.url }), (e) => {
      assert.ok(e instanceof AuthenticationError, String(e));
      assert.equal(e.status, 401);
      return true;
    });
  });

  it("reports a scope the key lacks as a tool error", async () => {
    const reader = await ConexusMcpClient.connectHttp({ url: env.url, apiKey: env.readKey });
    try {
      await assert.rejects(reader.connectors({ action: "list" }), (e) => e instanceof ToolError && /admin/.test(e.message));
    } finally {
      await reader.close();
    }
  });
});

describe("the MCP client over stdio", () => {
  let mcp;
  before(async () => {
    mcp = await ConexusMcpClient.connectStdio({
      command: env.python,
      args: ["-m", "conexus"],
      roots: [env.stdioRepo],
      env: { CONEXUS_HOME: env.stdioHome, CONEXUS_EMBEDDER: "fake", PYTHONPATH: env.pythonPath },
      stderr: "ignore",
    });
    await eventually(
      async () => {
        const st = await mcp.index({ action: "status" });
        return st.index_state === "ready" && st.status.jobs.current === null && st.status.jobs.queued.length === 0;
      },
      60_000,
      "the stdio server's index is ready",
    );
  });
  after(async () => {
    await mcp?.close();
  });

  it("spawns conexus serve, searches, reads the cited lines, and sees an edit of the file", async () => {
    await searchReadEditSee(mcp, env.stdioRepo, assert, "mcp_stdio");
  });
});
