"""What the import graph costs localization: ``python -m bench.import_graph PATH [--issues FILE]``.

Indexes PATH with the default settings (incremental: an existing index in the
data home is reused), then times, in one process:

* **cold build**: the whole repository's import graph with no layout cached,
  from the imports the indexer stored (nothing is parsed);
* **new generation**: the graph built again for a new index generation (what a
  re-index that touched a few files costs);
* with ``--issues`` (a JSONL file with a ``problem_statement`` per line, e.g.
  the localization development set, filtered with ``--match``): mean
  localization time per issue with and without the graph, on an unchanged
  index (each issue is run once untimed first, then timed both ways).

Prints one line per figure, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from conexus.config import load_settings
from conexus.engine import Engine
from conexus.search.localize import localize
from conexus.search.related import imports as related


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.import_graph", description=__doc__.split("\n")[0])
    ap.add_argument("path", type=Path, help="repository to index and measure")
    ap.add_argument("--home", type=Path, default=None, help="data home (default: Conexus's)")
    ap.add_argument("--issues", type=Path, default=None, help="JSONL with a problem_statement per line")
    ap.add_argument("--match", default="", help="only issues whose instance_id contains this text")
    ap.add_argument("--limit", type=int, default=8, help="issues to time (default 8)")
    args = ap.parse_args(argv)
    if not args.path.is_dir():
        ap.error(f"{args.path} is not a directory")

    overrides: dict[str, object] = {"query_cache": 0}
    if args.home is not None:
        overrides["home"] = args.home
    engine = Engine(args.path, load_settings(args.path, overrides=overrides))
    try:
        engine.index()
        n_files = len(engine.indexed_files())

        related._IMPORT_CACHE.clear()
        related._LAYOUTS.clear()
        t0 = time.perf_counter()
        graph = engine.file_graph([])
        cold = time.perf_counter() - t0
        related._LAYOUTS.clear()
        t0 = time.perf_counter()
        engine.file_graph([])
        warm = time.perf_counter() - t0
        out: dict[str, object] = {
            "files": n_files,
            "graph_files": sum(len(c.graph.imports) for c in related._LAYOUTS.values() if c.graph),
            "cold_build_s": round(cold, 3),
            "new_generation_s": round(warm, 3),
            "machine": f"{platform.machine()}, {platform.python_version()}",
        }
        print(f"{n_files} files; graph: cold {cold:.2f} s, new generation {warm:.3f} s", file=sys.stderr)
        del graph

        if args.issues is not None:
            rows = [json.loads(line) for line in args.issues.read_text().splitlines() if line.strip()]
            issues = [r["problem_statement"] for r in rows if args.match in r.get("instance_id", "")]
            issues = issues[: args.limit]
            if not issues:
                ap.error("no issue matches --match")
            totals = {"with_graph_ms": 0.0, "without_graph_ms": 0.0}
            for text in issues:
                localize(engine.search, text, graph=engine.file_graph)  # warm the caches for this issue
                for label, provider in (("with_graph_ms", engine.file_graph), ("without_graph_ms", None)):
                    t0 = time.perf_counter()
                    localize(engine.search, text, graph=provider)
                    totals[label] += time.perf_counter() - t0
            for label, total in totals.items():
                out[label] = round(total / len(issues) * 1000, 1)
            out["issues"] = len(issues)
            print(
                f"localize, {len(issues)} issues: {out['with_graph_ms']} ms each with the graph, "
                f"{out['without_graph_ms']} ms without",
                file=sys.stderr,
            )
    finally:
        engine.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
