import { useEffect, useState } from "preact/hooks";

import { ApiError, metricsText } from "../api";
import { histogramBy, parseSamples, sumBy, type Sample } from "../metrics";
import { ErrorBox, Section, formatBytes } from "../shared";

const REFRESH_MS = 5000;

function ms(seconds: number): string {
  return `${(seconds * 1000).toFixed(seconds < 0.01 ? 1 : 0)} ms`;
}

function Requests({ samples }: { samples: Sample[] }) {
  const counts = sumBy(samples, "conexus_requests_total", ["operation", "transport", "status"]);
  const latency = histogramBy(samples, "conexus_request_duration_seconds", ["operation", "transport"]);
  const rows = new Map<string, { ok: number; failed: number }>();
  for (const [key, value] of counts) {
    const [operation, transport, status] = key.split(" ");
    const row = rows.get(`${operation} ${transport}`) ?? { ok: 0, failed: 0 };
    if (status === "ok") row.ok += value;
    else row.failed += value;
    rows.set(`${operation} ${transport}`, row);
  }
  const used = [...rows.entries()].filter(([, r]) => r.ok + r.failed > 0);
  if (!used.length) return <p class="muted">no requests answered yet</p>;
  return (
    <table id="requests-table">
      <thead>
        <tr>
          <th>operation</th>
          <th>transport</th>
          <th class="num">ok</th>
          <th class="num">refused or failed</th>
          <th class="num">mean</th>
          <th class="num">p50</th>
          <th class="num">p95</th>
        </tr>
      </thead>
      <tbody>
        {used.map(([key, r]) => {
          const [operation, transport] = key.split(" ");
          const l = latency.get(key);
          return (
            <tr key={key}>
              <td>{operation}</td>
              <td>{transport}</td>
              <td class="num">{r.ok}</td>
              <td class="num">{r.failed}</td>
              <td class="num">{l ? ms(l.mean) : "-"}</td>
              <td class="num">{l ? ms(l.p50) : "-"}</td>
              <td class="num">{l ? ms(l.p95) : "-"}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function Indexes({ samples }: { samples: Sample[] }) {
  const files = sumBy(samples, "conexus_index_files", ["root"]);
  const chunks = sumBy(samples, "conexus_index_chunks", ["root"]);
  const bytes = sumBy(samples, "conexus_store_bytes", ["root"]);
  const stale = sumBy(samples, "conexus_index_stale_files", ["root"]);
  const busy = sumBy(samples, "conexus_index_busy", ["root"]);
  const roots = [...new Set([...files.keys(), ...bytes.keys()])];
  if (!roots.length) return <p class="muted">no root reported</p>;
  return (
    <table>
      <thead>
        <tr>
          <th>root</th>
          <th class="num">files</th>
          <th class="num">chunks</th>
          <th class="num">size</th>
          <th class="num">stale</th>
          <th>indexing</th>
        </tr>
      </thead>
      <tbody>
        {roots.map((root) => (
          <tr key={root}>
            <td>{root}</td>
            <td class="num">{files.get(root) ?? "-"}</td>
            <td class="num">{chunks.get(root) ?? "-"}</td>
            <td class="num">{formatBytes(bytes.get(root))}</td>
            <td class="num">{stale.get(root) ?? "-"}</td>
            <td>{busy.get(root) ? "yes" : "no"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Refusals({ samples }: { samples: Sample[] }) {
  const total = (name: string) => [...sumBy(samples, name, []).values()].reduce((a, b) => a + b, 0);
  const rows: [string, number][] = [
    ["shed (503 overloaded)", total("conexus_shed_total")],
    ["rate-limited (429)", total("conexus_rate_limited_total")],
    ["authentication failures", total("conexus_auth_failures_total")],
    ["in flight now", total("conexus_requests_in_flight")],
  ];
  return (
    <table>
      <tbody>
        {rows.map(([k, v]) => (
          <tr key={k}>
            <td>{k}</td>
            <td class="num">{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A summary of /metrics: requests and latency per operation, index sizes, refusals. */
export function MetricsView() {
  const [samples, setSamples] = useState<Sample[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    async function load() {
      try {
        const text = await metricsText();
        if (stopped) return;
        setSamples(parseSamples(text));
        setError(null);
      } catch (e) {
        if (!stopped) setError(e);
      }
      if (!stopped) timer = window.setTimeout(load, REFRESH_MS);
    }
    void load();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, []);

  const version = samples?.find((s) => s.name === "conexus_build_info")?.labels.version;
  return (
    <div class="view">
      {error instanceof ApiError && error.forbidden ? (
        <p class="notice" role="status">
          /metrics needs an admin key on this server (or the server's public_metrics setting).
        </p>
      ) : (
        <ErrorBox error={error} />
      )}
      {samples ? (
        <>
          <p class="summary">Conexus {version ?? ""}: counters since the server started, refreshed every 5 s.</p>
          <Section id="metrics-requests" title="Requests and latency">
            <Requests samples={samples} />
          </Section>
          <div class="grid">
            <Section id="metrics-indexes" title="Indexes">
              <Indexes samples={samples} />
            </Section>
            <Section id="metrics-refusals" title="Refusals and load">
              <Refusals samples={samples} />
            </Section>
          </div>
        </>
      ) : null}
    </div>
  );
}
