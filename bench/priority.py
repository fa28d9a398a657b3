"""Search latency beside heavy work, with and without interactive priority: ``python -m bench.priority``.

``python -m bench.priority --root DIR [--home HOME] [--heavy 2] [--queries 150]`` opens
the index of DIR in this process (build it first with ``conexus index DIR``) and measures
searches of identifiers drawn from DIR's own definitions, one at a time, in three
conditions, side by side in one run:

1. alone;
2. beside ``--heavy`` threads that run greps and localizations without pause, as a
   server's heavy lane does under load, everyone equal before the interpreter lock;
3. the same, with the searches marked interactive and the heavy threads as background
   work (:mod:`conexus.priority`), as a server runs them.

Printed per condition: search p50, p90 and p99 in ms, and the heavy operations finished
per second (what the priority costs the heavy work). Everything shares this machine's
cores; the figures of docs/reliability.md say which machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from conexus import priority
from conexus.config import load_settings
from conexus.engine import Engine

DEFINITION = re.compile(r"^\s*def (\w{4,})", re.M)


def names_of(root: Path, count: int, seed: int = 1) -> list[str]:
    """Function names defined in ``root``'s Python files, shuffled: enough for three conditions
    of ``count`` searches (repeated when the tree defines fewer)."""
    names: list[str] = []
    for path in sorted(root.rglob("*.py")):
        with contextlib.suppress(OSError):
            names += DEFINITION.findall(path.read_text(encoding="utf-8", errors="replace"))
    if not names:
        raise SystemExit(f"no Python function definitions under {root}")
    random.Random(seed).shuffle(names)
    want = 3 * max(count, 2) + 1  # a fresh slice per condition (a repeated query is a cache hit)
    return (names * (want // len(names) + 1))[:want]


@contextlib.contextmanager
def heavy_threads(engine: Engine, names: list[str], n: int, marked: bool) -> Iterator[list[int]]:
    """``n`` threads running greps and localizations until the block ends; the count they finish."""
    stop = threading.Event()
    done = [0]

    def work(k: int) -> None:
        mode = priority.background() if marked else contextlib.nullcontext()
        i = k * 997
        with mode:
            while not stop.is_set():
                name = names[i % len(names)]
                if i % 3 == 0:
                    engine.localize(f"{name} fails when called with an empty value")
                else:
                    engine.grep(rf"\b{name}\b", max_results=50)
                i += 1
                done[0] += 1

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    try:
        yield done
    finally:
        stop.set()
        for t in threads:
            t.join(60)


def measure(engine: Engine, queries: list[str], marked: bool) -> list[float]:
    """Milliseconds of each search, one at a time (each query once: no result cache hit)."""
    out = []
    for q in queries:
        t0 = time.perf_counter()
        with priority.interactive() if marked else contextlib.nullcontext():
            engine.search(q, top_k=10)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def row(label: str, ms: list[float], heavy_per_s: float | None) -> str:
    ms = sorted(ms)
    q = statistics.quantiles(ms, n=100)
    heavy = "-" if heavy_per_s is None else f"{heavy_per_s:.2f}"
    return f"{label:<34} {statistics.median(ms):>7.1f} {q[89]:>7.1f} {q[98]:>7.1f} {heavy:>10}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.priority", description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True, help="an indexed folder")
    ap.add_argument("--home", type=Path, default=None, help="its data home (default: CONEXUS_HOME)")
    ap.add_argument("--heavy", type=int, default=2, help="heavy threads (default 2, the heavy lane's size)")
    ap.add_argument("--queries", type=int, default=150, help="searches per condition (default 150)")
    args = ap.parse_args(argv)

    overrides: dict[str, object] = {"home": args.home} if args.home else {}
    root = args.root.resolve()
    with Engine(root, load_settings(root, overrides=overrides)) as engine:
        if not engine.has_index():
            raise SystemExit(f"{root} has no index: run `conexus index {root}` first")
        names = names_of(root, args.queries)
        engine.search(names[-1], top_k=10)  # warm: the model, the store, the caches
        n = args.queries
        print(f"{root}: {engine.status(check_stale=False).get('chunks')} chunks, {os.cpu_count()} cores")
        print(f"{'condition':<34} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'heavy op/s':>10}")
        print(row("search alone", measure(engine, [f"{x} a" for x in names[:n]], False), None))
        for marked, label in ((False, "beside heavy threads"), (True, "beside heavy threads, prioritized")):
            with heavy_threads(engine, names, args.heavy, marked) as done:
                time.sleep(1.0)  # the heavy threads under way
                t0, d0 = time.perf_counter(), done[0]
                offset = n * (2 if marked else 1)
                ms = measure(engine, [f"{x} b" for x in names[offset : offset + n]], marked)
                rate = (done[0] - d0) / (time.perf_counter() - t0)
            print(row(f"{label} ({args.heavy})", ms, rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
