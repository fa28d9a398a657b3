"""``python -m load SCENARIO --root DIR``: start a server, run a Locust scenario on loopback, report.

Scenarios (``load/shapes.py``): ``smoke``, ``load``, ``stress``, ``spike``, ``soak``.
The server is ``conexus serve --http 127.0.0.1:0 DIR`` with the rate limits off
(``--rate-per-address 0 --rate-per-key 0``: the run measures capacity, not the
limiter; ``spike`` keeps ``--max-concurrent`` so shedding shows) and the
embedder of ``--embedder`` (default: the bundled model). The index of DIR is
built first if needed (that time is not part of the run). ``--churn`` rewrites
a file of DIR every few seconds during the run, so indexing runs beside the
queries (the soak scenario's condition).

Printed: per request name the count, failures, median and p99 in ms, and the
rate; the server's CPU (percent of one core), RSS at start, end and peak, open
file descriptors and threads at start and end; and the load generator's own
CPU — both share this machine's cores, so the figures are "server and
generator together" (docs/reliability.md). Locust's CSV files go to ``--out``.
Exit status 1 when any request failed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from load.shapes import SHAPES
from load.verdicts import VERDICTS
from load.workload import collect

URL_LINE = re.compile(r"(https?://\S+)/mcp")
HERE = Path(__file__).resolve().parent


def start_server(
    root: Path, embedder: str, home: Path | None, extra: list[str]
) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "CONEXUS_EMBEDDER": embedder}
    if home is not None:
        env["CONEXUS_HOME"] = str(home)
    cmd = [sys.executable, "-m", "conexus", "serve", "--http", "127.0.0.1:0", *extra, str(root)]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    found: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            m = URL_LINE.search(line)
            if m:
                found.put(m.group(1))
        found.put(None)

    threading.Thread(target=pump, daemon=True).start()
    url = found.get(timeout=120)
    if url is None:
        raise SystemExit("the server did not start (see its stderr above)")
    return proc, url


def wait_indexed(url: str, timeout: float = 3600) -> dict[str, Any]:
    """The root's status once its index is ready (built first when the folder was never indexed)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=60) as http:
        while time.monotonic() < deadline:
            answer = http.post("/api/v1/status", json={}).json()
            if answer.get("index_state") == "ready":
                return dict(answer["status"])
            time.sleep(1)
    raise SystemExit("the index was not ready in time")


