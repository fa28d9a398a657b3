"""``python -m load.service_time --root DIR``: what one request of each kind costs with no queue.

One client, one request at a time, over REST and over one MCP session (streamable
HTTP, as the Locust users send them): for each kind of the load mix
(``load/workload.py``), ``--repeat`` requests per protocol drawn from the same
workload the Locust scenarios replay, alternating REST and MCP, no body sent twice (a
repeated query would be answered from the query cache), after one warm-up request per
kind and protocol. Printed per kind and protocol: p50 and p90 latency in ms, and the
CPU time per request (user + system, in ms) of the whole server (its serving process
and its worker processes) and of the serving process alone, which does the HTTP and
MCP exchanges.

The whole server's CPU bounds throughput on this machine: at most
``cores x 1000 / cpu_ms`` requests per second of that kind. This is the arithmetic
behind the load figures of docs/reliability.md: the capacity a mix can reach is the
sum over kinds of weight x CPU per request. The serving process's column is what a
protocol costs besides the engine's work: MCP minus REST is the price of the session
layer. CPU times come from the kernel in clock ticks (10 ms), so per-request figures
are averages over ``--repeat`` requests, exact only in sum.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from load.__main__ import start_server, wait_indexed
from load.wire import (
    INITIALIZE,
    INITIALIZED,
    MCP_HEADERS,
    MCP_PATH,
    answer,
    session_headers,
    tool_call,
    tool_failure,
)
from load.workload import MIX, collect

PROTOCOLS = ("rest", "mcp")


@dataclass
class Costs:
    """Latency (ms) and CPU (ms: whole server, serving process) of each request of one kind and protocol."""

    latency: list[float] = field(default_factory=list)
    cpu_all: float = 0.0
    cpu_serving: float = 0.0

    def per_request(self) -> tuple[float, float, float, float]:
        n = len(self.latency)
        q = statistics.quantiles(self.latency, n=10) if n >= 2 else self.latency * 9
        return statistics.median(self.latency), q[8], self.cpu_all / n, self.cpu_serving / n


class Client:
    """One REST client and one MCP session on the server at ``url``."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=300)
        self._ids = itertools.count(2)
        r = self.http.post(MCP_PATH, json=INITIALIZE, headers=MCP_HEADERS)
        r.raise_for_status()
        self.headers = session_headers(r.headers["mcp-session-id"])
        self.http.post(MCP_PATH, json=INITIALIZED, headers=self.headers).raise_for_status()

    def send(self, protocol: str, operation: str, body: dict[str, Any]) -> None:
        """One request; raises when it is not answered with success."""
        if protocol == "rest":
            self.http.post(f"/api/v1/{operation}", json=body).raise_for_status()
            return
        r = self.http.post(MCP_PATH, json=tool_call(next(self._ids), operation, body), headers=self.headers)
        r.raise_for_status()
        failure = tool_failure(answer(r.headers.get("content-type", ""), r.text))
        if failure:
            raise RuntimeError(failure)

    def close(self) -> None:
        self.http.delete(MCP_PATH, headers=self.headers)
        self.http.close()


def _cpu_ms(server: psutil.Process) -> tuple[float, float]:
    """CPU time so far (ms) of the server with its worker processes, and of the serving process."""
    own = sum(server.cpu_times()[:2])
    workers = 0.0
    for child in server.children(recursive=True):
        try:
            workers += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
    return (own + workers) * 1000, own * 1000


def measure(
    client: Client, server: psutil.Process, operation: str, bodies: list[dict[str, Any]]
) -> dict[str, Costs]:
    """Each protocol's costs over ``bodies``, sent one at a time alternating REST and MCP."""
    costs = {p: Costs() for p in PROTOCOLS}
    for i, body in enumerate(bodies):
        protocol = PROTOCOLS[i % len(PROTOCOLS)]
        all0, own0 = _cpu_ms(server)
        t0 = time.perf_counter()
        client.send(protocol, operation, body)
        elapsed = (time.perf_counter() - t0) * 1000
        time.sleep(0.02)  # the workers' CPU accounting settles (a worker may still be pickling)
        all1, own1 = _cpu_ms(server)
        c = costs[protocol]
        c.latency.append(elapsed)
        c.cpu_all += all1 - all0
        c.cpu_serving += own1 - own0
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m load.service_time", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, required=True, help="the folder to serve (indexed first if needed)"
    )
    parser.add_argument(
        "--home", type=Path, default=None, help="data home (default: CONEXUS_HOME or the user's)"
    )
    parser.add_argument("--embedder", default="bundled")
    parser.add_argument("--repeat", type=int, default=30, help="requests per kind and protocol (default 30)")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    proc, url = start_server(args.root.resolve(), args.embedder, args.home, ["--rate-per-address", "0"])
    try:
        status = wait_indexed(url)
        print(f"serving {args.root}: {status.get('files')} files, {status.get('chunks')} chunks", flush=True)
        work = collect(url, root=args.root.resolve())
        server = psutil.Process(proc.pid)
        rng = random.Random(args.seed)
        client = Client(url)
        print(
            f"{'kind':<18} {'weight':>6} {'protocol':>8} {'p50 ms':>7} {'p90 ms':>7} "
            f"{'CPU ms/req':>10} {'serving':>8}"
        )
        total = dict.fromkeys(PROTOCOLS, 0.0)
        for weight, kind, operation in MIX:
            bodies = work[kind]
            for protocol in PROTOCOLS:
                client.send(protocol, operation, bodies[0])  # warm-up
            sample = rng.sample(bodies[1:], min(2 * args.repeat, len(bodies) - 1))
            for protocol, c in measure(client, server, operation, sample).items():
                p50, p90, cpu_all, cpu_serving = c.per_request()
                total[protocol] += weight * cpu_all
                print(
                    f"{kind:<18} {weight:>6} {protocol:>8} {p50:>7.1f} {p90:>7.1f} {cpu_all:>10.1f} "
                    f"{cpu_serving:>8.1f}"
                )
        client.close()
        weights = sum(w for w, _, _ in MIX)
        for protocol in PROTOCOLS:
            mean_cpu = total[protocol] / weights
            print(
                f"the mix over {protocol}: {mean_cpu:.1f} ms of server CPU per request: at most "
                f"{1000 / mean_cpu:.0f} req/s on one core, {2000 / mean_cpu:.0f} on two"
            )
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
