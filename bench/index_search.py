"""Index a tree and time searches: ``python -m bench.index_search PATH [--queries FILE] [--home DIR]``.

Prints files, chunks, index wall time, chunks/s, warm query latency p50/p95
over a fixed query list (query embedding included), peak RSS and index size,
then one JSON line with the same figures. Uses a fresh temporary data home
(so an empty embedding cache: a cold run) unless --home is given.
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
    overrides: dict[str, object] = {"home": home}
    if args.embedder:
        overrides["embedder"] = args.embedder
    root = args.path.resolve()
    settings = load_settings(root, overrides=overrides)
    with Engine(root, settings) as engine:
        t0 = time.perf_counter()
        report = engine.index()
        index_s = time.perf_counter() - t0
        rss_index = peak_rss_mb()
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
    chunks = int(st.get("chunks", 0))
    out = {
        "path": str(root),
        "machine": f"{platform.machine()} cores={os.cpu_count()}",
        "files": st.get("files"),
        "chunks": chunks,
        "index_s": round(index_s, 2),
        "chunks_per_s": round(chunks / index_s, 1) if index_s else None,
        "embedded": report.embedded,
        "cache_hits": report.cache_hits,
        "timings": report.timings,
        "noop_reindex_s": round(reindex_s, 3),
        "query_p50_ms": round(p50, 2),
        "query_p95_ms": round(p95, 2),
        "queries": len(lat),
        "peak_rss_mb_after_index": round(rss_index, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "index_mb": round(int(st.get("index_bytes", 0)) / 1e6, 2),
        "skipped": st.get("skipped"),
    }
    print(f"files            {out['files']}")
    print(f"chunks           {chunks}")
    print(
        f"index wall time  {out['index_s']} s  ({out['chunks_per_s']} chunks/s; embedded {report.embedded}, "
        f"cache hits {report.cache_hits})"
    )
    print(f"phase timings    {report.timings}")
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
