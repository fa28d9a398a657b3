"""An index run killed with SIGKILL reads as interrupted, and a first build it cut short as partial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import conexus
from conexus.engine import Engine
from tests.conftest import write

# Indexes ``root`` and SIGKILLs itself as soon as the first batch of files is written: a
# deterministic point mid-build (later batches are still queued), no timing involved.
_KILLED_RUN = """
import os, signal, sys
from pathlib import Path
from conexus.config import load_settings
from conexus.engine import Engine

root, home, rebuild = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1"
engine = Engine(root, load_settings(root, overrides={"home": home, "embedder": "fake"}))

def on_progress(p):
    if p.files_done > 0:
        os.kill(os.getpid(), signal.SIGKILL)

engine.index(on_progress=on_progress, rebuild=rebuild)
raise SystemExit("the run finished before the first batch was written")
"""

N_FILES = 200  # more than one batch (BATCH_FILES = 64)


def _killed_run(root: Path, home: Path, *, rebuild: bool = True) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(conexus.__file__).resolve().parents[1])}
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_RUN, str(root), str(home), "1" if rebuild else "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for i in range(N_FILES):
        write(root, f"pkg/m{i:03}.py", f"def handler_{i}(request):\n    return request.widget_{i}\n")
    return root


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_first_build_is_interrupted_and_partial_until_a_complete_run(
    tree: Path, home: Path, make_engine: Callable[..., Engine]
) -> None:
    _killed_run(tree, home)
    engine = make_engine(tree)
    status = engine.status()
    assert status["last_run"]["status"] == "interrupted"
    assert status["partial"] is True
    assert 0 < status["files"] < N_FILES  # the first batch survived the kill
    assert engine.search("handler request").index_state == "partial"

    engine.index()
    status = engine.status()
    assert status["last_run"]["status"] == "complete"
    assert status["partial"] is False and status["files"] == N_FILES
    assert engine.search("handler request").index_state == "ready"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_update_is_interrupted_and_leaves_the_complete_index_untouched(
    tree: Path, home: Path, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(tree)
    engine.index()
    before = engine.status()
    engine.close()
    for i in range(N_FILES):
        write(tree, f"pkg/m{i:03}.py", f"def renamed_{i}(request):\n    return request.gadget_{i}\n")
    _killed_run(tree, home, rebuild=False)
    engine = make_engine(tree)
    status = engine.status()
    assert status["last_run"]["status"] == "interrupted"
    assert status["partial"] is False
    assert (status["files"], status["chunks"]) == (before["files"], before["chunks"])
    assert engine.search("renamed gadget").hits[0].symbol.startswith("handler_")  # type: ignore[union-attr]
    assert engine.search("handler").index_state == "ready"


def test_a_run_in_progress_in_this_process_reads_as_running(
    tree: Path, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(tree)
    seen: list[str] = []

    def on_progress(p: object) -> None:
        if not seen and getattr(p, "files_done", 0) > 0:
            seen.append(engine.status(check_stale=False)["last_run"]["status"])

    engine.index(on_progress=on_progress)
    assert seen == ["running"]
    assert engine.status()["last_run"]["status"] == "complete"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_first_build_reads_as_partial_and_interrupted_on_every_door(tree: Path, home: Path) -> None:
    import httpx

    from tests.server.conftest import server_env, start_http_server

    _killed_run(tree, home)
    env = {**os.environ, **server_env(home)}
    cli = subprocess.run(
        [sys.executable, "-m", "conexus", "status", "--root", str(tree), "--local"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert cli.returncode == 0, cli.stderr
    assert "interrupted" in cli.stdout and "partial" in cli.stdout
    server = start_http_server([tree], home, "--no-index", "--no-watch")
    try:
        base = server.url.removesuffix("/mcp")
        st = httpx.post(base + "/api/v1/status", json={}, timeout=60).json()
        assert st["index_state"] == "partial" and st["status"]["last_run"]["status"] == "interrupted"
        assert "partial" in st["message"] and "interrupted" in st["message"]
        for name, body in (("search", {"query": "handler request"}), ("grep", {"pattern": "handler_1"})):
            assert (
                httpx.post(f"{base}/api/v1/{name}", json=body, timeout=60).json()["index_state"] == "partial"
            )
    finally:
        server.stop()
