"""The CLI as a user runs it: real subprocesses, real exit codes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conexus.layout import index_dir_for
from tests.conftest import write


def run(
    args: list[str], home: Path, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONEXUS_HOME": str(home), "CONEXUS_EMBEDDER": "fake"}
    return subprocess.run(
        [sys.executable, "-m", "conexus", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


def test_index_search_and_status_from_a_subfolder(golden_repo: Path, home: Path) -> None:
    r = run(["index", str(golden_repo), "--quiet"], home)
    assert r.returncode == 0, r.stderr
    assert "files" in r.stdout and "chunks" in r.stdout
    r = run(["search", "parse_header_links", "-k", "3", "--json"], home, cwd=golden_repo / "httpkit")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["hits"][0]["citation"].startswith("httpkit/utils.py:")
    r = run(["search", "where are redirects followed", "--path", "httpkit/**"], home, cwd=golden_repo)
    assert r.returncode == 0 and "httpkit/sessions.py:" in r.stdout
    r = run(["search", "Kafka consumer offsets"], home, cwd=golden_repo)
    assert r.returncode == 0 and "note: No strong match" in r.stderr
    r = run(["search", "Kafka consumer offsets", "--json"], home, cwd=golden_repo)
    assert json.loads(r.stdout)["confidence"]["no_good_match"] is True
    r = run(["status", "--json"], home, cwd=golden_repo / "web")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["files"] >= 8 and st["chunks"] > st["files"]
    assert r.stdout.count("\n") > 5
    r = run(["status"], home, cwd=golden_repo)
    assert "skipped:" in r.stdout and "embedder:" in r.stdout


def test_index_json_report_has_counts_and_timings(golden_repo: Path, home: Path) -> None:
    r = run(["index", str(golden_repo), "--json"], home)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["report"]["files_changed"] >= 8
    assert "embed_s" in data["report"]["timings"]


def test_missing_path_exits_3_with_one_line(tmp_path: Path, home: Path) -> None:
    r = run(["index", str(tmp_path / "missing")], home)
    assert r.returncode == 3
    assert r.stderr.strip().count("\n") == 0 and "does not exist" in r.stderr


def test_search_outside_any_index_exits_4(tmp_path: Path, home: Path) -> None:
    r = run(["search", "x"], home, cwd=tmp_path)
    assert r.returncode == 4
    assert "conexus index" in r.stderr


def test_bad_option_exits_2(golden_repo: Path, home: Path) -> None:
    assert run(["search", "x", "-k", "0", "--root", str(golden_repo)], home).returncode == 2
    assert run(["index", str(golden_repo), "--max-file-bytes", "-5"], home).returncode == 2
    write(golden_repo, "conexus.toml", "[conexus]\nno_such_setting = 1\n")
    r = run(["index", str(golden_repo)], home)
    assert r.returncode == 2 and "no_such_setting" in r.stderr


def test_corrupt_index_exits_5_on_search(golden_repo: Path, home: Path) -> None:
    assert run(["index", str(golden_repo), "--quiet"], home).returncode == 0
    d = index_dir_for(golden_repo.resolve(), home)
    for suffix in ("-wal", "-shm"):
        Path(str(d / "index.sqlite3") + suffix).unlink(missing_ok=True)
    (d / "index.sqlite3").write_bytes(b"garbage" * 1000)
    r = run(["search", "x", "--root", str(golden_repo)], home)
    assert r.returncode == 5
    assert "rebuild" in r.stderr


def test_query_from_stdin_with_punctuation(golden_repo: Path, home: Path) -> None:
    run(["index", str(golden_repo), "--quiet"], home)
    env = {**os.environ, "CONEXUS_HOME": str(home), "CONEXUS_EMBEDDER": "fake"}
    text = ('Traceback: File "httpkit/sessions.py", line 3 -> {"a": [1,2]} && || ;; ``` ' * 150)[:10_000]
    r = subprocess.run(
        [sys.executable, "-m", "conexus", "search", "-", "--root", str(golden_repo), "--json"],
        input=text,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["hits"]


RETRY_ISSUE = """\
Retry(total=3) retries one time too few

