"""Replicas on one index: index jobs of one root never interleave across processes, a replica
killed mid-job leaves the last complete state, and a replica that did not write sees every
write of another one (issue #14, "Stateless replicas").

Each test runs on the embedded SQLite index and on a PostgreSQL database, with a second
replica that is a real process (:mod:`tests.app.replica_worker`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conexus.engine import Engine
from conexus.errors import IndexBusyError
from tests.conftest import write
from tests.server.conftest import PACKAGE_PARENT

BACKENDS = ("sqlite", "postgres")
REPO_ROOT = str(Path(__file__).resolve().parents[2])
LINE_TIMEOUT_S = 120.0


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest) -> str:
    """``""`` (SQLite) or the URL of a PostgreSQL database of the test's own."""
    if request.param == "sqlite":
        return ""
    from tests import postgres

    postgres.require_extra()
    return str(request.getfixturevalue("postgres_url"))


@contextmanager
def replica(mode: str, root: Path, home: Path, store_url: str) -> Iterator[subprocess.Popen[str]]:
    """A second replica process (killed at the end of the block if it still runs)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([PACKAGE_PARENT, REPO_ROOT]),
        "CONEXUS_HOME": str(home),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.app.replica_worker", mode, str(root), str(home), store_url or "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def expect_line(proc: subprocess.Popen[str], prefix: str) -> str:
    """The next line of the replica's stdout, which must start with ``prefix`` (blocking, bounded by
    the replica's own run: it exits, closing stdout, on any failure)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith(prefix), f"replica said {line!r} (exit {proc.poll()}), expected {prefix!r}"
    return line.strip()


def kill9(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)


def until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.02)  # polling interval; the deadline decides


def test_a_job_waits_for_another_replicas_job_and_then_says_who_runs_it_and_since_when(
    store_url: str, make_engine: Callable[..., Engine], golden_repo: Path, home: Path
) -> None:
    engine = make_engine(golden_repo, store_url=store_url)
    engine.index()
    with replica("hold", golden_repo, home, store_url) as other:
        expect_line(other, "held")
        holder = engine.status(check_stale=False)["indexing_elsewhere"]
        assert holder is not None and holder["pid"] == other.pid and holder["since"] <= time.time()

        started = time.monotonic()
        with pytest.raises(IndexBusyError) as busy:
            engine.index(lock_wait_s=0.5)
        assert time.monotonic() - started >= 0.5  # it waited, bounded
        message = str(busy.value)
        assert f"pid {other.pid}" in message and " since 20" in message and "index job" in message
        with pytest.raises(IndexBusyError):
            engine.clear(lock_wait_s=0.2)
        assert engine.has_index()  # the refused clear deleted nothing

        kill9(other)  # the lock dies with the process
        # (PostgreSQL ends the session as soon as it sees the socket close: the wait covers it.)
        report = engine.index(lock_wait_s=30)
        assert not report.stopped
    assert engine.status(check_stale=False)["indexing_elsewhere"] is None


def test_a_replica_killed_mid_update_leaves_the_last_complete_index_and_the_next_job_finishes_it(
    store_url: str, make_engine: Callable[..., Engine], golden_repo: Path, home: Path
) -> None:
    engine = make_engine(golden_repo, store_url=store_url)
    first = engine.index()
    write(golden_repo, "httpkit/quokka.py", "def quokka_smiles():\n    return 'quokka'\n")
    write(golden_repo, "httpkit/utils.py", "def wombat_digs():\n    return 'burrow'\n")

    with replica("index-then-block", golden_repo, home, store_url) as other:
        expect_line(other, "saving")  # every change written in its transaction, none committed
        with pytest.raises(IndexBusyError):
            engine.index(lock_wait_s=0.3)  # no interleaving
        assert engine.search("quokka_smiles").hits[0].path != "httpkit/quokka.py"
        assert any(h.path == "httpkit/utils.py" for h in engine.search("parse_header_links").hits)
        kill9(other)

    # The last complete state is what is served: the killed job's writes are gone.
    assert engine.status(check_stale=False)["files"] == first.files_seen
    assert not any(h.path == "httpkit/quokka.py" for h in engine.search("quokka_smiles").hits)
    assert engine.status(check_stale=False)["last_run"]["status"] == "interrupted"
    resumed = engine.index()
    assert resumed.files_changed == 2
    assert engine.search("quokka_smiles").hits[0].path == "httpkit/quokka.py"
    assert engine.search("wombat_digs").hits[0].path == "httpkit/utils.py"
    assert not engine.status(check_stale=False)["partial"]


def test_a_replica_that_did_not_write_answers_with_another_replicas_changes_and_its_new_index(
    store_url: str, make_engine: Callable[..., Engine], golden_repo: Path, home: Path
) -> None:
    reader = make_engine(golden_repo, store_url=store_url)
    with replica("index", golden_repo, home, store_url) as other:
        expect_line(other, "done")
    assert reader.search("parse_header_links").hits[0].path == "httpkit/utils.py"
    # Warm every cache above the store: results, related (layout, import graph), snapshot.
    assert reader.search("capybara_naps").hits == reader.search("capybara_naps").hits
    reader.related("httpkit/utils.py")
    before = reader.generation()

    write(golden_repo, "httpkit/capybara.py", "def capybara_naps():\n    return 'zzz'\n")
    with replica("index", golden_repo, home, store_url) as other:
        assert expect_line(other, "done") == "done 1"
    assert reader.generation() > before
    assert reader.search("capybara_naps").hits[0].path == "httpkit/capybara.py"  # no restart
    # The vector side too (SQLite keeps its HNSW graph in memory): the new chunk is a neighbour.
    store = reader._open_store(create=False)
    chunk = store.chunks_of_file("httpkit/capybara.py")[0]
    assert chunk.id in [cid for cid, _ in store.nearest(reader.embedder.embed_documents([chunk.text])[0], 5)]
    assert reader.freshness("httpkit/capybara.py") == "fresh"

    # Cleared and built again elsewhere: the reader opens the new index, not the old one's rows.
    other_engine = make_engine(golden_repo, store_url=store_url, home=home)
    other_engine.clear()
    (golden_repo / "httpkit/capybara.py").unlink()
    write(golden_repo, "httpkit/narwhal.py", "def narwhal_tusk():\n    return 'tusk'\n")
    with replica("index", golden_repo, home, store_url) as other:
        expect_line(other, "done")
    assert reader.search("narwhal_tusk").hits[0].path == "httpkit/narwhal.py"
    assert not any(h.path == "httpkit/capybara.py" for h in reader.search("capybara_naps").hits)
    assert "httpkit/narwhal.py" in reader.indexed_files()
    assert reader.status(check_stale=False)["files"] == len(reader.indexed_files())
