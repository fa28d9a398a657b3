"""``python -m load.service_time --root DIR``: what one request of each kind costs with no queue.

One client, one request at a time, over REST: for each kind of the load mix
(``load/locustfile.py``), ``--repeat`` requests drawn from the same workload the
Locust scenarios replay, after one warm-up request per kind. Printed per kind:
p50, p90 and max latency in ms, and the server CPU per request (ms of CPU time,
user + system, from the server process), which is what bounds throughput on
this machine: at most ``cores x 1000 / cpu_ms`` requests per second of that
kind, and less with the GIL (one core for pure-Python work).

This is the arithmetic behind the load figures of docs/reliability.md: the
capacity a mix can reach is the sum over kinds of weight x CPU per request.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import httpx
import psutil

from load.__main__ import start_server, wait_indexed
from load.locustfile import MIX
from load.workload import collect


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m load.service_time", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, required=True, help="the folder to serve (indexed first if needed)"
    )
    parser.add_argument(
        "--home", type=Path, default=None, help="data home (default: CONEXUS_HOME or the user's)"
    )
    parser.add_argument("--embedder", default="bundled")
    parser.add_argument("--repeat", type=int, default=30, help="requests per kind (default 30)")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    proc, url = start_server(args.root.resolve(), args.embedder, args.home, ["--rate-per-address", "0"])
    try:
        status = wait_indexed(url)
        print(f"serving {args.root}: {status.get('files')} files, {status.get('chunks')} chunks", flush=True)
        work = collect(url, root=args.root.resolve())
        server = psutil.Process(proc.pid)
        rng = random.Random(args.seed)
        weight = {kind: w for w, kind, _ in MIX}
        print(f"{'kind':<20} {'weight':>6} {'p50 ms':>8} {'p90 ms':>8} {'max ms':>8} {'CPU ms/req':>10}")
        total_cpu = 0.0
        with httpx.Client(base_url=url, timeout=300) as http:
            for _, kind, operation in MIX:
                bodies = work[kind]
                http.post(f"/api/v1/{operation}", json=bodies[0]).raise_for_status()  # warm-up
                times: list[float] = []
                cpu0 = sum(server.cpu_times()[:2])
                for body in rng.sample(bodies, min(args.repeat, len(bodies))):
                    t0 = time.perf_counter()
                    answer = http.post(f"/api/v1/{operation}", json=body)
                    times.append((time.perf_counter() - t0) * 1000)
                    answer.raise_for_status()
                cpu = (sum(server.cpu_times()[:2]) - cpu0) * 1000 / len(times)
                total_cpu += weight[kind] * cpu
                q = statistics.quantiles(times, n=10) if len(times) >= 2 else times * 9
                print(
                    f"{kind:<20} {weight[kind]:>6} {statistics.median(times):>8.1f} {q[8]:>8.1f} "
                    f"{max(times):>8.1f} {cpu:>10.1f}"
                )
        mean_cpu = total_cpu / sum(weight.values())
        print(
            f"mix: {mean_cpu:.1f} ms of server CPU per request: at most {1000 / mean_cpu:.0f} req/s on one "
            f"core, {2000 / mean_cpu:.0f} on two"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
