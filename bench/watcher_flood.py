"""``python -m bench.watcher_flood [--files N]``: a served root under a flood of file changes.

Serves a generated repository (N Python files in folders of 100, fake embedder,
the real watcher and index worker of ``ConexusService``) and runs three floods:

- ``rewrite``: every file rewritten at once;
- ``branch``: ``git checkout`` between two commits that differ in every file
  (a third of them modified, a third deleted, a third added);
- ``rename``: a folder of a third of the files renamed.

For each it prints how many index jobs the watcher's changes became, the seconds
until the served index equalled a fresh build of the final tree (every file's hash,
and every chunk's lines and text, compared), and the peak RSS of the process while
the flood was indexed (``VmHWM``, reset before each flood). The same scenarios, at
a smaller N, are the test ``tests/chaos/test_watcher_flood.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from conexus.app.service import ConexusService, ServedRoot
from conexus.config import Settings, load_settings
from conexus.engine import Engine

Digest = dict[str, tuple[str, tuple[tuple[int, int, str], ...]]]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def settings_for(home: Path) -> Callable[[Path], Settings]:
    def make(root: Path) -> Settings:
        return load_settings(root, overrides={"home": home, "embedder": "fake"})

    return make


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, env={**os.environ, **GIT_ENV}
    )


def module(i: int, version: int) -> str:
    return (
        f'"""Module {i}, version {version}."""\n\n\n'
        f"def handler_{i}_v{version}(request):\n"
        f"    return request.get('field_{i}', {version})\n\n\n"
        f"class Model{i}V{version}:\n"
        f"    def save(self):\n        return {i * 7 + version}\n"
    )


def path_of(i: int) -> str:
    return f"pkg{i // 100:03d}/mod_{i:05d}.py"


def write_tree(root: Path, ids: range | list[int], version: int) -> None:
    for i in ids:
        p = root / path_of(i)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(module(i, version), encoding="utf-8")


def index_digest(engine: Engine) -> Digest:
    """Every indexed file's hash and chunks (lines and a hash of the text), by path."""
    store = engine._checked_store()
    out: Digest = {}
    for path, row in store.files().items():
        chunks = tuple(
            (c.start_line, c.end_line, hashlib.sha256(c.text.encode()).hexdigest()[:16])
            for c in sorted(store.chunks_of_file(path), key=lambda c: (c.start_line, c.end_line))
        )
        out[path] = (row.hash, chunks)
    return out


def fresh_digest(root: Path) -> Digest:
    """The digest of a fresh build of the tree as it is now (in a throwaway data home)."""
    with (
        tempfile.TemporaryDirectory(prefix="conexus-fresh-") as home,
        Engine(root, settings_for(Path(home))(root)) as e,
    ):
        e.index()
        return index_digest(e)


