import { useState } from "preact/hooks";

import { call } from "../api";
import { Citation, ErrorBox, Freshness, IndexState, Section, useFocusTarget, useRequest } from "../shared";
import type { LocalizeOut } from "../types";

/** Localize: paste an issue, see the files and the functions most likely to need a change. */
export function LocalizeView({ root, onRelated }: { root: string; onRelated: (t: string) => void }) {
  const input = useFocusTarget<HTMLTextAreaElement>();
  const [issue, setIssue] = useState("");
  const { result, error, pending, run } = useRequest<LocalizeOut>();

  function submit(event?: Event) {
    event?.preventDefault();
    if (!issue.trim()) return;
    void run((signal) => call<LocalizeOut>("localize", { issue, ...(root ? { root } : {}) }, signal));
  }

  return (
    <div class="view">
      <form class="query" onSubmit={submit}>
        <label class="grow">
          Issue text <span class="hint">(Ctrl+Enter to localize)</span>
          <textarea
            ref={input}
            id="localize-issue"
            rows={8}
            value={issue}
            placeholder="Paste the bug report: title, steps, the traceback or error message…"
            onInput={(e) => setIssue(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) submit(e);
            }}
          />
        </label>
        <button type="submit" disabled={pending}>
          {pending ? "Localizing…" : "Localize"}
        </button>
      </form>
      <ErrorBox error={error} />
      {result ? (
        <div class="results" aria-live="polite">
          <IndexState state={result.index_state} />
          <p class="summary">
            {result.files_considered} files matched the issue ({result.issue_chars} characters) in{" "}
            {result.took_ms.toFixed(0)} ms
            {result.confidence ? (
              <span class={`confidence conf-${result.confidence.label}`} title={result.confidence.reason}>
                confidence {result.confidence.label}
              </span>
            ) : null}
          </p>
          <div class="columns">
            <Section id="localize-files" title="Files" count={result.files.length}>
              <table>
                <thead>
                  <tr>
                    <th>#</th>
                    <th>file</th>
                    <th>score</th>
                    <th>freshness</th>
                  </tr>
                </thead>
                <tbody>
                  {result.files.map((f) => (
                    <tr key={f.path}>
                      <td>{f.rank}</td>
                      <td>
                        <Citation citation={f.path} onOpen={onRelated} />
                      </td>
                      <td>{f.score.toFixed(3)}</td>
                      <td>
                        <Freshness state={f.freshness} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Section>
            <Section id="localize-locations" title="Functions and blocks" count={result.locations.length}>
              <table>
                <thead>
                  <tr>
                    <th>#</th>
                    <th>symbol</th>
                    <th>citation</th>
                    <th>freshness</th>
                  </tr>
                </thead>
                <tbody>
                  {result.locations.map((l) => (
                    <tr key={l.citation}>
                      <td>{l.rank}</td>
                      <td class="symbol">{l.symbol || "(module level)"}</td>
                      <td>
                        <Citation citation={l.citation} onOpen={onRelated} />
                      </td>
                      <td>
                        <Freshness state={l.freshness} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Section>
          </div>
        </div>
      ) : null}
    </div>
  );
}
