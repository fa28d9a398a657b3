import { useEffect, useState } from "preact/hooks";

import { call } from "../api";
import { Citation, ErrorBox, IndexState, Section, useFocusTarget, useRequest } from "../shared";
import type { Cited, RelatedOut } from "../types";

const SECTIONS: [keyof RelatedOut, string][] = [
  ["definitions", "Definitions"],
  ["imports", "Imports"],
  ["importers", "Imported by"],
  ["references", "References"],
  ["tests", "Tests"],
  ["co_changes", "Changed together (git)"],
];

/** The related-info explorer: for a file or symbol, its definitions, imports, importers, references and tests. */
export function RelatedView({
  root,
  target: initial,
  onTarget,
}: {
  root: string;
  target: string;
  onTarget: (t: string) => void;
}) {
  const input = useFocusTarget<HTMLInputElement>();
  const [target, setTarget] = useState(initial);
  const { result, error, pending, run } = useRequest<RelatedOut>();

  function explore(value: string) {
    if (!value.trim()) return;
    void run((signal) => call<RelatedOut>("related", { target: value, ...(root ? { root } : {}) }, signal));
  }

  useEffect(() => {
    setTarget(initial);
    explore(initial);
  }, [initial, root]);

  function submit(event: Event) {
    event.preventDefault();
    onTarget(target); // the hash route holds the target: back and forward walk the exploration
  }

  return (
    <div class="view">
      <form class="query" onSubmit={submit}>
        <label class="grow">
          File or symbol
          <input
            ref={input}
            id="related-target"
            value={target}
            placeholder="pkg/session.py · pkg/session.py:7 · Session.send"
            onInput={(e) => setTarget(e.currentTarget.value)}
            autocomplete="off"
          />
        </label>
        <button type="submit" disabled={pending}>
          {pending ? "Exploring…" : "Explore"}
        </button>
      </form>
      <ErrorBox error={error} />
      {result ? (
        <div class="results" aria-live="polite">
          <IndexState state={result.index_state} />
          <p class="summary">
            <strong>{result.target}</strong> ({result.target_kind})
            {result.files.length ? ` in ${result.files.join(", ")}` : ""}
          </p>
          {result.notes.map((note) => (
            <p class="notice" key={note}>
              {note}
            </p>
          ))}
          <div class="grid">
            {SECTIONS.map(([key, title]) => {
              const items = result[key] as Cited[];
              if (key === "co_changes" && !result.git_history) return null;
              return (
                <Section key={key} id={`related-${key}`} title={title} count={items.length}>
                  {items.length ? (
                    <ul class="plain">
                      {items.map((item) => (
                        <li key={item.citation}>
                          <Citation citation={item.citation} onOpen={onTarget} />
                        </li>
                      ))}
                    </ul>
                  ) : (
                    <p class="muted">none</p>
                  )}
                </Section>
              );
            })}
            {result.git_history && result.recent_commits.length ? (
              <Section id="related-commits" title="Recent commits" count={result.recent_commits.length}>
                <ul class="plain">
                  {result.recent_commits.map((commit, i) => (
                    <li key={i}>
                      <code>{String(commit.sha ?? commit.commit ?? "").slice(0, 10)}</code>{" "}
                      {String(commit.subject ?? commit.message ?? "")}
                    </li>
                  ))}
                </ul>
              </Section>
            ) : null}
          </div>
        </div>
      ) : null}
    </div>
  );
}
