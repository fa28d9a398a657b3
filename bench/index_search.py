"""Index a tree and time searches: ``python -m bench.index_search PATH [--queries FILE] [--home DIR]``.

Three index runs of PATH with the default settings, in one process:

* **cold**: a fresh temporary data home (empty embedding cache; with --home,
  whatever that home's cache holds), the model loaded beforehand;
* **warm**: the index deleted and built again from scratch in the same home, so
  every chunk's vector comes from the embedding cache (what another branch,
  worktree or commit of an indexed repository costs);
* **no-op**: the unchanged tree indexed again.

For cold and warm it prints files/s, chunks/s and lines/s and the split of the
wall time between walking, reading + chunking (a producer thread that overlaps
embedding), embedding and writing (SQLite + FTS5 + HNSW); then warm query
latency p50/p95 over a fixed query list (query embedding included), peak RSS
after indexing and after querying, and index size; then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from conexus.config import load_settings
from conexus.engine import Engine

DEFAULT_QUERIES = [
    "where are redirects followed",
    "proxy authentication header",
    "parse a configuration file",
    "retry with exponential backoff",
    "how are errors reported to the user",
    "open a database connection",
    "split camelCase identifiers",
    "read a file and decode utf-8",
    "command line argument parsing",
    "compute a hash of the content",
    "builtin_str",
    "HTTPAdapter send",
    "def __init__(self",
    "TODO fix this",
    "test that search returns results",
    "thread pool executor",
    "json serialization of dataclasses",
    "logging to stderr",
    "timeout",
    "cache invalidation",
]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path", type=Path)
    ap.add_argument("--queries", type=Path, help="one query per line (default: a fixed built-in list)")
    ap.add_argument("--home", type=Path, help="data home (default: a fresh temporary one = cold cache)")
    ap.add_argument("--embedder", default=None, help="embedder spec (default: the configured default)")
    ap.add_argument("--repeat", type=int, default=5, help="times each query runs for the latency figures")
    args = ap.parse_args(argv)

    queries = args.queries.read_text().splitlines() if args.queries else DEFAULT_QUERIES
    queries = [q for q in queries if q.strip()]
    tmp = None
    home = args.home
    if home is None:
        tmp = tempfile.TemporaryDirectory(prefix="conexus-bench-")
        home = Path(tmp.name)
    # query_cache=0: each repeat of a query is searched again, not answered from the result cache.
    overrides: dict[str, object] = {"home": home, "query_cache": 0}
    if args.embedder:
        overrides["embedder"] = args.embedder
    root = args.path.resolve()
    settings = load_settings(root, overrides=overrides)
    runs: dict[str, dict[str, object]] = {}
    with Engine(root, settings) as engine:
        engine.embedder.embed_query("load the model before timing")
        for name in ("cold", "warm"):
            if name == "warm":
                engine.clear()
            t0 = time.perf_counter()
            report = engine.index()
            wall = time.perf_counter() - t0
            runs[name] = {
                "wall_s": round(wall, 2),
                "files": report.files_changed,
                "chunks": report.chunks_written,
                "lines": report.lines_indexed,
                "files_per_s": round(report.files_changed / wall, 1),
                "chunks_per_s": round(report.chunks_written / wall, 1),
                "lines_per_s": round(report.lines_indexed / wall),
                "embedded": report.embedded,
                "cache_hits": report.cache_hits,
                "timings": report.timings,
                "peak_rss_mb": round(peak_rss_mb(), 1),
            }
        st = engine.status(check_stale=False)
        t1 = time.perf_counter()
        engine.index()
        reindex_s = time.perf_counter() - t1
        engine.search("warm up")
        lat: list[float] = []
        for _ in range(args.repeat):
            for q in queries:
                t = time.perf_counter()
                engine.search(q, top_k=10)
                lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
    p50 = statistics.median(lat)
    p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))]
    out = {
        "path": str(root),
        "machine": f"{platform.machine()} cores={os.cpu_count()}",
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "files": st.get("files"),
        "chunks": int(st.get("chunks", 0)),
        "cold": runs["cold"],
        "warm": runs["warm"],
        "noop_reindex_s": round(reindex_s, 3),
        "query_p50_ms": round(p50, 2),
        "query_p95_ms": round(p95, 2),
        "queries": len(lat),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "index_mb": round(int(st.get("index_bytes", 0)) / 1e6, 2),
        "skipped": st.get("skipped"),
    }
    print(f"files / chunks   {out['files']} / {out['chunks']}")
    for name, r in runs.items():
        print(
            f"{name:5} index  {r['wall_s']} s: {r['files_per_s']} files/s, {r['chunks_per_s']} chunks/s, "
            f"{r['lines_per_s']} lines/s (embedded {r['embedded']}, cache hits {r['cache_hits']}); "
            f"split {r['timings']}; peak RSS {r['peak_rss_mb']} MB"
        )
    print(f"no-op re-index   {out['noop_reindex_s']} s")
    print(
        f"query latency    p50 {out['query_p50_ms']} ms, p95 {out['query_p95_ms']} ms over {len(lat)} queries"
    )
    print(f"peak RSS         {out['peak_rss_mb']} MB")
    print(f"index size       {out['index_mb']} MB")
    print(json.dumps(out))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
