import { useEffect, useRef, useState } from "preact/hooks";

import { ApiError, call, messageOf } from "../api";
import { ErrorBox, Section, formatBytes, formatTime } from "../shared";
import type { IndexControlOut, Job, RootStatus, StatusOut } from "../types";

const POLL_MS = 2000;

type Action = "reindex" | "rebuild" | "clear" | "stop";
const DESTRUCTIVE: Action[] = ["rebuild", "clear"];
const ACTION_HELP: Record<Action, string> = {
  reindex: "a new incremental pass over the whole tree",
  rebuild: "drop the index and build it from scratch",
  clear: "delete the index; automatic indexing pauses until reindex or rebuild",
  stop: "stop the running job",
};

function ProgressBar({ done, total }: { done: number; total: number }) {
  const pct = total ? Math.min(100, Math.round((100 * done) / total)) : 0;
  return (
    <div class="progress" role="progressbar" aria-valuemin={0} aria-valuemax={total} aria-valuenow={done}>
      <div class="bar" style={{ width: `${pct}%` }} />
      <span>
        {done} / {total} files ({pct}%)
      </span>
    </div>
  );
}

function JobLine({ job }: { job: Job }) {
  return (
    <li>
      <span class={`badge job-${job.status}`}>{job.status}</span> #{job.id} {job.kind} ({job.reason}){" "}
      <span class="muted">{formatTime(job.finished_at ?? job.started_at ?? job.queued_at)}</span>
      {job.error ? <span class="error-text"> {job.error}</span> : null}
    </li>
  );
}