With Retry(total=3) a request answered with 503 is retried only twice, not three times:
should_retry returns False on the third attempt and the session gives up.
"""


def test_localize_json_ranks_files_then_cited_functions_with_freshness(golden_repo: Path, home: Path) -> None:
    assert run(["index", str(golden_repo), "--quiet"], home).returncode == 0
    issue = write(golden_repo.parent, "issue.md", RETRY_ISSUE)
    r = run(["localize", str(issue), "--json", "--files", "3", "--locations", "4"], home, cwd=golden_repo)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["root"] == golden_repo.name
    assert [f["rank"] for f in data["files"]] == [1, 2, 3] and data["files"][0]["path"] == "httpkit/retry.py"
    assert len(data["locations"]) == 4 and data["locations"][0]["path"] == "httpkit/retry.py"
    should_retry = next(loc for loc in data["locations"] if loc["symbol"] == "Retry.should_retry")
    assert should_retry["citation"] == "httpkit/retry.py:19-21" and should_retry["freshness"] == "fresh"
    # An edit after indexing: the output says so, and cites the lines where the code is now.
    retry = golden_repo / "httpkit/retry.py"
    retry.write_text("# moved down a line\n" + retry.read_text())
    r = run(["localize", str(issue), "--json", "--root", str(golden_repo)], home)
    assert json.loads(r.stdout)["files"][0]["freshness"] == "modified"
    r = run(["localize", str(issue), "--root", str(golden_repo)], home)
    assert r.returncode == 0 and "1. httpkit/retry.py" in r.stdout
    assert "httpkit/retry.py:20-22  Retry.should_retry" in r.stdout
    assert "[modified since indexing]" in r.stdout


def test_localize_reads_the_issue_from_stdin_and_refuses_an_empty_one(golden_repo: Path, home: Path) -> None:
    assert run(["index", str(golden_repo), "--quiet"], home).returncode == 0
    env = {**os.environ, "CONEXUS_HOME": str(home), "CONEXUS_EMBEDDER": "fake"}

    def localize_stdin(text: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "conexus", "localize", "-", "--root", str(golden_repo), "--json"],
            input=text,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    r = localize_stdin(RETRY_ISSUE + 'Traceback: File "httpkit/sessions.py", line 80 -> {"a": [1]} ``` &&')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files"][0]["path"] == "httpkit/retry.py"
    r = localize_stdin(" \n\t\n")
    assert r.returncode == 2 and "issue text is empty" in r.stderr and r.stdout == ""
    r = run(["localize", str(golden_repo / "no-such-issue.md"), "--root", str(golden_repo)], home)
    assert r.returncode == 3 and "does not exist" in r.stderr
    issue = write(golden_repo.parent, "issue.md", RETRY_ISSUE)
    r = run(["localize", str(issue)], home, cwd=golden_repo.parent)
    assert r.returncode == 4 and "conexus index" in r.stderr


def _count_rows(db: Path, table: str) -> int:
    """Rows of ``table`` as another process sees them (0 while the file or table does not exist)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _index_until_killed(repo: Path, home: Path, reached: Callable[[], bool]) -> None:
    """Run `conexus index` in a subprocess and SIGKILL it as soon as ``reached()`` holds."""
    env = {**os.environ, "CONEXUS_HOME": str(home), "CONEXUS_EMBEDDER": "fake"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "conexus", "index", str(repo), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not reached():
        time.sleep(0.005)  # polling the observable state, not waiting for time to pass
    if proc.poll() is not None:
        pytest.fail("indexing finished before it could be killed; make the repository larger")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_a_killed_index_run_leaves_a_usable_index_and_the_next_run_completes_it(
    tmp_path: Path, home: Path
) -> None:
    repo = tmp_path / "big"
    for i in range(1500):
        write(
            repo,
            f"pkg{i % 30}/mod_{i}.py",
            f'def function_number_{i}(x):\n    """Doc {i}."""\n    return x + {i}\n',
        )
    db = index_dir_for(repo.resolve(), home) / "index.sqlite3"
    _index_until_killed(repo, home, lambda: _count_rows(db, "files") > 0)
    partial = _count_rows(db, "files")
    assert 0 < partial < 1500

    r = run(["search", "function_number_7", "--root", str(repo), "--json"], home)
    assert r.returncode == 0, r.stderr

    r = run(["index", str(repo), "--json"], home)
    assert r.returncode == 0, r.stderr
    status = json.loads(r.stdout)["status"]
    assert status["files"] == 1500
    assert status["vectors"] == status["chunks"]
    r = run(["search", "function_number_1499", "--root", str(repo), "--json"], home)
    assert json.loads(r.stdout)["hits"][0]["path"] == "pkg29/mod_1499.py"


def test_a_killed_update_leaves_the_last_complete_index_and_the_next_run_applies_it(
    tmp_path: Path, home: Path
) -> None:
    repo = tmp_path / "big"
    for i in range(1500):
        write(repo, f"pkg{i % 30}/mod_{i}.py", f"def function_number_{i}(x):\n    return x + {i}\n")
    assert run(["index", str(repo), "--quiet"], home).returncode == 0
    for i in range(1500):
        write(repo, f"pkg{i % 30}/mod_{i}.py", f"def renamed_function_{i}(y):\n    return y * {i}\n")
    cache = home / "embedding-cache.sqlite3"
    before = _count_rows(cache, "vectors")
    # The update is one transaction, invisible until it commits; the embedding cache commits as
    # it goes, so its growth shows how far the run got: past 700 new vectors, a batch-by-batch
    # writer (64 files a batch) would have committed several batches already.
    _index_until_killed(repo, home, lambda: _count_rows(cache, "vectors") >= before + 700)

    r = run(["search", "function_number_7", "--root", str(repo), "--json", "--lines", "5"], home)
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)["hits"]
    assert hits[0]["path"] == "pkg7/mod_7.py" and "function_number_7" in hits[0]["snippet"]
    assert hits[0]["freshness"]["state"] == "modified"  # the old index, honest about the disk
    r = run(["search", "renamed_function", "--root", str(repo), "--json", "-k", "100", "--lines", "5"], home)
    assert not [h for h in json.loads(r.stdout)["hits"] if "renamed_function" in h["snippet"]]

    r = run(["index", str(repo), "--json"], home)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"]["files"] == 1500
    r = run(["search", "renamed_function_7", "--root", str(repo), "--json", "--lines", "5"], home)
    hits = json.loads(r.stdout)["hits"]
    assert hits[0]["path"] == "pkg7/mod_7.py" and "renamed_function_7" in hits[0]["snippet"]


def test_the_cli_offset_limit_is_the_engine_limit() -> None:
    from conexus import cli
    from conexus.search.hybrid import MAX_OFFSET

    assert cli.MAX_OFFSET == MAX_OFFSET
