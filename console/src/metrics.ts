// The samples of a Prometheus text exposition (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Written here rather than taken from npm: the one maintained-looking parser
// (parse-prometheus-text-format 1.1.1) drops the labels of histograms as prometheus_client writes
// them (`le` first), merging every operation into one series. The console needs only samples
// (name, labels, value), which is the line grammar below.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function unescape(value: string): string {
  return value.replace(/\\(["\\n])/g, (_, c: string) => (c === "n" ? "\n" : c));
}

function number(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  return Number(text);
}

export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) labels[l[1]] = unescape(l[2]);
    out.push({ name: m[1], labels, value: number(m[3]) });
  }
  return out;
}

/** Sum of the samples named `name` grouped by the `by` labels (joined with " "). */
export function sumBy(samples: Sample[], name: string, by: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== name) continue;
    const key = by.map((b) => s.labels[b] ?? "").join(" ");
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}

export interface Latency {
  count: number;
  mean: number;
  p50: number;
  p95: number;
}

/** Count, mean and bucket-interpolated quantiles of a histogram, per value of the `by` labels. */
export function histogramBy(samples: Sample[], name: string, by: string[]): Map<string, Latency> {
  const buckets = new Map<string, [number, number][]>();
  const sums = sumBy(samples, `${name}_sum`, by);
  const counts = sumBy(samples, `${name}_count`, by);
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const key = by.map((b) => s.labels[b] ?? "").join(" ");
    const le = number(s.labels.le ?? "+Inf");
    const list = buckets.get(key) ?? [];
    const same = list.find(([bound]) => bound === le);
    if (same) same[1] += s.value;
    else list.push([le, s.value]);
    buckets.set(key, list);
  }
  const out = new Map<string, Latency>();
  for (const [key, list] of buckets) {
    const count = counts.get(key) ?? 0;
    if (!count) continue;
    list.sort((a, b) => a[0] - b[0]);
    out.set(key, {
      count,
      mean: (sums.get(key) ?? 0) / count,
      p50: quantile(list, count, 0.5),
      p95: quantile(list, count, 0.95),
    });
  }
  return out;
}

// Linear interpolation inside the bucket holding the rank, as PromQL's histogram_quantile does.
function quantile(cumulative: [number, number][], count: number, q: number): number {
  const rank = q * count;
  let lower = 0;
  let below = 0;
  for (const [bound, seen] of cumulative) {
    if (seen >= rank) {
      if (!Number.isFinite(bound)) return lower;
      const inBucket = seen - below;
      return inBucket ? lower + ((bound - lower) * (rank - below)) / inBucket : bound;
    }
    lower = bound;
    below = seen;
  }
  return lower;
}