function Counts({ status }: { status: RootStatus }) {
  const rows: [string, string][] = [
    ["files", String(status.files ?? 0)],
    ["chunks", String(status.chunks ?? 0)],
    ["vectors", String(status.vectors ?? 0)],
    ["index size", formatBytes(status.index_bytes)],
    ["embedder", status.embedder_id ?? "-"],
  ];
  return (
    <dl class="facts">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

function Table({ entries, empty }: { entries: [string, number][]; empty: string }) {
  if (!entries.length) return <p class="muted">{empty}</p>;
  return (
    <table>
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k}>
            <td>{k}</td>
            <td class="num">{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Index status of the selected root, polled while the view is open, with the controls the key may use. */
export function StatusView({ root, onRoot }: { root: string; onRoot: (name: string) => void }) {
  const [data, setData] = useState<StatusOut | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [canControl, setCanControl] = useState<boolean | null>(null);
  const [confirming, setConfirming] = useState<Action | null>(null);
  const [actionMessage, setActionMessage] = useState("");
  const [polls, setPolls] = useState(0);
  const staleChecked = useRef<RootStatus["stale"]>(undefined);

  // The key's scope, as the server sees it: index control answers 403 to a read-only key.
  useEffect(() => {
    setCanControl(null);
    call<IndexControlOut>("index", { action: "status", ...(root ? { root } : {}) })
      .then(() => setCanControl(true))
      .catch((e: unknown) => setCanControl(e instanceof ApiError && e.forbidden ? false : null));
  }, [root]);

  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    let first = true;
    staleChecked.current = undefined;
    async function poll() {
      // Comparing every file with the disk costs a walk: once when the view opens, then on demand.
      const checkStale = first;
      first = false;
      try {
        const next = await call<StatusOut>("status", { check_stale: checkStale, ...(root ? { root } : {}) });
        if (stopped) return;
        if (checkStale) staleChecked.current = next.status.stale;
        setData(next);
        setError(null);
        setPolls((n) => n + 1);
      } catch (e) {
        if (!stopped) setError(e);
      }
      if (!stopped) timer = window.setTimeout(poll, POLL_MS);
    }
    void poll();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [root]);

  async function act(action: Action) {
    if (DESTRUCTIVE.includes(action) && confirming !== action) {
      setConfirming(action);
      return;
    }
    setConfirming(null);
    try {
      const out = await call<IndexControlOut>("index", { action, wait: false, ...(root ? { root } : {}) });
      setActionMessage(out.message.split("\n")[0]);
    } catch (e) {
      setActionMessage(messageOf(e));
    }
  }

  async function checkStale() {
    try {
      const next = await call<StatusOut>("status", { check_stale: true, ...(root ? { root } : {}) });
      staleChecked.current = next.status.stale;
      setData(next);
    } catch (e) {
      setError(e);
    }
  }

  if (!data) return <div class="view">{error ? <ErrorBox error={error} /> : <p>Loading status…</p>}</div>;
  const st = data.status;
  const current = st.jobs?.current ?? null;
  const progress = current?.progress ?? st.progress;
  const stale = staleChecked.current ?? st.stale;
  const interrupted = st.last_run?.status === "interrupted";
  return (
    <div class="view" data-polls={polls}>
      <ErrorBox error={error} />
      <Section id="status-roots" title="Roots" count={data.roots.length}>
        <table>
          <thead>
            <tr>
              <th>name</th>
              <th>path</th>
              <th>source</th>
              <th>watcher</th>
            </tr>
          </thead>
          <tbody>
            {data.roots.map((r) => (
              <tr key={r.name} class={r.name === data.root ? "selected" : ""}>
                <td>
                  <button type="button" class="link" onClick={() => onRoot(r.name)}>
                    {r.name}
                  </button>
                </td>
                <td>
                  <code>{r.path}</code>
                </td>
                <td>{r.source}</td>
                <td>{r.watcher ? (r.watcher.error ?? (r.watcher.running ? "watching" : "off")) : "-"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section id="status-index" title={`Index of ${data.root}`}>
        <p class="state-line">
          <span class={`badge state-${data.index_state}`} id="index-state">
            {data.index_state}
          </span>{" "}
          phase <strong>{st.phase ?? "-"}</strong>
          {st.partial ? <span class="badge warn">partial: the first build did not finish</span> : null}
          {interrupted ? <span class="badge warn">last run interrupted (its process died)</span> : null}
          {st.compatible === false ? (
            <span class="badge warn">incompatible: {(st.mismatches ?? []).join(", ")} — rebuild</span>
          ) : null}
        </p>
        {current && progress && progress.files_total ? (
          <ProgressBar done={progress.files_done ?? 0} total={progress.files_total} />
        ) : null}
        <Counts status={st} />
        <p class="muted">
          last run: {st.last_run ? `#${st.last_run.id} ${st.last_run.status}, ${formatTime(st.last_run.finished_at ?? st.last_run.started_at)}` : "none"}
        </p>
        {canControl ? (
          <div class="actions" aria-label="index controls">
            {(["reindex", "rebuild", "clear"] as Action[]).map((a) => (
              <button
                key={a}
                type="button"
                class={DESTRUCTIVE.includes(a) ? "danger" : ""}
                title={ACTION_HELP[a]}
                onClick={() => void act(a)}
              >
                {confirming === a ? `Confirm ${a}` : a[0].toUpperCase() + a.slice(1)}
              </button>
            ))}
            {current ? (
              <button type="button" title={ACTION_HELP.stop} onClick={() => void act("stop")}>
                Stop
              </button>
            ) : null}
            {confirming ? (
              <button type="button" onClick={() => setConfirming(null)}>
                Cancel
              </button>
            ) : null}
            {actionMessage ? (
              <span class="action-message" role="status">
                {actionMessage}
              </span>
            ) : null}
          </div>
        ) : canControl === false ? (
          <p class="muted" id="read-only">
            This key may read but not control indexing (the index scope is needed).
          </p>
        ) : null}
      </Section>
      <div class="grid">
        <Section id="status-skipped" title="Skipped files" count={Object.values(st.skipped ?? {}).reduce((a, b) => a + b, 0)}>
          <Table entries={Object.entries(st.skipped ?? {})} empty="nothing skipped" />
          {st.secrets?.length ? (
            <ul class="plain" id="status-secrets" aria-label="files withheld as secrets">
              {st.secrets.map((s) => (
                <li key={s.path}>
                  <code>{s.path}</code> <span class="muted">{s.detail}</span>
                </li>
              ))}
            </ul>
          ) : null}
        </Section>
        <Section id="status-stale" title="Stale files" count={stale ? stale.modified + stale.deleted : undefined}>
          {stale ? (
            <>
              <p>
                {stale.modified} modified, {stale.deleted} deleted since indexed
              </p>
              <ul class="plain">
                {stale.examples.map((s) => (
                  <li key={s}>
                    <code>{s}</code>
                  </li>
                ))}
              </ul>
            </>
          ) : (
            <p class="muted">not checked</p>
          )}
          <button type="button" onClick={() => void checkStale()}>
            Check again
          </button>
        </Section>
        <Section id="status-languages" title="Languages">
          <Table entries={Object.entries(st.languages ?? {})} empty="no files" />
        </Section>
        <Section id="status-jobs" title="Jobs">
          <ul class="plain">
            {current ? <JobLine job={current} /> : <li class="muted">no job running</li>}
            {(st.jobs?.queued ?? []).map((j) => (
              <JobLine key={j.id} job={j} />
            ))}
            {(st.jobs?.recent ?? []).slice(0, 5).map((j) => (
              <JobLine key={j.id} job={j} />
            ))}
          </ul>
        </Section>
      </div>
    </div>
  );
}