def tree_paths(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*.py") if ".git" not in p.parts}


def wait_until_equal(served: ServedRoot, root: Path, want: Digest, timeout: float) -> None:
    """Poll until the served index equals ``want``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if (
            not served.busy
            and served.pending_changes == 0
            and set(served.engine.indexed_files()) == set(want)
        ) and index_digest(served.engine) == want:
            return
        if time.monotonic() > deadline:
            have = index_digest(served.engine)
            wrong = sorted(p for p in set(have) | set(want) if have.get(p) != want.get(p))
            raise AssertionError(
                f"not equal to a fresh build within {timeout}s: {len(wrong)} files differ, e.g. {wrong[:5]}"
            )
        time.sleep(0.2)  # polling interval; the deadline decides


def wait_until_fresh(served: ServedRoot, root: Path, jobs_before: int, timeout: float) -> None:
    """Poll until the watcher's changes are indexed: a watch job ran, none is pending, and every
    file of the tree is indexed and none stale. (Equality with a fresh build is checked after.)"""
    deadline = time.monotonic() + timeout
    while True:
        if served.watch_updates > jobs_before and not served.busy and served.pending_changes == 0:
            stale = served.engine.stale_files()
            if (
                not stale["modified"]
                and not stale["deleted"]
                and set(served.engine.indexed_files()) == tree_paths(root)
            ):
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"the changes were not indexed within {timeout}s")
        time.sleep(0.1)  # polling interval; the deadline decides


def reset_peak_rss() -> None:
    """Reset the process's VmHWM (Linux: ``echo 5 > /proc/self/clear_refs``)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Flood:
    name: str
    jobs: int
    seconds: float
    files_changed: int
    peak_rss_mb: float


class Served:
    """A generated repository of ``n`` files under git, served with the watcher on."""

    def __init__(self, base: Path, n: int) -> None:
        self.n = n
        self.root = base / "repo"
        self.root.mkdir(parents=True)
        write_tree(self.root, range(n), 0)
        git(self.root, "init", "-q", "-b", "main")
        git(self.root, "add", "-A")
        git(self.root, "commit", "-qm", "v0")
        self.service = ConexusService(settings_for(base / "home"), base / "home", watch=True, auto_index=True)
        self.served = self.service.add_root(self.root)
        self.service.start()
        assert self.served.watcher is not None
        if not self.served.watcher.ready.wait(60):
            raise AssertionError("the watcher did not start")
        wait_until_equal(self.served, self.root, fresh_digest(self.root), 600)

    def flood(self, name: str, change: Callable[[], int], timeout: float) -> Flood:
        """Apply ``change`` (returns how many files it touched); the seconds until the watcher's jobs
        indexed it, then the index checked against a fresh build of the final tree."""
        jobs_before = self.served.watch_updates
        reset_peak_rss()
        t0 = time.perf_counter()
        touched = change()
        wait_until_fresh(self.served, self.root, jobs_before, timeout)
        seconds = time.perf_counter() - t0
        peak, jobs = peak_rss_mb(), self.served.watch_updates - jobs_before
        wait_until_equal(self.served, self.root, fresh_digest(self.root), timeout)
        return Flood(name, jobs, seconds, touched, peak)

    def rewrite(self) -> int:
        write_tree(self.root, range(self.n), 1)
        return self.n

    def prepare_branch(self) -> None:
        """Commit a branch ``other`` differing in every file (a third each modified, deleted, added),
        then go back to main and let the index follow."""
        third = self.n // 3
        git(self.root, "checkout", "-q", "-b", "other")
        write_tree(self.root, range(third), 2)  # modified
        for i in range(third, 2 * third):  # deleted
            (self.root / path_of(i)).unlink()
        write_tree(self.root, range(self.n, self.n + third), 2)  # added
        git(self.root, "add", "-A")
        git(self.root, "commit", "-qm", "other")
        before = self.served.watch_updates
        git(self.root, "checkout", "-q", "main")
        wait_until_fresh(self.served, self.root, before, 600)

    def branch_switch(self) -> int:
        git(self.root, "checkout", "-q", "other")
        return 3 * (self.n // 3)

    def rename(self) -> int:
        """Rename a folder holding a third of the files (several folders of 100 moved under one new name)."""
        moved = self.root / "moved"
        moved.mkdir()
        count = 0
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and p.name.startswith("pkg"))[
            : max(1, self.n // 300)
        ]:
            count += sum(1 for _ in folder.glob("*.py"))
            folder.rename(moved / folder.name)
        return count

    def close(self) -> None:
        self.service.close()


def run(n: int, timeout: float) -> list[Flood]:
    with tempfile.TemporaryDirectory(prefix="conexus-flood-") as tmp:
        served = Served(Path(tmp), n)
        try:
            floods = [served.flood("rewrite", served.rewrite, timeout)]
            served.prepare_branch()
            floods.append(served.flood("branch", served.branch_switch, timeout))
            floods.append(served.flood("rename", served.rename, timeout))
            return floods
        finally:
            served.close()
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.watcher_flood", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    print(f"{'flood':<8} {'files':>7} {'jobs':>5} {'seconds':>8} {'peak RSS MB':>12}")
    for f in run(args.files, args.timeout):
        print(f"{f.name:<8} {f.files_changed:>7} {f.jobs:>5} {f.seconds:>8.1f} {f.peak_rss_mb:>12.0f}")


if __name__ == "__main__":
    main()
