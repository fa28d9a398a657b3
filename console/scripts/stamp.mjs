// Writes (or with --check, verifies) the digest of the console's sources into the built bundle,
// src/conexus/server/console/static/SOURCES.sha256, so that a test (tests/console/test_bundle.py)
// can tell without Node that the committed bundle was built from the sources as they are.
// The digest: SHA-256 over "<path>\0<sha256 of the file>\n" for every source file, sorted by path.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const TOP = ["index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts"];
const TREES = ["src", "scripts"];
const STAMP = join(here, "..", "src", "conexus", "server", "console", "static", "SOURCES.sha256");

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

export function sourcesDigest() {
  const files = [...TOP.map((f) => join(here, f)), ...TREES.flatMap((t) => walk(join(here, t)))];
  const rel = files.map((f) => relative(here, f).split(sep).join("/")).sort();
  const outer = createHash("sha256");
  for (const path of rel) {
    const inner = createHash("sha256").update(readFileSync(join(here, path))).digest("hex");
    outer.update(`${path}\0${inner}\n`);
  }
  return outer.digest("hex");
}

const digest = sourcesDigest();
if (process.argv.includes("--check")) {
  const recorded = readFileSync(STAMP, "utf8").trim();
  if (recorded !== digest) {
    console.error(`the bundle was built from other sources (${recorded} != ${digest}): run npm run build`);
    process.exit(1);
  }
} else {
  writeFileSync(STAMP, `${digest}\n`);
}
