import assert from "node:assert/strict";
import { connect } from "node:net";
import { describe, it } from "node:test";

import { ConexusClient, ConexusMcpClient, RateLimitError, parseRetryAfter, retryDelay } from "@conexus/client";

import { env, eventually } from "./helpers.mjs";

describe("retries", () => {
  it("waits at least Retry-After plus full jitter, doubling the jitter's range per attempt", () => {
    const options = { baseDelayMs: 100, maxDelayMs: 1000 };
    assert.equal(retryDelay(1, undefined, { ...options, random: () => 0 }), 0);
    assert.equal(retryDelay(1, undefined, { ...options, random: () => 0.5 }), 50);
    assert.equal(retryDelay(3, undefined, { ...options, random: () => 0.5 }), 200);
    assert.equal(retryDelay(10, undefined, { ...options, random: () => 0.5 }), 500, "capped at maxDelayMs");
    assert.equal(retryDelay(1, 2, { ...options, random: () => 0.5 }), 2050, "Retry-After comes first");
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    assert.equal(parseRetryAfter("3"), 3);
    assert.equal(parseRetryAfter(null), undefined);
    assert.equal(parseRetryAfter("soon"), undefined);
    const now = Date.parse("Mon, 07 Dec 2026 12:00:00 GMT");
    assert.equal(parseRetryAfter("Mon, 07 Dec 2026 12:00:05 GMT", now), 5);
  });

  it("retries a 429 from the server's rate limit after its Retry-After and then succeeds", async () => {
    const retries = [];
    const client = new ConexusClient({ baseUrl: env.limitedUrl, retry: { onRetry: (e) => retries.push(e) } });
    for (let i = 0; i < 3; i++) assert.equal((await client.status()).index_state, "ready");
    assert.ok(retries.length >= 1, "one request a second: three in a row are refused at least once");
    for (const retry of retries) {
      assert.equal(retry.status, 429);
      assert.ok(retry.retryAfter >= 1);
      assert.ok(retry.delayMs >= retry.retryAfter * 1000);
    }
  });

  it("throws RateLimitError with Retry-After when retries are off", async () => {
    const client = new ConexusClient({ baseUrl: env.limitedUrl, retry: false });
    const outcomes = await Promise.allSettled([client.status(), client.status(), client.status()]);
    const refused = outcomes.filter((o) => o.status === "rejected").map((o) => o.reason);
    assert.ok(refused.length >= 1, "three at once against a burst of one");
    for (const error of refused) {
      assert.ok(error instanceof RateLimitError, String(error));
      assert.equal(error.status, 429);
      assert.equal(error.kind, "rate-limited");
      assert.ok(error.retryAfter >= 1);
    }
  });

  it("stops waiting between retries when the caller aborts, without another attempt", async () => {
    const drain = new ConexusClient({ baseUrl: env.limitedUrl, retry: false });
    for (let round = 0; round < 5; round++) {
      const controller = new AbortController();
      let attempts = 0;
      let retried = false;
      const client = new ConexusClient({
        baseUrl: env.limitedUrl,
        fetch: (input, init) => (attempts++, fetch(input, init)),
        retry: { maxAttempts: 10, onRetry: () => { retried = true; controller.abort(); } },
      });
      await drain.status().catch(() => undefined); // takes the bucket's one token
      const outcome = await client.status({}, { signal: controller.signal }).then(() => null, (e) => e);
      if (!retried) continue; // the bucket refilled in between: not refused, try again
      assert.equal(outcome?.name, "AbortError");
      assert.equal(attempts, 1, "the wait ended with the abort: no second attempt");
      return;
    }
    assert.fail("no request was refused in five rounds against one request a second");
  });

  it("retries a 503 of a server that sheds load, once its one slot is free again", async () => {
    // Hold the server's only slot: a request whose body has not arrived yet is in flight.
    const { hostname, port } = new URL(env.sheddingUrl);
    const held = connect(Number(port), hostname);
    await new Promise((resolve, reject) => held.once("connect", resolve).once("error", reject));
    const answered = new Promise((resolve) => {
      let text = "";
      held.on("data", (chunk) => (text += chunk));
      held.on("close", () => resolve(text));
    });
    held.write(
      `POST /api/v1/status HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\n` +
        "Content-Length: 2\r\nConnection: close\r\n\r\n",
    );
    const retries = [];
    const client = new ConexusClient({
      baseUrl: env.sheddingUrl,
      retry: {
        onRetry: (event) => {
          if (retries.push(event) === 1) held.write("{}"); // the held request completes and frees the slot
        },
      },
    });
    // The held request may reach the server after ours; then ours is not shed: try again.
    await eventually(
      async () => {
        assert.equal((await client.status()).index_state, "ready");
        return retries.length > 0;
      },
      30_000,
      "a request was shed while the slot was held",
    );
    assert.equal(retries[0].status, 503);
    assert.ok(retries[0].retryAfter >= 1);
    assert.match(await answered, /^HTTP\/1\.1 200/);
  });

  it("retries a 429 on the MCP transport too", async () => {
    const retries = [];
    const mcp = await ConexusMcpClient.connectHttp({ url: env.limitedUrl, retry: { onRetry: (e) => retries.push(e) } });
    try {
      for (let i = 0; i < 2; i++) assert.equal((await mcp.status()).index_state, "ready");
    } finally {
      await mcp.close();
    }
    assert.ok(retries.length >= 1 && retries.every((r) => r.status === 429));
  });
});
