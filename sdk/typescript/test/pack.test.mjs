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

  it("gives ESM and CommonJS TypeScript projects the real types, not any, and the docs' snippets compile", async () => {
    const body = (kind) => `
      async function main(): Promise<string> {
        const client = new ConexusClient({ baseUrl: "http://127.0.0.1:1", apiKey: "cx_" });
        const hits: Schemas["HitOut"][] = (await client.search({ query: "x", top_k: 3 })).hits;
        // @ts-expect-error top_kk is no argument of search
        await client.search({ query: "x", top_kk: 3 });
        // @ts-expect-error read needs a path
        await client.read({});
        const tool: "context_search" = OPERATIONS.search.tool;
        return "${kind}" + hits.length + tool;
      }
      export { main };
    `;
    // The README's and docs/sdk.md's TypeScript snippets (the example files are checked on their own).
    const snippets = [];
    for (const doc of [path.join(sdk, "README.md"), path.join(sdk, "..", "..", "docs", "sdk.md")]) {
      const text = await readFile(doc, "utf8");
      for (const [, code] of text.matchAll(/```ts\n([\s\S]*?)```/g)) {
        if (!code.includes('from "vscode"')) snippets.push(code);
      }
    }
    assert.ok(snippets.length >= 3, "the docs show TypeScript snippets");
    const snippetFiles = [];
    for (const [i, code] of snippets.entries()) {
      snippetFiles.push(`snippet-${i}.mts`);
      await writeFile(path.join(app, `snippet-${i}.mts`), `${code}\nexport {};\n`);
    }
    await writeFile(path.join(app, "esm.mts"), `import { ConexusClient, OPERATIONS, type Schemas } from "@conexus/client";\n${body("esm")}`);
    await writeFile(path.join(app, "cjs.cts"), `import { ConexusClient, OPERATIONS, type Schemas } from "@conexus/client";\n${body("cjs")}`);
    await writeFile(
      path.join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          typeRoots: [path.join(sdk, "node_modules", "@types")],
          types: ["node"],
        },
        files: ["esm.mts", "cjs.cts", ...snippetFiles],
      }),
    );
    const tsc = path.join(sdk, "node_modules", "typescript", "bin", "tsc");
    // An unused @ts-expect-error is itself an error: with `any` types this check would fail.
    const done = await run("node", [tsc, "-p", app, "--explainFiles"], { cwd: app, maxBuffer: 32 << 20 }).catch((e) => e);
    assert.equal(done.code ?? 0, 0, `tsc: ${done.stdout}${done.stderr}`.slice(0, 4000));
    assert.match(done.stdout, /@conexus\/client\/dist\/index\.d\.ts/, "the ESM file gets index.d.ts");
    assert.match(done.stdout, /@conexus\/client\/dist\/index\.d\.cts/, "the CommonJS file gets index.d.cts");
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
