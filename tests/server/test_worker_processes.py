"""An HTTP server runs searches and heavy operations in worker processes, over a real socket.

A real ``conexus serve --http`` subprocess: its search answers come from a worker of
``--search-processes``, its grep, related, explain and localize answers from a worker of
``--heavy-processes`` at a lower CPU priority, and all equal the answers of a server that
runs them itself; an edit the server indexes is seen by the workers; and when the server is
killed with ``kill -9`` its workers end too.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.conftest import without_timings
from tests.server.conftest import START_TIMEOUT_S, HttpServer, make_repo, start_http_server, write

pytestmark = pytest.mark.timeout(180)

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("search", {"query": "parse the Link header", "top_k": 5}),
    ("grep", {"pattern": r"def \w+"}),
    ("related", {"target": "pkg/http_utils.py"}),
    ("explain", {"target": "parse_header_links"}),
    ("localize", {"issue": "Link header parsing drops the rel of the second link"}),
]


def api(server: HttpServer, name: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(server.url.removesuffix("/mcp") + f"/api/v1/{name}", json=body, timeout=60)


def wait_ready(server: HttpServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        body = api(server, "status", {"check_stale": False}).json()
        jobs = body["status"]["jobs"]
        if body["index_state"] == "ready" and jobs["current"] is None and not jobs["queued"]:
            return
        assert time.monotonic() < deadline, f"the index was not ready: {body}"
        time.sleep(0.05)


def workers(server: HttpServer) -> list[psutil.Process]:
    """The server's worker processes: its children running Python but not multiprocessing's tracker."""
    parent = psutil.Process(server.process.pid)
    return [c for c in parent.children() if "resource_tracker" not in " ".join(c.cmdline())]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[HttpServer, HttpServer, Path]]:
    """Two servers of one repository: one with a worker process, one without (each its own home)."""
    repo = make_repo(tmp_path / "repo")
    pooled = start_http_server(
        [repo], tmp_path / "home-pooled", "--heavy-processes", "1", "--search-processes", "1"
    )
    inline = start_http_server(
        [repo], tmp_path / "home-inline", "--heavy-processes", "0", "--search-processes", "0", "--no-watch"
    )
    try:
        wait_ready(pooled)
        wait_ready(inline)
        yield pooled, inline, repo
    finally:
        pooled.stop()
        inline.stop()


def test_heavy_operations_answer_from_a_worker_as_the_server_would(
    servers: tuple[HttpServer, HttpServer, Path],
) -> None:
    pooled, inline, _repo = servers
    for name, body in CALLS:
        there, here = api(pooled, name, body), api(inline, name, body)
        assert there.status_code == 200, there.text
        assert without_timings(there.json()) == without_timings(here.json()), name
    server_nice = psutil.Process(pooled.process.pid).nice()
    assert sorted(w.nice() for w in workers(pooled)) == [server_nice, server_nice + 10]
    # The heavy worker runs only on CPU time nothing else wants; the search worker competes as the server.
    policies = {w.nice(): os.sched_getscheduler(w.pid) for w in workers(pooled)}
    server_policy = os.sched_getscheduler(pooled.process.pid)
    assert policies == {server_nice: server_policy, server_nice + 10: os.SCHED_IDLE}
    assert workers(inline) == []
    # A bad pattern is the same client error, raised in the worker.
    bad = api(pooled, "grep", {"pattern": "(unclosed"})
    assert bad.status_code == api(inline, "grep", {"pattern": "(unclosed"}).status_code == 400
    assert "unclosed" in bad.json()["detail"] or "pattern" in bad.json()["detail"]


def test_a_worker_sees_what_the_server_indexed(servers: tuple[HttpServer, HttpServer, Path]) -> None:
    pooled, _inline, repo = servers
    assert api(pooled, "grep", {"pattern": "zebra_quagga"}).json()["matches"] == []
    write(repo, "pkg/zoo.py", "def zebra_quagga() -> int:\n    return 1\n")
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:  # the watcher indexes the new file; the worker reads the committed index
        related = api(pooled, "related", {"target": "zebra_quagga"})
        if related.status_code == 200:
            break
        assert time.monotonic() < deadline, related.text
        time.sleep(0.1)
    assert [d["path"] for d in related.json()["definitions"]] == ["pkg/zoo.py"]


def test_workers_end_with_a_killed_server(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    server = start_http_server([repo], tmp_path / "home", "--heavy-processes", "2")
    children: list[psutil.Process] = []
    try:
        wait_ready(server)
        assert api(server, "grep", {"pattern": "def"}).status_code == 200
        children = psutil.Process(server.process.pid).children(recursive=True)
        assert workers(server)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        _gone, alive = psutil.wait_procs(children, timeout=30)
        assert alive == [], f"processes outlived their server: {alive}"
    finally:
        for child in children:  # they hold the server's stderr: stop() would wait for them
            if child.is_running():
                child.kill()
        server.stop()
