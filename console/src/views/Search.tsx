import { useState } from "preact/hooks";

import { call } from "../api";
import {
  Citation,
  ErrorBox,
  Freshness,
  IndexState,
  Snippet,
  queryTerms,
  splitList,
  useFocusTarget,
  useRequest,
} from "../shared";
import type { Hit, SearchOut } from "../types";

const SIGNAL_HELP: Record<string, string> = {
  bm25: "keywords",
  vector: "meaning",
  symbol: "exact symbol name",
  exact: "a rare identifier the query names",
  phrase: "the query's code fragment, verbatim",
  path: "a file the query names",
};

function HitCard({ hit, terms, onRelated }: { hit: Hit; terms: string[]; onRelated: (t: string) => void }) {
  const name = hit.symbol ? (hit.parent ? `${hit.parent}.${hit.symbol}` : hit.symbol) : null;
  return (
    <li class="hit card">
      <div class="hit-head">
        <Citation citation={hit.citation} onOpen={onRelated} />
        <Freshness state={hit.freshness.state} />
        <span class="tag">{hit.kind}</span>
        <span class="tag">{hit.language}</span>
        {name ? <span class="symbol">{name}</span> : null}
      </div>
      <div class="signals" aria-label="signals: the hit's rank in each retriever that found it">
        {Object.entries(hit.signals).map(([name, rank]) => (
          <span class="signal" key={name} title={`rank ${rank} by ${SIGNAL_HELP[name] ?? name}`}>
            {name} #{rank}
          </span>
        ))}
        <span class="score" title="fused score: only the order within one result means anything">
          score {hit.score.toFixed(4)}
        </span>
      </div>
      {hit.snippet ? <Snippet text={hit.snippet} start={hit.start_line} terms={terms} /> : null}
    </li>
  );
}

/** The search playground: a query, filters, and every hit with its citation, freshness and signals. */
export function SearchView({ root, onRelated }: { root: string; onRelated: (t: string) => void }) {
  const input = useFocusTarget<HTMLInputElement>();
  const [query, setQuery] = useState("");
  const [paths, setPaths] = useState("");
  const [languages, setLanguages] = useState("");
  const [kinds, setKinds] = useState("");
  const [topK, setTopK] = useState(10);
  const { result, error, pending, run } = useRequest<SearchOut>();

  function args(cursor?: string) {
    return {
      query,
      top_k: topK,
      paths: splitList(paths),
      languages: splitList(languages),
      kinds: splitList(kinds),
      ...(root ? { root } : {}),
      ...(cursor ? { cursor } : {}),
    };
  }

  function submit(event: Event) {
    event.preventDefault();
    if (!query.trim()) return;
    void run((signal) => call<SearchOut>("search", args(), signal));
  }

  function more() {
    if (!result?.next_cursor) return;
    const cursor = result.next_cursor;
    void run(
      (signal) => call<SearchOut>("search", args(cursor), signal),
      (old, next) => ({ ...next, hits: [...old.hits, ...next.hits] }),
    );
  }

  const terms = result ? queryTerms(result.query) : [];
  return (
    <div class="view">
      <form class="query" onSubmit={submit} role="search">
        <label class="grow">
          Query
          <input
            ref={input}
            id="search-query"
            type="search"
            value={query}
            placeholder="where are retries configured · Session.send · parse_header_links"
            onInput={(e) => setQuery(e.currentTarget.value)}
            autocomplete="off"
          />
        </label>
        <button type="submit" disabled={pending}>
          {pending ? "Searching…" : "Search"}
        </button>
        <div class="filters">
          <label>
            Paths
            <input
              id="search-paths"
              value={paths}
              placeholder="src/**, !**/tests/**"
              onInput={(e) => setPaths(e.currentTarget.value)}
            />
          </label>
          <label>
            Languages
            <input
              id="search-languages"
              value={languages}
              placeholder="python, typescript"
              onInput={(e) => setLanguages(e.currentTarget.value)}
            />
          </label>
          <label>
            Kinds
            <input
              id="search-kinds"
              value={kinds}
              placeholder="function, class, section"
              onInput={(e) => setKinds(e.currentTarget.value)}
            />
          </label>
          <label>
            Hits
            <select value={String(topK)} onChange={(e) => setTopK(Number(e.currentTarget.value))}>
              {[5, 10, 20, 50].map((n) => (
                <option key={n} value={String(n)}>
                  {n}
                </option>
              ))}
            </select>
          </label>
        </div>
      </form>
      <ErrorBox error={error} />
      {result ? (
        <div class="results" aria-live="polite">
          <IndexState state={result.index_state} />
          <p class="summary">
            {result.hits.length} hits of {result.total_candidates} candidates in {result.took_ms.toFixed(0)} ms
            {result.confidence ? (
              <span class={`confidence conf-${result.confidence.label}`} title={result.confidence.reason}>
                confidence {result.confidence.label}
              </span>
            ) : null}
          </p>
          {result.confidence?.no_good_match ? <p class="notice">{result.confidence.reason}</p> : null}
          <ol class="hits">
            {result.hits.map((hit) => (
              <HitCard key={`${hit.citation}`} hit={hit} terms={terms} onRelated={onRelated} />
            ))}
          </ol>
          {result.next_cursor ? (
            <button type="button" onClick={more} disabled={pending}>
              More hits
            </button>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
