"""How long ``related`` takes on an indexed root: ``python -m bench.related_latency ROOT [--home DIR]``.

Opens the existing index of ROOT (never indexes it; ``--index`` brings it up to
date first), picks ``--targets`` indexed code files with a fixed seed (the
package entry files ``__init__.py``/``index.ts`` among them, whose importers
were the slow case of docs/reliability.md "Load"), and times in one process:

* **first call** of ``related(target, history=False)`` per target: the repository
  layout is built once before timing, the importers of each target are not cached;
* **repeat**: the same calls again (the per-generation importers cache answers).

``--tree indexed`` answers from the indexed tree (what a replica without the
checkout does), needing a Conexus that stores texts and imports; ``working``
(default) reads the checkout. It also prints what the stored contents cost on
disk (SQLite only): their rows, the UTF-8 size of the texts and the compressed size.

Run it with the same arguments on two Conexus versions to compare them. Prints
one line per figure, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from conexus.config import load_settings
from conexus.engine import Engine


def _targets(files: list[str], n: int, seed: int) -> list[str]:
    code = sorted(p for p in files if p.endswith((".py", ".ts", ".js", ".go", ".rs", ".java")))
    entries = [p for p in code if p.rsplit("/", 1)[-1].split(".", 1)[0] in ("__init__", "index")]
    rng = random.Random(seed)
    picked = rng.sample(entries, min(len(entries), n // 4)) if entries else []
    rest = [p for p in code if p not in set(picked)]
    picked += rng.sample(rest, min(len(rest), n - len(picked)))
    return picked


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _contents_size(engine: Engine) -> dict[str, Any] | None:
    db = engine.index_dir / "index.sqlite3"
    if not db.exists():
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        has = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'contents'").fetchone()
        if not has:
            return None
        sizes = "SELECT count(*), coalesce(sum(length(text)), 0) FROM contents"
        rows, packed = conn.execute(sizes).fetchone()
        terms = conn.execute("SELECT count(*) FROM import_terms").fetchone()[0]
        imports = conn.execute("SELECT coalesce(sum(length(imports)), 0) FROM contents").fetchone()[0]
    finally:
        conn.close()
    store = engine._open_store(create=False)
    raw = sum(len((store.file_text(p) or "").encode("utf-8", "surrogatepass")) for p in store.files())
    return {
        "content_rows": rows,
        "text_utf8_bytes": raw,
        "text_stored_bytes": packed,
        "ratio": round(packed / raw, 3) if raw else None,
        "imports_json_bytes": imports,
        "import_terms": terms,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.related_latency", description=__doc__.split("\n")[0])
    ap.add_argument("root", type=Path, help="an indexed root")
    ap.add_argument("--home", type=Path, default=None, help="data home (default: Conexus's)")
    ap.add_argument("--targets", type=int, default=40, help="files to ask about (default 40)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tree", choices=("working", "indexed"), default="working")
    ap.add_argument("--index", action="store_true", help="bring the index up to date first")
    args = ap.parse_args(argv)

    overrides: dict[str, object] = {"query_cache": 0}
    if args.home is not None:
        overrides["home"] = args.home
    engine = Engine(args.root, load_settings(args.root, overrides=overrides))
    try:
        index_s = None
        if args.index:
            t0 = time.perf_counter()
            report = engine.index()
            index_s = round(time.perf_counter() - t0, 2)
            print(f"index: {index_s} s ({report.files_changed} changed, {report.files_unchanged} unchanged)")
        store = engine._open_store(create=False)
        if args.tree == "indexed":
            from conexus.search.related import related_info
            from conexus.search.tree import IndexedTree

            tree = IndexedTree(engine.root, store)

            def ask(target: str) -> None:
                related_info(tree, store, target, history=False)
        else:

            def ask(target: str) -> None:
                engine.related(target, history=False)

        targets = _targets(sorted(store.files()), args.targets, args.seed)
        t0 = time.perf_counter()
        engine.file_graph([])  # the layout (and graph) once, as a warm server has it
        layout_s = time.perf_counter() - t0
        first: list[float] = []
        for target in targets:
            t = time.perf_counter()
            ask(target)
            first.append((time.perf_counter() - t) * 1000)
        repeat: list[float] = []
        for target in targets:
            t = time.perf_counter()
            ask(target)
            repeat.append((time.perf_counter() - t) * 1000)
        files, chunks = store.counts()
        out: dict[str, Any] = {
            "root": str(args.root),
            "files": files,
            "chunks": chunks,
            "tree": args.tree,
            "targets": len(targets),
            "layout_and_graph_s": round(layout_s, 2),
            "first_p50_ms": round(statistics.median(first), 1),
            "first_p95_ms": round(_percentile(first, 0.95), 1),
            "first_max_ms": round(max(first), 1),
            "first_total_s": round(sum(first) / 1000, 2),
            "repeat_p50_ms": round(statistics.median(repeat), 1),
            "repeat_max_ms": round(max(repeat), 1),
            "index_s": index_s,
            "contents": _contents_size(engine),
            "machine": f"{platform.machine()}, {platform.python_version()}",
        }
        slowest = max(zip(first, targets, strict=True))
        print(f"layout + graph: {out['layout_and_graph_s']} s")
        print(
            f"related, first call: p50 {out['first_p50_ms']} ms, p95 {out['first_p95_ms']} ms, "
            f"max {out['first_max_ms']} ms ({slowest[1]}), total {out['first_total_s']} s"
        )
        print(f"related, repeated: p50 {out['repeat_p50_ms']} ms, max {out['repeat_max_ms']} ms")
        if out["contents"]:
            c = out["contents"]
            print(
                f"stored texts: {c['content_rows']} contents, {c['text_utf8_bytes']:,} bytes of UTF-8 "
                f"stored in {c['text_stored_bytes']:,} ({c['ratio']}), imports {c['imports_json_bytes']:,} "
                f"bytes of JSON, {c['import_terms']} import terms"
            )
        print(json.dumps(out))
    finally:
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
