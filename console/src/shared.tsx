import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

import { ApiError, messageOf } from "./api";

/** The words of a query worth marking in a snippet: identifiers and words of 2+ characters. */
export function queryTerms(query: string): string[] {
  const words = query.match(/[A-Za-z_][A-Za-z0-9_]+/g) ?? [];
  const terms = new Set<string>();
  for (const word of words) {
    terms.add(word.toLowerCase());
    // Code-aware, like the index: parse_header_links and parseHeaderLinks mark their parts too.
    for (const part of word.split(/_|(?<=[a-z0-9])(?=[A-Z])/)) if (part.length > 2) terms.add(part.toLowerCase());
  }
  return [...terms].sort((a, b) => b.length - a.length);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** `text` with every occurrence of `terms` in <mark>; text nodes only, so nothing is parsed as HTML. */
export function Highlight({ text, terms }: { text: string; terms: string[] }) {
  if (!terms.length) return <>{text}</>;
  const pattern = new RegExp(`(${terms.map(escapeRegExp).join("|")})`, "gi");
  const parts = text.split(pattern);
  return <>{parts.map((part, i) => (i % 2 === 1 ? <mark key={i}>{part}</mark> : part))}</>;
}

/** Code lines numbered from `start`, with the query's terms marked. */
export function Snippet({ text, start, terms }: { text: string; start: number; terms: string[] }) {
  const lines = text.split("\n");
  return (
    <pre class="snippet">
      {lines.map((line, i) => (
        <div class="line" key={i}>
          <span class="ln" aria-hidden="true">
            {start + i}
          </span>
          <code>
            <Highlight text={line} terms={terms} />
          </code>
        </div>
      ))}
    </pre>
  );
}

const FRESHNESS_HELP: Record<string, string> = {
  fresh: "the file on disk is what was indexed",
  modified: "the file changed since it was indexed: the lines may have moved",
  deleted: "the file is gone from disk",
  unindexed: "the file is not in the index",
};

export function Freshness({ state }: { state: string }) {
  return (
    <span class={`badge fresh-${state}`} title={FRESHNESS_HELP[state] ?? state}>
      {state}
    </span>
  );
}

/** A `path:start-end` citation; clicking it asks for related info about that place. */
export function Citation({ citation, onOpen }: { citation: string; onOpen?: (target: string) => void }) {
  if (!onOpen) return <code class="citation">{citation}</code>;
  return (
    <a
      class="citation"
      href={`#/related?target=${encodeURIComponent(citation)}`}
      onClick={(event) => {
        event.preventDefault();
        onOpen(citation);
      }}
    >
      {citation}
    </a>
  );
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const status = error instanceof ApiError ? error.status : undefined;
  let hint = "";
  if (error instanceof ApiError && error.needsKey) hint = " Enter an API key above.";
  else if (error instanceof ApiError && error.forbidden) hint = " This key lacks the scope for it.";
  return (
    <div class="error" role="alert">
      {status ? <strong>{status} </strong> : null}
      {messageOf(error)}
      {hint}
    </div>
  );
}

export function IndexState({ state }: { state: string }) {
  if (!state || state === "ready") return null;
  const text: Record<string, string> = {
    indexing: "The index is being updated: answers may miss the newest changes.",
    partial: "The first build of this index did not finish: answers cover part of the tree.",
    missing: "This root has no index yet.",
  };
  return (
    <div class="notice" role="status">
      index {state}: {text[state] ?? ""}
    </div>
  );
}

export function Section({
  title,
  children,
  count,
  id,
}: {
  title: string;
  children: ComponentChildren;
  count?: number;
  id?: string;
}) {
  return (
    <section class="card" id={id}>
      <h3>
        {title}
        {count !== undefined ? <span class="count">{count}</span> : null}
      </h3>
      {children}
    </section>
  );
}

/** Comma- or space-separated text to a list ("src/**, !tests/**" -> ["src/**", "!tests/**"]). */
export function splitList(text: string): string[] {
  return text
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Focus the element when the view opens and whenever the `/` shortcut asks for it. */
export function useFocusTarget<T extends HTMLElement>(): preact.RefObject<T> {
  const ref = useRef<T>(null);
  useEffect(() => {
    ref.current?.focus();
    const onFocusRequest = () => ref.current?.focus();
    window.addEventListener("conexus:focus", onFocusRequest);
    return () => window.removeEventListener("conexus:focus", onFocusRequest);
  }, []);
  return ref;
}

/** Run `work` and hold its result, error and pending state; a newer run aborts the older one. */
export function useRequest<T>() {
  const [result, setResult] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [pending, setPending] = useState(false);
  const controller = useRef<AbortController | null>(null);
  useEffect(() => () => controller.current?.abort(), []);
  async function run(work: (signal: AbortSignal) => Promise<T>, append?: (old: T, next: T) => T) {
    controller.current?.abort();
    const mine = new AbortController();
    controller.current = mine;
    setPending(true);
    setError(null);
    try {
      const next = await work(mine.signal);
      if (mine.signal.aborted) return;
      setResult((old) => (append && old ? append(old, next) : next));
    } catch (e) {
      if (!mine.signal.aborted) setError(e);
    } finally {
      if (!mine.signal.aborted) setPending(false);
    }
  }
  return { result, error, pending, run, setResult };
}

export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

export function formatTime(epochSeconds: number | null | undefined): string {
  if (!epochSeconds) return "-";
  return new Date(epochSeconds * 1000).toLocaleString();
}
