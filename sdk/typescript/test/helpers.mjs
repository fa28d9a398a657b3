// What the Node tests share: the live servers tests/sdk/test_typescript.py started, and polling.
import { appendFile } from "node:fs/promises";
import path from "node:path";

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run these tests through \`pytest tests/sdk/test_typescript.py\`, which starts the servers`,
    );
  }
  return value;
}

export const env = {
  get url() { return required("CONEXUS_TEST_URL"); },
  get repo() { return required("CONEXUS_TEST_REPO"); },
  get adminKey() { return required("CONEXUS_TEST_ADMIN_KEY"); },
  get readKey() { return required("CONEXUS_TEST_READ_KEY"); },
  get limitedUrl() { return required("CONEXUS_TEST_LIMITED_URL"); },
  get sheddingUrl() { return required("CONEXUS_TEST_SHEDDING_URL"); },
  get python() { return required("CONEXUS_TEST_PYTHON"); },
  get pythonPath() { return required("CONEXUS_TEST_PYTHONPATH"); },
  get stdioRepo() { return required("CONEXUS_TEST_STDIO_REPO"); },
  get stdioHome() { return required("CONEXUS_TEST_STDIO_HOME"); },
  get openapi() { return required("CONEXUS_TEST_OPENAPI"); },
};

/** Poll `check` until it returns something truthy; fail with `what` after `timeoutMs`. */
export async function eventually(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what} (last: ${JSON.stringify(last)})`);
    // a polling interval, not synchronisation: the deadline decides
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The end-to-end workflow of issue #15 with one client (REST or MCP, they share the method
 * names): search, read the cited lines, edit the file on disk, and see the edit in the index.
 */
export async function searchReadEditSee(client, repo, assert, label) {
  const found = await client.search({ query: "exponential backoff with jitter between retries", top_k: 5 });
  const hit = found.hits.find((h) => h.path === "httpkit/retry.py");
  assert.ok(hit, `retry.py among the hits: ${found.hits.map((h) => h.path).join(", ")}`);
  assert.ok(hit.start_line >= 1 && hit.end_line >= hit.start_line);

  const read = await client.read({ path: hit.path, start_line: hit.start_line, end_line: hit.end_line });
  const text = read.lines.map((l) => l.text).join("\n");
  assert.equal(read.lines[0].line, hit.start_line);
  assert.match(text, /backoff|retry|Retry/);

  const marker = `sdk_marker_${label}_${process.pid}_${Date.now()}`;
  await appendFile(path.join(repo, hit.path), `\n\ndef ${marker}() -> str:\n    """Added by the ${label} SDK test."""\n    return "${marker}"\n`);

  const seen = await eventually(
    async () => {
      const again = await client.search({ query: marker, top_k: 3 });
      return again.hits.find((h) => h.path === hit.path && (h.snippet ?? "").includes(marker));
    },
    30_000,
    `the edit (${marker}) is searchable`,
  );
  const fresh = await client.read({ path: seen.path, start_line: seen.start_line, end_line: seen.end_line });
  assert.ok(fresh.lines.some((l) => l.text.includes(marker)), "the cited lines of the new hit hold the edit");
  return marker;
}
