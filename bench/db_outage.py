"""PostgreSQL restarted and the network cut under load: ``python -m bench.db_outage --repo PATH``.

Starts a PostgreSQL server of its own (:mod:`bench.pg_restartable`: the wheel's binaries on
127.0.0.1, reached through a loopback proxy that can cut the route), a live
``conexus serve --http --no-watch`` on it over PATH, waits for the index, and keeps
``--clients`` clients searching through REST. Then, one after the other:

* **restart**: the server is stopped (``pg_ctl stop -m fast``: sessions end, as in a failover
  or an upgrade) and, after ``--outage`` seconds, started again on the same folder and port;
* **network cut**: the proxy drops every connection and leaves new ones unanswered (a dead
  route: connects time out) and, after ``--outage`` seconds, forwards again;
* **silent route**: the proxy keeps the connections open but moves no byte (what a statement
  already in flight meets when a route dies without a reset, its packets still acknowledged
  by the proxy's TCP stack), new ones unanswered; then the streams resume.

Printed per outage: the requests answered meanwhile, how many were ``503 store-unreachable``,
how many ``504 timeout`` (a request in flight on a silenced connection ends at the server's
``--request-timeout-s``), anything else (a 500, a wrong answer), the slowest refusal, how long
``/readyz`` took to say not ready, whether ``/healthz`` stayed up, and how long after the
database came back the first answer came. Exit status 1 when a request failed otherwise, or an
answer differed from the one before the outages.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from load.__main__ import start_server

from bench.pg_restartable import RestartablePostgres

API = "/api/v1"
UNREACHABLE = "https://conexus.dev/problems/store-unreachable"
TIMEOUT = "https://conexus.dev/problems/timeout"
QUERIES = ("resolve redirects", "parse_header_links", "TooManyRedirects", "retry backoff")


@dataclass
class Answer:
    query: str
    started: float
    seconds: float
    status: int
    problem: str | None
    paths: tuple[str, ...]


@dataclass
class Outage:
    """What the clients saw during one outage and after it."""

    name: str
    answers: list[Answer] = field(default_factory=list)
    not_ready_after_s: float | None = None
    ready_again_after_s: float | None = None
    healthz_during: int = 0
    recovered_after_s: float | None = None
    wrong: int = 0

    @property
    def refused(self) -> list[Answer]:
        return [a for a in self.answers if a.status == 503 and a.problem == UNREACHABLE]

    @property
    def timed_out(self) -> list[Answer]:
        return [a for a in self.answers if a.status == 504 and a.problem == TIMEOUT]

    @property
    def other_failures(self) -> list[Answer]:
        expected = {id(a) for a in (*self.refused, *self.timed_out)}
        return [a for a in self.answers if a.status != 200 and id(a) not in expected]

    def row(self) -> dict[str, Any]:
        refused = self.refused
        return {
            "outage": self.name,
            "requests": len(self.answers),
            "refused_503": len(refused),
            "timed_out_504": len(self.timed_out),
            "other_failures": len(self.other_failures),
            "wrong_answers": self.wrong,
            "slowest_refusal_s": round(max((a.seconds for a in refused), default=0.0), 2),
            "not_ready_after_s": _r(self.not_ready_after_s),
            "healthz_during": self.healthz_during,
            "answers_back_after_s": _r(self.recovered_after_s),
            "ready_again_after_s": _r(self.ready_again_after_s),
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def until(check: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until ``check()`` held (polled), or None after ``timeout``."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            return None
        time.sleep(0.05)  # polling interval; the deadline decides
    return time.monotonic() - t0


def search_paths(http: httpx.Client, query: str) -> tuple[str, ...]:
    r = http.post(f"{API}/search", json={"query": query})
    r.raise_for_status()
    return tuple(h["path"] for h in r.json()["hits"])


class Clients:
    """``n`` threads searching in a loop; each answer goes to the current outage's list."""

    def __init__(self, base: str, n: int, expected: dict[str, tuple[str, ...]]) -> None:
        self.base = base
        self.expected = expected
        self.current = Outage("before")
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(n)]
        for t in self.threads:
            t.start()

    def _run(self, k: int) -> None:
        with httpx.Client(base_url=self.base, timeout=60) as http:
            i = k
            while not self.stop.is_set():
                query = QUERIES[i % len(QUERIES)]
                i += 1
                t0 = time.monotonic()
                try:
                    r = http.post(f"{API}/search", json={"query": query})
                    body = r.json()
                    status = r.status_code
                except (httpx.HTTPError, ValueError):
                    body, status = {}, 0
                ok = status == 200
                paths = tuple(h["path"] for h in body.get("hits", [])) if ok else ()
                answer = Answer(
                    query, t0, time.monotonic() - t0, status, None if ok else body.get("type"), paths
                )
                with self.lock:
                    self.current.answers.append(answer)
                    if ok and paths != self.expected[query]:
                        self.current.wrong += 1

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(90)


