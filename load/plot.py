"""``python -m load.plot OUT_DIR``: a run's latency and server memory over time, as ``OUT_DIR/curve.png``.

Reads what ``python -m load SCENARIO --out OUT_DIR`` wrote: Locust's
``run_stats_history.csv`` (the aggregated p50 and p99 of the last 10 seconds,
and the request rate, once a second) and ``samples.csv`` (the server's RSS,
threads and file descriptors, once a second). Three panels on one time axis:
latency (log scale), requests and failures per second, RSS with threads and
descriptors. The soak figure of docs/reliability.md is this plot.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def read_samples(path: Path) -> list[dict[str, float]]:
    """The sampler's rows (``load.__main__.write_samples``), as floats."""
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as fh:
        # A column a row leaves empty (older runs had no "wall") is left out of that row.
        return [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(fh)]


def read_history(path: Path, name: str = "Aggregated") -> list[dict[str, float]]:
    """Locust's history rows of request ``name`` (default: the aggregate; the others need
    ``--csv-full-history``): time, users, rate, failure rate, current p50 and p99 (ms)."""
    if not path.exists():
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get("Name") != name:
                continue
            try:
                out.append(
                    {
                        "t": float(row["Timestamp"]),
                        "users": float(row["User Count"]),
                        "rps": float(row["Requests/s"]),
                        "fails": float(row["Failures/s"]),
                        "p50": float(row["50%"]) if row["50%"] not in ("", "N/A") else 0.0,
                        "p99": float(row["99%"]) if row["99%"] not in ("", "N/A") else 0.0,
                    }
                )
            except (KeyError, ValueError):
                continue
    return out


def plot(out_dir: Path, title: str = "") -> Path:
    """Render ``out_dir/curve.png`` and return its path."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server
    import matplotlib.pyplot as plt

    history = read_history(out_dir / "run_stats_history.csv")
    samples = read_samples(out_dir / "samples.csv")
    if not history or not samples:
        raise SystemExit(f"{out_dir} holds no run_stats_history.csv or samples.csv of a load run")
    h0, s0 = history[0]["t"], samples[0]["t"]
    fig, (lat, rate, mem) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    minutes = [(h["t"] - h0) / 60 for h in history]
    lat.plot(minutes, [max(h["p50"], 0.1) for h in history], label="p50 (10 s window)")
    lat.plot(minutes, [max(h["p99"], 0.1) for h in history], label="p99 (10 s window)")
    lat.set_yscale("log")
    lat.set_ylabel("latency, ms")
    lat.legend(loc="upper left")
    lat.grid(True, which="both", alpha=0.3)
    rate.plot(minutes, [h["rps"] for h in history], label="requests/s")
    rate.plot(minutes, [h["fails"] for h in history], label="failures/s")
    users = rate.twinx()
    users.plot(minutes, [h["users"] for h in history], color="grey", linestyle=":", label="sessions")
    users.set_ylabel("sessions")
    rate.set_ylabel("per second")
    rate.legend(loc="upper left")
    rate.grid(True, alpha=0.3)
    sample_minutes = [(r["t"] - s0) / 60 for r in samples]
    mem.plot(sample_minutes, [r["rss"] / 2**20 for r in samples], label="server RSS, MB")
    mem.set_ylabel("RSS, MB")
    counts = mem.twinx()
    counts.plot(sample_minutes, [r["threads"] for r in samples], color="tab:green", label="threads")
    counts.plot(sample_minutes, [r["fds"] for r in samples], color="tab:red", label="fds")
    counts.set_ylabel("threads, fds")
    mem.legend(loc="upper left")
    counts.legend(loc="upper right")
    mem.set_xlabel("minutes")
    mem.grid(True, alpha=0.3)
    fig.suptitle(title or f"Conexus under load: {out_dir.name}")
    fig.tight_layout()
    target = out_dir / "curve.png"
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m load.plot", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="the --out folder of a load run")
    parser.add_argument("--title", default="", help="the figure's title")
    parser.add_argument("--to", type=Path, default=None, help="copy the PNG here too (e.g. docs/)")
    args = parser.parse_args()
    target = plot(args.out_dir, args.title)
    if args.to is not None:
        args.to.write_bytes(target.read_bytes())
    print(target)


if __name__ == "__main__":
    main()
