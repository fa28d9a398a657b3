"""``kill -9`` of a server that is answering queries while it indexes: nothing is lost.

A real ``conexus serve --http`` serves a copy of a fixture repository; client
threads search, read and grep through REST while the tree changes under the
watcher (so index updates run), and the server is killed with SIGKILL at a
moment the test does not choose. Whatever moment it was, a new server over the
same data home must answer at once, and after its catch-up the index must hold
exactly the tree: every file, none stale, not partial, with the last edit
findable.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import httpx

from tests.server.conftest import START_TIMEOUT_S, start_http_server

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "golden_repo"
API = "/api/v1"


def wait_ready(base: str, timeout: float = START_TIMEOUT_S) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base, timeout=30) as http:
        while True:
            answer = http.post(f"{API}/status", json={}).json()
            status = answer["status"]
            # No "stale" until the first build has written an index: then it is not ready yet.
            stale = status.get("stale")
            fresh = bool(stale) and stale["modified"] == 0 and stale["deleted"] == 0
            if answer["index_state"] == "ready" and fresh:
                return dict(status)
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready and fresh within {timeout}s: {answer['message']}")
            time.sleep(0.1)  # polling interval; the deadline decides


def test_a_server_killed_while_answering_and_indexing_comes_back_with_the_whole_tree(tmp_path: Path) -> None:
    root, home = tmp_path / "repo", tmp_path / "home"
    shutil.copytree(FIXTURE, root)
    unlimited = ("--rate-per-address", "0")  # four busy clients on one address: measure recovery, not 429s
    server = start_http_server([root], home, *unlimited)
    base = server.url.removesuffix("/mcp")
    wait_ready(base)

    stop = threading.Event()
    answered: list[int] = []

    def client() -> None:
        with httpx.Client(base_url=base, timeout=10) as http:
            bodies = [
                ("search", {"query": "resolve redirects"}),
                ("read", {"path": "httpkit/sessions.py", "start_line": 1, "end_line": 20}),
                ("grep", {"pattern": "def \\w+", "max_results": 20}),
            ]
            k = 0
            while not stop.is_set():
                operation, body = bodies[k % len(bodies)]
                k += 1
                try:
                    answered.append(http.post(f"{API}/{operation}", json=body).status_code)
                except httpx.HTTPError:
                    return  # the server is gone

    clients = [threading.Thread(target=client) for _ in range(4)]
    for t in clients:
        t.start()
    generated = root / "generated"
    generated.mkdir()
    for i in range(60):  # edits keep the watcher's index updates running while queries are answered
        (generated / f"mod_{i}.py").write_text(f"def generated_function_{i}(x):\n    return x + {i}\n")
        if i == 40:
            os.kill(server.process.pid, signal.SIGKILL)
        time.sleep(0.02)  # pacing of the edits, not synchronisation
    server.process.wait(30)
    stop.set()
    for t in clients:
        t.join(30)
    server.stop()
    assert answered and all(code == 200 for code in answered), sorted(set(answered))

    again = start_http_server([root], home, *unlimited)
    try:
        rebase = again.url.removesuffix("/mcp")
        with httpx.Client(base_url=rebase, timeout=30) as http:  # answers at once, before any catch-up
            assert http.post(f"{API}/search", json={"query": "resolve redirects"}).status_code == 200
        status = wait_ready(rebase)
        expected = sum(1 for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)
        assert status["files"] == expected and status["partial"] is False
        with httpx.Client(base_url=rebase, timeout=30) as http:
            hits = http.post(f"{API}/search", json={"query": "generated_function_59"}).json()["hits"]
        assert hits and hits[0]["path"] == "generated/mod_59.py"
    finally:
        again.stop()
