"""``python -m bench.hostile_input COMMAND``: the figures behind docs/reliability.md's findings.

- ``page-damage [--trials-per-page 3] [--seed 1]``: indexes the golden fixture
  repository (fake embedder) in a temporary folder, then for every page of its
  database writes 8, 64 or 1000 random bytes at a random place, and counts what
  happened: searches gave the same answers, different answers, or an error, and
  whether ``PRAGMA quick_check`` and FTS5's ``integrity-check`` flag the page.
  The store's own check on open is bypassed (the file is read as it is), so the
  table shows what a store without it would answer.
- ``runaway-parse [--limit 30]``: CPU seconds the Kotlin grammar spends on
  ``tests/fixtures/pathological/kotlin_error_recovery.kt`` before a parse budget
  of ``--limit`` seconds halts it (the shipped budget is 3 s).
- ``star-runs``: seconds to match one non-matching path against ``'*' * n + '<'``
  with pathspec's raw translation and with :func:`gitignore_spec` (star runs
  collapsed), side by side, for n = 10..20.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "golden_repo"
QUERIES = ["resolve redirects", "authentication header", "timeout", "parse url", "retry"]


def _check(db: Path, statement: str) -> bool:
    try:
        conn = sqlite3.connect(db)
        try:
            rows = conn.execute(statement).fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False
    return not rows or rows[0][0] == "ok"


def page_damage(trials_per_page: int, seed: int) -> None:
    from conexus.config import load_settings
    from conexus.engine import Engine
    from conexus.store.sqlite import integrity

    integrity.verify = lambda conn, db_path: None  # type: ignore[assignment]  # read the damage as it is
    from conexus.store.sqlite import store as sqlite_store

    sqlite_store.verify = integrity.verify  # type: ignore[attr-defined]
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix="conexus-damage-"))
    try:
        repo = tmp / "repo"
        shutil.copytree(FIXTURE, repo)

        def engine() -> Engine:
            return Engine(repo, load_settings(repo, overrides={"home": tmp / "home", "embedder": "fake"}))

        e = engine()
        e.index()
        good = {q: [(h.path, h.start_line) for h in e.search(q).hits] for q in QUERIES}
        db = e.index_dir / "index.sqlite3"
        e.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        original = tmp / "original.sqlite3"
        shutil.copyfile(db, original)
        page_size = 4096
        pages = db.stat().st_size // page_size
        counts: Counter[tuple[str, bool, bool]] = Counter()
        for page in range(1, pages):
            for _ in range(trials_per_page):
                shutil.copyfile(original, db)
                with open(db, "r+b") as fh:
                    offset = rng.randint(0, page_size - 64)
                    fh.seek(page * page_size + offset)
                    fh.write(rng.randbytes(rng.choice([8, 64, 1000]))[: page_size - offset])
                quick = _check(db, "PRAGMA quick_check")
                fts = quick and _check(db, "INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
                damaged = engine()
                try:
                    same = all(
                        [(h.path, h.start_line) for h in damaged.search(q).hits] == good[q] for q in QUERIES
                    )
                    outcome = "same answers" if same else "DIFFERENT answers"
                except Exception as exc:  # the outcome being counted
                    outcome = f"error ({type(exc).__name__})"
                finally:
                    damaged.close()
                counts[(outcome, quick, fts)] += 1
        print(f"{sum(counts.values())} trials over {pages - 1} pages")
        print(f"{'outcome':<28} {'quick_check ok':>15} {'fts check ok':>13} {'trials':>7}")
        for (outcome, quick, fts), n in sorted(counts.items()):
            print(f"{outcome:<28} {quick!s:>15} {fts!s:>13} {n:>7}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def runaway_parse(limit: float) -> None:
    from conexus.indexing.languages import parse_source

    source = (FIXTURE.parent / "pathological" / "kotlin_error_recovery.kt").read_bytes()
    started = time.thread_time()
    tree = parse_source("kotlin", source, budget_s=limit)
    used = time.thread_time() - started
    state = "finished" if tree is not None else f"halted at the {limit:g} s budget"
    print(f"{len(source)} bytes of Kotlin: {used:.1f} s of CPU, {state}")


def star_runs() -> None:
    import pathspec

    from conexus.sources.filesystem.globs import gitignore_spec

    path = "node_modules/x/y.js"
    print(f"{'stars':>5} {'raw pathspec s':>15} {'collapsed s':>12}")
    for n in range(10, 21, 2):
        pattern = "*" * n + "<"
        figures = []
        for spec in (pathspec.GitIgnoreSpec.from_lines([pattern]), gitignore_spec([pattern])):
            started = time.perf_counter()
            spec.match_file(path)
            figures.append(time.perf_counter() - started)
        print(f"{n:>5} {figures[0]:>15.3f} {figures[1]:>12.6f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.hostile_input", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    damage = sub.add_parser("page-damage")
    damage.add_argument("--trials-per-page", type=int, default=3)
    damage.add_argument("--seed", type=int, default=1)
    runaway = sub.add_parser("runaway-parse")
    runaway.add_argument("--limit", type=float, default=30.0)
    sub.add_parser("star-runs")
    args = parser.parse_args()
    if args.command == "page-damage":
        page_damage(args.trials_per_page, args.seed)
    elif args.command == "runaway-parse":
        runaway_parse(args.limit)
    else:
        star_runs()


if __name__ == "__main__":
    main()
