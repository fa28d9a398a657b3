"""Disk and index time of many worktrees of one repository: ``python -m bench.worktrees``.

``python -m bench.worktrees [--mirror DIR] [--counts 1 10 50] [--span 600] [--embedder bundled|fake]``

* **Trees.** The bare mirror (default ``/work/.mirror/pallets+flask/repo``) is
  cloned into ``--work`` (nothing fetched, nothing committed), and
  ``max(--counts)`` worktrees are added (``git worktree add --detach``) at
  commits spread evenly over the last ``--span`` first-parent commits of its
  default branch, newest first: the branches of an active repository.
* **Before / after.** Each mode indexes the worktrees one after another with a
  data home of its own (its own embedding cache, so both embed their first tree
  from scratch), through :class:`conexus.engine.Engine` with one embedder per
  mode loaded once; the modes take turns, one worktree each, so a load on the
  machine weighs on both alike. *before* gives every worktree a database of its own (the layout
  before issue #14: ``SqliteLocation(index_dir)``); *after* is the default
  layout, every worktree a tree of the repository's one database.
* **Figures.** After 1, 10, 50 (``--counts``) worktrees: bytes of the index
  files on disk (the engines closed, so WAL files are checkpointed away; the
  embedding cache is counted apart), cumulative index wall time (and the median
  time of one worktree after the first), and the files
  and chunks chunked, embedded and written. The last worktree answers one query
  in both modes; how many of its top 5 hits are the same is printed (BM25's
  statistics are those of the database, so the order may move).

Prints a table and one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MIRROR = Path("/work/.mirror/pallets+flask/repo")
QUERY = "register a url rule for a view function"


@dataclass
class Step:
    """The state of one mode after indexing ``trees`` worktrees."""

    trees: int
    disk_bytes: int
    cache_bytes: int
    seconds: float
    files_chunked: int
    files_linked: int
    chunks_written: int
    embedded: int


@dataclass
class Mode:
    name: str
    steps: list[Step] = field(default_factory=list)
    hits: list[tuple[str, int]] = field(default_factory=list)


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def make_worktrees(mirror: Path, work: Path, count: int, span: int) -> list[Path]:
    """A clone of ``mirror`` and ``count`` worktrees of it at commits spread over the last ``span``."""
    repo = work / "repo"
    if not repo.exists():
        subprocess.run(["git", "clone", "-q", str(mirror), str(repo)], check=True)
    commits = _git(repo, "rev-list", "--first-parent", f"--max-count={span}", "HEAD").split()
    step = max(1, len(commits) // count)
    chosen = commits[::step][:count]
    trees = [repo]
    _git(repo, "checkout", "-q", "--detach", chosen[0])
    for i, sha in enumerate(chosen[1:], start=1):
        tree = work / f"wt{i:03d}"
        if not tree.exists():
            _git(repo, "worktree", "add", "-q", "--detach", str(tree), sha)
        trees.append(tree)
    return trees


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


class Runner:
    """One mode's data home, embedder and running totals."""

    def __init__(self, name: str, home: Path, embedder_name: str) -> None:
        from conexus.config import load_settings
        from conexus.embedding import create_embedder

        if home.exists():
            shutil.rmtree(home)
        home.mkdir(parents=True)
        self.mode = Mode(name)
        self.home = home
        self.embedder_name = embedder_name
        self.embedder = create_embedder(
            load_settings(home, overrides={"home": home, "embedder": embedder_name})
        )
        self.seconds = 0.0
        self.added: list[float] = []  # seconds of each worktree after the first
        self.totals = {"files_chunked": 0, "files_linked": 0, "chunks_written": 0, "embedded": 0}

    def index(self, tree: Path, *, query: bool) -> None:
        from conexus.config import load_settings
        from conexus.engine import Engine
        from conexus.store.location import SqliteLocation

        settings = load_settings(tree, overrides={"home": self.home, "embedder": self.embedder_name})
        engine = Engine(tree, settings, embedder=self.embedder)
        if self.mode.name == "before":
            engine.location = SqliteLocation(engine.index_dir)  # a database per root, as before #14
        t0 = time.perf_counter()
        report = engine.index()
        took = time.perf_counter() - t0
        if self.seconds:
            self.added.append(took)
        self.seconds += took
        self.totals["files_chunked"] += report.files_changed - report.files_linked
        self.totals["files_linked"] += report.files_linked
        self.totals["chunks_written"] += report.chunks_written
        self.totals["embedded"] += report.embedded
        if query:
            self.mode.hits = [(h.path, h.start_line) for h in engine.search(QUERY, top_k=5).hits]
        engine.close()

    def record(self, trees: int) -> None:
        cache_bytes = sum(p.stat().st_size for p in self.home.glob("embedding-cache.sqlite3*"))
        self.mode.steps.append(
            Step(trees, _size(self.home / "indexes"), cache_bytes, round(self.seconds, 1), **self.totals)
        )


