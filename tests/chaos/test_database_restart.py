"""PostgreSQL restarted, and the network to it cut, under a stream of requests to a live server.

A real ``conexus serve --http`` (a subprocess) serves an index in a PostgreSQL server the test
owns (:mod:`tests.pg_restartable`), reached through a loopback proxy that can drop the route.
Client threads search through REST the whole time. While the database is away, every request
must fail cleanly and soon — a 503 problem document saying the database is unreachable, never
a hang or a 500 — and readiness must say not ready; once it is back, answers (the same
answers) return within seconds, with no restart of the server.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conexus.api.errors import PROBLEM_BASE
from tests.pg_restartable import RestartablePostgres, restartable_postgres
from tests.server.conftest import START_TIMEOUT_S, start_http_server

pytestmark = pytest.mark.timeout(300)

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "golden_repo"
API = "/api/v1"
#: Longest a request may take while the database is away: the pool's quick wait plus a probe
#: connect, with a loaded machine's margin. A hang would reach the client's 60 s timeout.
FAIL_WITHIN_S = 12.0
#: Longest until answers return after the database is back.
RECOVER_WITHIN_S = 15.0
QUERIES = ["resolve redirects", "parse_header_links", "TooManyRedirects"]


@dataclass
class Answer:
    query: str
    started: float
    seconds: float
    status: int
    problem: str | None
    paths: tuple[str, ...]


@pytest.fixture(scope="module")
def database() -> Iterator[RestartablePostgres]:
    with restartable_postgres() as server:
        yield server


def until(check: Callable[[], bool], what: str, timeout: float) -> float:
    """Poll ``check()`` until true; the seconds it took."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)  # polling interval; the deadline decides
    return time.monotonic() - t0


def test_requests_fail_cleanly_while_postgresql_is_away_and_answers_return_when_it_is_back(
    database: RestartablePostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, home = tmp_path / "repo", tmp_path / "home"
    shutil.copytree(FIXTURE, root)
    monkeypatch.setenv("CONEXUS_STORE_URL", database.create_database("restart"))
    server = start_http_server([root], home, "--no-watch", "--rate-per-address", "0")
    base = server.url.removesuffix("/mcp")
    http = httpx.Client(base_url=base, timeout=60)
    try:

        def ready() -> bool:
            if http.get("/readyz").status_code != 200:
                return False
            jobs = http.post(f"{API}/status", json={}).json()["status"]["jobs"]
            return jobs["current"] is None and not jobs["queued"]

        until(ready, "the index is built and the server ready", START_TIMEOUT_S)
        expected = {q: search_paths(http, q) for q in QUERIES}
        assert all(expected.values())

        answers: list[Answer] = []
        stop = threading.Event()

        def client(n: int) -> None:
            with httpx.Client(base_url=base, timeout=60) as c:
                i = n
                while not stop.is_set():
                    query = QUERIES[i % len(QUERIES)]
                    i += 1
                    t0 = time.monotonic()
                    r = c.post(f"{API}/search", json={"query": query})
                    body = r.json()
                    paths = tuple(h["path"] for h in body.get("hits", [])) if r.status_code == 200 else ()
                    problem = body.get("type") if r.status_code != 200 else None
                    answers.append(Answer(query, t0, time.monotonic() - t0, r.status_code, problem, paths))

        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(3)]
        for t in threads:
            t.start()
        try:
            for outage, (away, back) in {
                "restart": (database.stop, database.start),
                "network cut": (database.proxy.cut, database.proxy.restore),
            }.items():
                marker = time.monotonic()
                away()
                until(lambda: http.get("/readyz").status_code == 503, f"{outage}: not ready", FAIL_WITHIN_S)
                readiness = http.get("/readyz")
                assert readiness.headers.get("retry-after")
                reason = readiness.json()["roots"][0]["reason"]
                assert "unreachable" in reason or "connect" in reason, reason
                until(
                    lambda: sum(a.status == 503 for a in answers if a.started > marker) >= 6,  # noqa: B023
                    f"{outage}: requests are refused",
                    FAIL_WITHIN_S * 2,
                )
                assert http.get("/healthz").status_code == 200  # alive, only not ready
                back_at = time.monotonic()
                back()
                until(
                    lambda: any(a.status == 200 and a.started > back_at for a in answers),  # noqa: B023
                    f"{outage}: answers return",
                    RECOVER_WITHIN_S,
                )
                assert http.get("/readyz").status_code == 200
        finally:
            stop.set()
            for t in threads:
                t.join(90)

        failed = [a for a in answers if a.status != 200]
        assert failed, "the outages were seen"
        for a in failed:
            assert a.status == 503 and a.problem == PROBLEM_BASE + "store-unreachable", a
        slowest = max(a.seconds for a in failed)
        assert slowest < FAIL_WITHIN_S, f"a request waited {slowest:.1f} s while the database was away"
        assert all(a.paths == expected[a.query] for a in answers if a.status == 200)  # never a wrong one
        assert {q: search_paths(http, q) for q in QUERIES} == expected  # the same answers after
    finally:
        http.close()
        server.stop()


def search_paths(http: httpx.Client, query: str) -> tuple[str, ...]:
    r = http.post(f"{API}/search", json={"query": query})
    assert r.status_code == 200, r.text
    return tuple(h["path"] for h in r.json()["hits"])
