"""The disk fills up while indexing: the last complete index stays served, the error is told, and
indexing completes once space returns.

The data home lives on a small tmpfs mounted for the test (root only; skipped elsewhere, with the
reason), so "disk full" is the kernel's own ENOSPC, not a simulation. Space returns by remounting
the same filesystem larger, with the files in place.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conexus.config import load_settings
from conexus.engine import Engine
from conexus.errors import StoreError

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "golden_repo"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1,200 KiB tmpfs: room for the fixture's index, not for 8,000 more chunks."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small filesystem needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def grow(repo: Path, files: int = 200) -> None:
    for i in range(files):
        path = repo / "generated" / f"module_{i}.py"
        path.parent.mkdir(exist_ok=True)
        body = (f"def compute_{i}_{j}(x):\n    return x * {j} + {i}  # step {i}.{j}" for j in range(40))
        path.write_text("\n".join(body), encoding="utf-8")


def test_a_full_disk_fails_the_run_keeps_the_last_index_served_and_indexing_resumes_with_space(
    small_disk: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE, repo)
    home = small_disk / "home"
    make: Callable[[], Engine] = lambda: Engine(  # noqa: E731
        repo, load_settings(repo, overrides={"home": home, "embedder": "fake"})
    )
    engine = make()
    engine.index()
    before = [(h.path, h.start_line) for h in engine.search("resolve redirects").hits]
    assert before

    grow(repo)
    with caplog.at_level(logging.WARNING), pytest.raises(StoreError) as full:
        engine.index()
    assert "full" in str(full.value)
    cache_warnings = [r for r in caplog.records if "without the cache" in r.getMessage()]
    assert len(cache_warnings) <= 1  # a failing cache is told once, not once per batch

    # The last complete index is still what is served, and status says what happened.
    assert [(h.path, h.start_line) for h in engine.search("resolve redirects").hits] == before
    status = engine.status()
    assert status["files"] == 12 and status["partial"] is False
    # The failed run could not even write its end (the disk is full): it reads as interrupted.
    assert status["last_run"]["status"] == "interrupted"
    engine.close()

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    again = make()
    report = again.index()
    assert report.files_changed == 200
    status = again.status()
    assert status["files"] == 212 and status["partial"] is False
    hits = again.search("compute_17_3").hits
    assert hits and hits[0].path == "generated/module_17.py"
    again.close()
