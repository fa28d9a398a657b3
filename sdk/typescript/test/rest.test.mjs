import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  AuthenticationError,
  ConexusApiError,
  ConexusClient,
  ConexusTimeoutError,
  InvalidArgumentsError,
  NotFoundError,
  PermissionDeniedError,
} from "@conexus/client";

import { env, searchReadEditSee } from "./helpers.mjs";

const admin = () => new ConexusClient({ baseUrl: env.url, apiKey: env.adminKey });

describe("the REST client", () => {
  it("searches, reads the cited lines, and sees an edit of the file", async () => {
    await searchReadEditSee(admin(), env.repo, assert, "rest");
  });

  it("answers every read operation with its typed output", async () => {
    const client = admin();
    const status = await client.status();
    assert.equal(status.index_state, "ready");
    const grep = await client.grep({ pattern: "def backoff_time", literal: true });
    assert.ok(grep.matches.some((m) => m.path === "httpkit/retry.py"));
    const localized = await client.localize({ issue: "Retries wait too long: the backoff ignores the jitter setting" });
    assert.ok(localized.files.length > 0);
    const related = await client.related({ target: "httpkit/retry.py" });
    assert.equal(typeof related, "object");
    assert.equal(await client.health(), true);
    assert.equal((await client.ready()).ready, true);
  });

  it("sends a bearer token from a function before every request", async () => {
    let asked = 0;
    const client = new ConexusClient({ baseUrl: env.url, token: async () => (asked++, env.readKey) });
    await client.status();
    await client.status();
    assert.equal(asked, 2);
  });

  it("throws AuthenticationError with the problem document without a key or with a wrong one", async () => {
    for (const apiKey of [undefined, "cx_not-a-key"]) {
      const error = await new ConexusClient({ baseUrl: env.url, apiKey }).status().then(
        () => assert.fail("an unauthenticated request was answered"),
        (e) => e,
      );
      assert.ok(error instanceof AuthenticationError, String(error));
      assert.ok(error instanceof ConexusApiError);
      assert.equal(error.status, 401);
      assert.equal(error.problem.status, 401);
      assert.equal(error.kind, "unauthorized");
      assert.equal(error.problem.instance, "/api/v1/status");
    }
  });

  it("throws PermissionDeniedError when the key lacks the operation's scope", async () => {
    const reader = new ConexusClient({ baseUrl: env.url, apiKey: env.readKey });
    await assert.rejects(reader.connectors({ action: "list" }), (e) => {
      assert.ok(e instanceof PermissionDeniedError, String(e));
      assert.equal(e.kind, "forbidden");
      assert.match(e.problem.detail, /admin/);
      return true;
    });
  });

  it("throws InvalidArgumentsError listing each bad argument", async () => {
    await assert.rejects(admin().search({ query: "x", top_k: 0 }), (e) => {
      assert.ok(e instanceof InvalidArgumentsError, String(e));
      assert.deepEqual(e.problem.errors?.map((i) => i.field), ["top_k"]);
      return true;
    });
  });

  it("throws NotFoundError for a file that does not exist", async () => {
    await assert.rejects(admin().read({ path: "httpkit/no_such_file.py" }), NotFoundError);
  });

  it("rejects with the caller's reason when its signal aborts, before or during the call", async () => {
    const before = new AbortController();
    before.abort(new Error("the user went away"));
    await assert.rejects(admin().status({}, { signal: before.signal }), /the user went away/);

    // Aborted while the request is on the wire: the custom fetch aborts right after sending.
    const during = new AbortController();
    let sent = false;
    const client = new ConexusClient({
      baseUrl: env.url,
      apiKey: env.adminKey,
      fetch: (input, init) => {
        const response = fetch(input, init);
        sent = true;
        during.abort();
        return response;
      },
    });
    await assert.rejects(client.localize({ issue: "sessions lose cookies after a redirect" }, { signal: during.signal }), {
      name: "AbortError",
    });
    assert.ok(sent);
  });

  it("throws ConexusTimeoutError when the per-call timeout runs out", async () => {
    await assert.rejects(admin().localize({ issue: "cookies and redirects" }, { timeoutMs: 1 }), ConexusTimeoutError);
  });
});
