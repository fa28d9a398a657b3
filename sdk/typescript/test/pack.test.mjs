import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { env } from "./helpers.mjs";

const run = promisify(execFile);
const sdk = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

describe("the packed tarball", () => {
  let folder;
  let app;
  let files;
  before(async () => {
    folder = await mkdtemp(path.join(tmpdir(), "conexus-sdk-pack-"));
    // The build ran before these tests (tests/sdk/test_typescript.py): pack what it made.
    const { stdout } = await run(npm, ["pack", "--ignore-scripts", "--json", "--pack-destination", folder], { cwd: sdk });
    const [packed] = JSON.parse(stdout);
    files = packed.files.map((f) => f.path);
    app = path.join(folder, "app");
    await run("mkdir", ["-p", app]);
    await writeFile(path.join(app, "package.json"), JSON.stringify({ name: "sdk-user", private: true, type: "module" }));
    await run(
      npm,
      ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", path.join(folder, packed.filename)],
      { cwd: app, timeout: 300_000 },
    );
    for (const example of ["node-script.mjs", "agent-tool.mjs"]) {
      await copyFile(path.join(sdk, "examples", example), path.join(app, example));
    }
  });
  after(async () => {
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it("holds the ESM and CommonJS builds with their declarations, the README and the examples, no sources", () => {
    for (const f of ["dist/index.js", "dist/index.cjs", "dist/index.d.ts", "dist/index.d.cts", "README.md", "package.json"]) {
      assert.ok(files.includes(f), `${f} in ${files.join(", ")}`);
    }
    assert.ok(files.includes("examples/node-script.mjs"));
    assert.ok(!files.some((f) => f.startsWith("src/") || f.startsWith("test/") || f.includes("node_modules")));
  });

  it("loads with import and with require in a fresh project", async () => {
    const esm = await run("node", ["--input-type=module", "-e", "import { ConexusClient } from '@conexus/client'; console.log(typeof ConexusClient)"], { cwd: app });
    assert.equal(esm.stdout.trim(), "function");
    const cjs = await run("node", ["-e", "const { ConexusMcpClient, OPERATIONS } = require('@conexus/client'); console.log(typeof ConexusMcpClient, OPERATIONS.search.tool)"], { cwd: app });
    assert.equal(cjs.stdout.trim(), "function context_search");
  });

  it("runs the README's Node script example against the live server", async () => {
    const { stdout } = await run("node", ["node-script.mjs", "cookie jar"], {
      cwd: app,
      env: { ...process.env, CONEXUS_URL: env.url, CONEXUS_API_KEY: env.readKey },
    });
    assert.match(stdout, /hits \(index /);
    assert.match(stdout, /httpkit\/cookies\.py:\d+-\d+/);
  });

  it("runs the README's agent tool example against the live server", async () => {
    const { stdout } = await run("node", ["agent-tool.mjs"], {
      cwd: app,
      env: { ...process.env, CONEXUS_URL: env.url, CONEXUS_API_KEY: env.readKey },
    });
    assert.match(stdout, /tools for the model: .*context_search/);
    assert.match(stdout, /retry/i);
  });
});

describe("the README", () => {
  it("shows each example exactly as the file the tests run", async () => {
    const readme = await readFile(path.join(sdk, "README.md"), "utf8");
    const examples = (await readdir(path.join(sdk, "examples"))).filter((f) => /\.(mjs|ts)$/.test(f));
    assert.equal(examples.length, 3);
    for (const example of examples) {
      const text = await readFile(path.join(sdk, "examples", example), "utf8");
      assert.ok(readme.includes(text), `README.md shows examples/${example} as it is`);
    }
  });
});