class Sampler(threading.Thread):
    """Samples the server's and the generator's CPU, RSS, fds and threads once a second."""

    def __init__(self, server_pid: int) -> None:
        super().__init__(daemon=True)
        self.server = psutil.Process(server_pid)
        self.generator: psutil.Process | None = None
        self.rows: list[dict[str, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                row = {
                    "t": time.monotonic(),
                    "server_cpu": sum(self.server.cpu_times()[:2]),
                    "rss": self.server.memory_info().rss,
                    "fds": self.server.num_fds(),
                    "threads": self.server.num_threads(),
                    "gen_cpu": 0.0,
                }
                if self.generator is not None:
                    procs = [self.generator, *self.generator.children(recursive=True)]
                    row["gen_cpu"] = sum(sum(p.cpu_times()[:2]) for p in procs if p.is_running())
                self.rows.append(row)
            except psutil.Error:
                return


def churn(root: Path, stop: threading.Event) -> None:
    """Rewrite one file of the root every 5 s: the watcher re-indexes it beside the queries."""
    target = root / ".conexus-load-churn.py"
    k = 0
    while not stop.wait(5.0):
        k += 1
        target.write_text(f"def churn_{k}(x):\n    return x + {k}\n", encoding="utf-8")
    target.unlink(missing_ok=True)


def summary(out: Path, sampler: Sampler) -> tuple[str, int]:
    lines = [f"{'name':<28} {'requests':>9} {'failures':>9} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>7}"]
    failures = 0
    with open(f"{out}_stats.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            lines.append(
                f"{row['Name']:<28} {row['Request Count']:>9} {row['Failure Count']:>9} "
                f"{row['50%']:>8} {row['99%']:>8} {float(row['Requests/s']):>7.1f}"
            )
            if row["Name"] == "Aggregated":
                failures = int(row["Failure Count"])
    rows = sampler.rows
    if len(rows) >= 2:
        span = rows[-1]["t"] - rows[0]["t"]
        server = 100 * (rows[-1]["server_cpu"] - rows[0]["server_cpu"]) / span
        gen = 100 * (rows[-1]["gen_cpu"] - rows[0]["gen_cpu"]) / span
        peak = max(r["rss"] for r in rows)
        lines += [
            f"server CPU {server:.0f}% of one core; generator CPU {gen:.0f}% (same 2-core machine)",
            f"server RSS {rows[0]['rss'] / 2**20:.0f} MB at start, {rows[-1]['rss'] / 2**20:.0f} MB at end, "
            f"{peak / 2**20:.0f} MB peak",
            f"server fds {rows[0]['fds']:.0f} -> {rows[-1]['fds']:.0f}; threads {rows[0]['threads']:.0f} -> "
            f"{rows[-1]['threads']:.0f}",
        ]
    return "\n".join(lines), failures


def write_samples(path: Path, rows: list[dict[str, float]]) -> None:
    """The sampler's rows (one a second: server CPU seconds, RSS, fds, threads, generator CPU) as CSV."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["t", "server_cpu", "rss", "fds", "threads", "gen_cpu"])
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m load", description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted(SHAPES))
    parser.add_argument(
        "--root", type=Path, required=True, help="the folder to serve (indexed first if needed)"
    )
    parser.add_argument("--embedder", default="bundled", help="embedder of the server (default: bundled)")
    parser.add_argument(
        "--home", type=Path, default=None, help="data home (default: CONEXUS_HOME or the user's)"
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for Locust's CSV files")
    parser.add_argument("--churn", action="store_true", help="change a file every 5 s during the run")
    args = parser.parse_args()

    limits = ["--rate-per-address", "0", "--rate-per-key", "0"]
    if args.scenario != "spike":
        limits += ["--max-concurrent", "1000"]
    proc, url = start_server(args.root.resolve(), args.embedder, args.home, limits)
    stop = threading.Event()
    try:
        status = wait_indexed(url)
        print(
            f"serving {args.root} at {url}: {status.get('files')} files, {status.get('chunks')} chunks",
            flush=True,
        )
        out_dir = args.out or Path(tempfile.mkdtemp(prefix="conexus-load-"))
        out_dir.mkdir(parents=True, exist_ok=True)
        work = out_dir / "workload.json"
        work.write_text(json.dumps(collect(url, root=args.root.resolve())), encoding="utf-8")
        if args.churn:
            threading.Thread(target=churn, args=(args.root, stop), daemon=True).start()
        sampler = Sampler(proc.pid)
        sampler.start()
        env = {
            **os.environ,
            "CONEXUS_LOAD_WORKLOAD": str(work),
            "CONEXUS_LOAD_SHAPE": args.scenario,
            "CONEXUS_LOAD_SHED_OK": "1" if args.scenario == "spike" else "0",
            "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
        }
        locust = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(HERE / "locustfile.py"),
                "--headless",
                "--host",
                url,
                "--csv",
                str(out_dir / "run"),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            env=env,
        )
        sampler.generator = psutil.Process(locust.pid)
        locust.wait()
        sampler.stop.set()
        report, failures = summary(out_dir / "run", sampler)
        write_samples(out_dir / "samples.csv", sampler.rows)
        print(report)
        verdict = VERDICTS.get(args.scenario)
        if verdict is not None:
            print(verdict(out_dir))
        print(f"CSV files: {out_dir}")
        sys.exit(1 if failures or locust.returncode not in (0, 1) else 0)
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