def run(trees: list[Path], counts: list[int], work: Path, embedder_name: str) -> list[Runner]:
    """Index ``trees`` in order in both modes, one worktree in each mode in turn (a load on the
    machine weighs on both alike); the figures at each count."""
    runners = [Runner(name, work / f"home-{name}", embedder_name) for name in ("before", "after")]
    for i, tree in enumerate(trees, start=1):
        for runner in runners:
            runner.index(tree, query=i == len(trees))
            if i in counts:
                runner.record(i)
        if i in counts:
            print(
                f"  {i} worktrees indexed: " + ", ".join(f"{r.mode.name} {r.seconds:.1f} s" for r in runners)
            )
    return runners


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR, help="a bare git mirror to clone")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--span", type=int, default=600, help="first-parent commits the trees spread over")
    parser.add_argument("--embedder", default="bundled", help="bundled (the ONNX MiniLM) or fake")
    parser.add_argument("--work", type=Path, default=Path("/tmp/conexus-bench-worktrees"))
    args = parser.parse_args(argv)
    counts = sorted(set(args.counts))
    args.work.mkdir(parents=True, exist_ok=True)
    trees = make_worktrees(args.mirror, args.work, counts[-1], args.span)
    runners = run(trees, counts, args.work, args.embedder)
    before, after = (r.mode for r in runners)
    print(
        f"\n{args.mirror} at {len(trees)} commits over the last {args.span} first-parent commits; "
        f"embedder {args.embedder}; {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}"
    )
    header = f"{'trees':>5} {'mode':<6} {'index MB':>9} {'cache MB':>9} {'index s':>8} {'chunked':>8} "
    print(header + f"{'linked':>7} {'chunks':>8} {'embedded':>9}")
    for b, a in zip(before.steps, after.steps, strict=True):
        for name, s in (("before", b), ("after", a)):
            mb, cache_mb = s.disk_bytes / 1e6, s.cache_bytes / 1e6
            print(
                f"{s.trees:>5} {name:<6} {mb:>9.1f} {cache_mb:>9.1f} {s.seconds:>8.1f} "
                f"{s.files_chunked:>8} {s.files_linked:>7} {s.chunks_written:>8} {s.embedded:>9}"
            )
        disk_ratio, time_ratio = b.disk_bytes / max(a.disk_bytes, 1), b.seconds / max(a.seconds, 1e-9)
        print(f"{'':>5} {'ratio':<6} {disk_ratio:>8.1f}x {'':>9} {time_ratio:>7.1f}x")
    for r in runners:
        if r.added:
            added = sorted(r.added)
            print(f"{r.mode.name}: each worktree after the first, median {added[len(added) // 2]:.2f} s")
    same = len(set(before.hits) & set(after.hits))
    print(
        f"\nthe last worktree's top {len(after.hits)} hits for {QUERY!r}: {same} the same in both modes "
        "(BM25 statistics are the database's: see docs/scale-out.md)"
    )
    out: dict[str, Any] = {
        "mirror": str(args.mirror),
        "trees": len(trees),
        "span": args.span,
        "embedder": args.embedder,
        "cores": os.cpu_count(),
        "before": [s.__dict__ for s in before.steps],
        "after": [s.__dict__ for s in after.steps],
        "hits": {"before": before.hits, "after": after.hits},
        "added_median_s": {
            r.mode.name: sorted(r.added)[len(r.added) // 2] if r.added else None for r in runners
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
