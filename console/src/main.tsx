import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

import { ApiError, apiKey, call, onKeyChange, setApiKey } from "./api";
import "./style.css";
import type { RootInfo, StatusOut } from "./types";
import { LocalizeView } from "./views/Localize";
import { MetricsView } from "./views/Metrics";
import { RelatedView } from "./views/Related";
import { SearchView } from "./views/Search";
import { StatusView } from "./views/Status";

const VIEWS = [
  ["search", "Search"],
  ["localize", "Localize"],
  ["related", "Related"],
  ["status", "Index status"],
  ["metrics", "Metrics"],
] as const;
type ViewName = (typeof VIEWS)[number][0];

interface Route {
  view: ViewName;
  params: URLSearchParams;
}

function parseRoute(hash: string): Route {
  const [path, query] = hash.replace(/^#\/?/, "").split("?", 2);
  const view = (VIEWS.find(([name]) => name === path)?.[0] ?? "search") as ViewName;
  return { view, params: new URLSearchParams(query ?? "") };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  return route;
}

type Access = "unknown" | "open" | "key" | "needs-key" | "rejected";

/** The API key form: the key is kept in this tab's sessionStorage and sent as a bearer token. */
function KeyBar({ access, onSaved }: { access: Access; onSaved: () => void }) {
  const [draft, setDraft] = useState("");
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (access === "needs-key" || access === "rejected") input.current?.focus();
  }, [access]);
  if (access === "open") return <span class="access muted">open server: no key needed</span>;
  if (access === "key")
    return (
      <span class="access">
        key set{" "}
        <button type="button" class="link" onClick={() => setApiKey("")}>
          forget key
        </button>
      </span>
    );
  return (
    <form
      class="keybar"
      onSubmit={(e) => {
        e.preventDefault();
        setApiKey(draft);
        setDraft("");
        onSaved();
      }}
    >
      <label>
        {access === "rejected" ? "Key refused, try another:" : "API key"}
        <input
          ref={input}
          id="api-key"
          type="password"
          autocomplete="off"
          value={draft}
          placeholder="cx_…"
          onInput={(e) => setDraft(e.currentTarget.value)}
        />
      </label>
      <button type="submit">Use key</button>
    </form>
  );
}

function App() {
  const route = useRoute();
  const [roots, setRoots] = useState<RootInfo[]>([]);
  const [root, setRoot] = useState("");
  const [access, setAccess] = useState<Access>("unknown");
  const [keyVersion, setKeyVersion] = useState(0);

  useEffect(() => onKeyChange(() => setKeyVersion((v) => v + 1)), []);

  // Which roots this caller sees, and whether the server wants a key at all.
  useEffect(() => {
    call<StatusOut>("status", { check_stale: false })
      .then((out) => {
        setRoots(out.roots);
        setRoot((current) => (out.roots.some((r) => r.name === current) ? current : out.root));
        setAccess(apiKey() ? "key" : "open");
      })
      .catch((e: unknown) => {
        if (e instanceof ApiError && e.needsKey) setAccess(apiKey() ? "rejected" : "needs-key");
        else setAccess(apiKey() ? "key" : "unknown");
      });
  }, [keyVersion]);

  // `/` focuses the view's main field (unless the user is typing in one already).
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      const typing = target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
      if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
        event.preventDefault();
        window.dispatchEvent(new Event("conexus:focus"));
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const openRelated = (target: string) => {
    location.hash = `#/related?target=${encodeURIComponent(target)}`;
  };
  const locked = access === "needs-key" || access === "rejected";

  return (
    <>
      <header>
        <a class="brand" href="#/search">
          Conexus
        </a>
        <nav aria-label="views">
          {VIEWS.map(([name, title]) => (
            <a key={name} href={`#/${name}`} aria-current={route.view === name ? "page" : undefined}>
              {title}
            </a>
          ))}
        </nav>
        {roots.length > 1 ? (
          <label class="root-select">
            root
            <select id="root" value={root} onChange={(e) => setRoot(e.currentTarget.value)}>
              {roots.map((r) => (
                <option key={r.name} value={r.name}>
                  {r.name}
                </option>
              ))}
            </select>
          </label>
        ) : roots.length === 1 ? (
          <span class="root-name" title={roots[0].path}>
            {roots[0].name}
          </span>
        ) : null}
        <KeyBar access={access} onSaved={() => undefined} />
      </header>
      <main key={`${keyVersion}`}>
        {locked ? (
          <p class="notice" role="alert" id="needs-key">
            This server needs an API key (<code>conexus keys create NAME --scope read</code>). It is kept in
            this tab only and sent as <code>Authorization: Bearer</code>.
          </p>
        ) : route.view === "search" ? (
          <SearchView root={root} onRelated={openRelated} />
        ) : route.view === "localize" ? (
          <LocalizeView root={root} onRelated={openRelated} />
        ) : route.view === "related" ? (
          <RelatedView root={root} target={route.params.get("target") ?? ""} onTarget={openRelated} />
        ) : route.view === "status" ? (
          <StatusView root={root} onRoot={setRoot} />
        ) : (
          <MetricsView />
        )}
      </main>
      <footer class="muted">
        Press <kbd>/</kbd> to focus the query · <kbd>Enter</kbd> submits ·{" "}
        <a href="/docs" rel="noreferrer">
          REST API docs
        </a>
      </footer>
    </>
  );
}

render(<App />, document.getElementById("app")!);