def measure(
    name: str,
    away: Callable[[], None],
    back: Callable[[], None],
    clients: Clients,
    http: httpx.Client,
    outage_s: float,
) -> Outage:
    outage = Outage(name)
    with clients.lock:
        clients.current = outage
    t_away = time.monotonic()
    away()
    outage.not_ready_after_s = until(lambda: _status(http, "/readyz") == 503, 30)
    if until(lambda: time.monotonic() - t_away >= outage_s, outage_s + 1) is None:
        raise AssertionError("the clock did not move")
    outage.healthz_during = _status(http, "/healthz")
    back_at = time.monotonic()
    back()

    def answered() -> bool:
        with clients.lock:
            return any(a.status == 200 and a.started >= back_at for a in outage.answers)

    outage.recovered_after_s = until(answered, 60)
    outage.ready_again_after_s = until(lambda: _status(http, "/readyz") == 200, 60)
    return outage


def _status(http: httpx.Client, path: str) -> int:
    try:
        return http.get(path).status_code
    except httpx.HTTPError:
        return 0


def run(
    repo: Path,
    *,
    embedder: str = "bundled",
    clients: int = 3,
    outage_s: float = 5.0,
    request_timeout_s: float = 60.0,
) -> list[Outage]:
    """The three outages against a live server over ``repo``; what the clients saw in each."""
    with tempfile.TemporaryDirectory(prefix="conexus-bench-outage-") as tmp:
        work = Path(tmp)
        root = work / "repo"
        shutil.copytree(repo, root)
        database = RestartablePostgres()
        saved = os.environ.get("CONEXUS_STORE_URL")
        try:
            os.environ["CONEXUS_STORE_URL"] = database.create_database("outage")
            extra = ["--no-watch", "--rate-per-address", "0", "--rate-per-key", "0"]
            extra += ["--request-timeout-s", str(request_timeout_s)]
            proc, base = start_server(root, embedder, work / "home", extra)
            try:
                with httpx.Client(base_url=base, timeout=60) as http:
                    if until(lambda: _status(http, "/readyz") == 200 and _idle(http), 600) is None:
                        raise SystemExit("the index was not ready within 600 s")
                    expected = {q: search_paths(http, q) for q in QUERIES}
                    searching = Clients(base, clients, expected)
                    try:
                        return [
                            measure("restart", database.stop, database.start, searching, http, outage_s),
                            measure(
                                "network cut",
                                database.proxy.cut,
                                database.proxy.restore,
                                searching,
                                http,
                                outage_s,
                            ),
                            measure(
                                "silent route",
                                database.proxy.silence,
                                database.proxy.restore,
                                searching,
                                http,
                                outage_s,
                            ),
                        ]
                    finally:
                        searching.close()
            finally:
                proc.terminate()
                try:
                    proc.wait(30)
                except Exception:
                    proc.kill()
                    proc.wait(10)
                if proc.stderr is not None:
                    proc.stderr.close()
        finally:
            if saved is None:
                os.environ.pop("CONEXUS_STORE_URL", None)
            else:
                os.environ["CONEXUS_STORE_URL"] = saved
            database.close()


def _idle(http: httpx.Client) -> bool:
    jobs = http.post(f"{API}/status", json={}).json()["status"]["jobs"]
    return jobs["current"] is None and not jobs["queued"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.db_outage", description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, required=True, help="the tree to serve (copied first)")
    ap.add_argument("--embedder", default="bundled", help="embedder of the server (default: bundled)")
    ap.add_argument("--clients", type=int, default=3, help="searching clients (default 3)")
    ap.add_argument("--outage", type=float, default=5.0, help="seconds each outage lasts (default 5)")
    ap.add_argument(
        "--request-timeout-s", type=float, default=60.0, help="the server's request timeout (default 60)"
    )
    args = ap.parse_args(argv)
    outages = run(
        args.repo,
        embedder=args.embedder,
        clients=args.clients,
        outage_s=args.outage,
        request_timeout_s=args.request_timeout_s,
    )
    print(f"{args.repo}: {args.clients} clients, {args.outage:g} s outages, {os.cpu_count()} cores")
    header = (
        f"{'outage':<12} {'requests':>8} {'503':>5} {'504':>4} {'other':>5} {'wrong':>5} "
        f"{'slowest 503 s':>13} {'not ready after s':>17} {'healthz':>7} {'answers back after s':>20}"
    )
    print(header)
    failed = False
    for o in outages:
        r = o.row()
        print(
            f"{r['outage']:<12} {r['requests']:>8} {r['refused_503']:>5} {r['timed_out_504']:>4} "
            f"{r['other_failures']:>5} "
            f"{r['wrong_answers']:>5} {r['slowest_refusal_s']:>13} {r['not_ready_after_s']!s:>17} "
            f"{r['healthz_during']:>7} {r['answers_back_after_s']!s:>20}"
        )
        for kind in sorted({(a.status, a.problem, round(a.seconds, 1)) for a in o.other_failures})[:5]:
            print(f"  failed otherwise: HTTP {kind[0]} {kind[1]} after {kind[2]} s")
        failed = failed or bool(o.other_failures) or bool(o.wrong) or o.recovered_after_s is None
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
