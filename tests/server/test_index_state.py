"""Results say ``indexing`` only while the index is known to be behind the tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conexus.api import operations
from conexus.api.models import SearchArgs
from conexus.api.operations import Call
from conexus.app.service import ConexusService, IndexJob
from conexus.config import load_settings
from conexus.indexing.indexer import IndexProgress
from tests.server.conftest import make_repo, server_env


def _index(repo: Path, home: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "conexus", "index", str(repo), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **server_env(home)},
    )
    assert r.returncode == 0, r.stderr


def test_a_queued_start_up_sync_does_not_flag_results_as_incomplete(tmp_path: Path) -> None:
    repo, home = make_repo(tmp_path / "repo"), tmp_path / "home"
    _index(repo, home)
    service = ConexusService(
        lambda root: load_settings(root, overrides={"home": str(home), "embedder": "fake"}), home, watch=False
    )
    served = service.add_root(repo)
    job, _ = served.submit("incremental", reason="startup")  # queued: the worker is not started
    assert served.busy and job.status == "queued"
    out = operations.search(Call(service, transport="test"), SearchArgs(query="parse_header_links"))
    assert out.index_state == "ready" and out.hits
    served.submit("paths", paths=["pkg/session.py"])  # a job that will change the index
    out = operations.search(Call(service, transport="test"), SearchArgs(query="parse_header_links"))
    assert out.index_state == "indexing"
    service.close()


def test_only_jobs_known_to_change_the_index_count_as_updating() -> None:
    sync = IndexJob(1, "incremental", "startup")
    assert not sync.has_work  # not walked yet: nothing known to be behind
    sync.on_progress(IndexProgress(phase="indexing", files_total=0))
    assert not sync.has_work  # walked: nothing changed
    sync.on_progress(IndexProgress(phase="indexing", files_total=3))
    assert sync.has_work
    assert all(IndexJob(2, kind, "client").has_work for kind in ("rebuild", "paths", "clear"))
