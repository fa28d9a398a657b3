// A Node script: search a Conexus server over REST, then read the lines the best hit cites.
//   CONEXUS_URL=http://127.0.0.1:8765 CONEXUS_API_KEY=cx_... node node-script.mjs "where are retries configured"
import { ConexusApiError, ConexusClient } from "@conexus/client";

const conexus = new ConexusClient({
  baseUrl: process.env.CONEXUS_URL ?? "http://127.0.0.1:8765",
  apiKey: process.env.CONEXUS_API_KEY, // omit for a server without keys
  retry: { maxAttempts: 5 }, // 429/503 are retried with backoff, at least Retry-After apart
});

const query = process.argv[2] ?? "where are retries configured";
try {
  const { hits, index_state } = await conexus.search({ query, top_k: 5 }, { timeoutMs: 10_000 });
  console.log(`${hits.length} hits (index ${index_state})`);
  for (const hit of hits) console.log(`  ${hit.citation}  ${hit.symbol ?? ""}  [${hit.freshness}]`);
  const best = hits[0];
  if (best) {
    const { lines } = await conexus.read({ path: best.path, start_line: best.start_line, end_line: best.end_line });
    console.log(`\n${best.citation}:`);
    for (const { line, text } of lines) console.log(`${String(line).padStart(5)}  ${text}`);
  }
} catch (error) {
  if (error instanceof ConexusApiError) {
    // The server's RFC 9457 problem document: what went wrong and what to change.
    console.error(`${error.status} ${error.kind}: ${error.problem.detail}`);
    process.exit(1);
  }
  throw error;
}
