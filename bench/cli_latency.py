"""Wall time of ``conexus search`` from a shell, with and without a server for the root:
``python -m bench.cli_latency [PATH] [--runs N] [--home DIR]``.

PATH (default: this repository's ``src``) is indexed once with the configured
embedder (the bundled model by default) into a temporary data home. Then, in
one run, side by side:

* **in process** (``--local``): each command imports Conexus, loads the model,
  opens the index and searches — what a CLI search costs with no server;
* **via the server**: ``conexus serve --http 127.0.0.1:0`` runs for the root and
  each command finds it in the data home and asks its REST API (no model load);
* **import only**: ``python -c "import conexus.cli"``, the floor of any command.

Prints median and p90 wall time per path over ``--runs`` commands (after one
untimed warm-up each), the engine time the server reported, and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUERIES = [
    "where are search results fused",
    "parse_header_links",
    "how does the walker decide a file is binary",
    "retry with exponential backoff",
    "HybridSearcher.search",
]
URL = re.compile(r"(http://\S+)/mcp")


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    return elapsed, r.stdout


def _summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p90_ms": round(ordered[max(0, int(len(ordered) * 0.9) - 1)] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", nargs="?", default=str(Path(__file__).resolve().parent.parent / "src"))
    parser.add_argument("--runs", type=int, default=10, help="timed commands per path")
    parser.add_argument("--home", help="data home (default: a temporary one)")
    args = parser.parse_args()
    root = Path(args.path).resolve()
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="conexus-cli-bench-"))
    env = {**os.environ, "CONEXUS_HOME": str(home)}
    conexus = [sys.executable, "-m", "conexus"]
    _timed([*conexus, "index", str(root), "--quiet"], env)

    def searches(extra: list[str]) -> tuple[list[float], list[float]]:
        walls, engine = [], []
        for i in range(args.runs + 1):
            query = QUERIES[i % len(QUERIES)]
            wall, out = _timed([*conexus, "search", query, "--root", str(root), "--json", *extra], env)
            if i:  # the first command warms the OS caches
                walls.append(wall)
                engine.append(float(json.loads(out)["took_ms"]))
        return walls, engine

    local_wall, local_engine = searches(["--local"])
    server = subprocess.Popen(
        [*conexus, "serve", "--http", "127.0.0.1:0", "--no-watch", str(root)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stderr is not None
        for line in server.stderr:
            if URL.search(line):
                break
        else:
            raise SystemExit("the server did not start")
        remote_wall, remote_engine = searches([])
    finally:
        server.terminate()
        server.wait(30)
    imports = [_timed([sys.executable, "-c", "import conexus.cli"], env)[0] for _ in range(args.runs)]

    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "root": str(root),
        "runs": args.runs,
        "in_process": {**_summary(local_wall), "engine_median_ms": round(statistics.median(local_engine), 1)},
        "via_server": {
            **_summary(remote_wall),
            "engine_median_ms": round(statistics.median(remote_engine), 1),
        },
        "import_only": _summary(imports),
    }
    for key in ("in_process", "via_server", "import_only"):
        row = result[key]
        assert isinstance(row, dict)
        extra = f", engine {row['engine_median_ms']} ms" if "engine_median_ms" in row else ""
        print(f"{key:<11} median {row['median_ms']:>7.1f} ms  p90 {row['p90_ms']:>7.1f} ms{extra}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
