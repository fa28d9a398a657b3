import { defineConfig } from "tsup";

// One build, two formats: dist/index.js (ESM) + index.d.ts, dist/index.cjs (CommonJS) + index.d.cts.
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  platform: "node",
  splitting: false,
});
