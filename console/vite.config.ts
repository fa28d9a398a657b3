// The console is built into the Python package (src/conexus/server/console/static) and served
// by `conexus serve --http` at / with its assets under /console/assets/ (docs/console.md).
import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

export default defineConfig({
  base: "/console/",
  plugins: [preact()],
  build: {
    outDir: "../src/conexus/server/console/static",
    emptyOutDir: true,
    // One bundle, no source maps: the committed build stays small and reproducible byte for byte.
    sourcemap: false,
    modulePreload: { polyfill: false },
    target: "es2022",
  },
});
