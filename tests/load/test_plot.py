"""The load report's curve and soak verdicts, from the CSV files a run writes."""

from __future__ import annotations

import csv
from pathlib import Path

from load.__main__ import drift, write_samples
from load.plot import plot, read_history

HISTORY_FIELDS = ["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", "50%", "99%"]


def _run_folder(tmp_path: Path, minutes: int, rss_mb: float, end_rss_mb: float) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    with open(out / "run_stats_history.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_FIELDS)
        writer.writeheader()
        for t in range(0, minutes * 60, 10):
            writer.writerow(
                {
                    "Timestamp": 1000 + t,
                    "User Count": 100,
                    "Type": "",
                    "Name": "Aggregated",
                    "Requests/s": 40,
                    "Failures/s": 0,
                    "50%": 20 if t else "N/A",
                    "99%": 200,
                }
            )
    n = minutes * 60
    rows = [
        {
            "t": float(t),
            "server_cpu": t * 0.9,
            "rss": (rss_mb + (end_rss_mb - rss_mb) * t / n) * 2**20,
            "fds": 40.0,
            "threads": 12.0,
            "gen_cpu": t * 0.1,
        }
        for t in range(n)
    ]
    write_samples(out / "samples.csv", rows)
    return out


def test_the_curve_is_a_png_of_latency_rate_and_memory(tmp_path: Path) -> None:
    out = _run_folder(tmp_path, minutes=3, rss_mb=400, end_rss_mb=410)
    target = plot(out, "test run")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(read_history(out / "run_stats_history.csv")) == 18


def test_the_soak_verdict_reports_rss_growth_after_warm_up_and_latency_drift(tmp_path: Path) -> None:
    out = _run_folder(tmp_path, minutes=30, rss_mb=500, end_rss_mb=600)
    verdict = drift(out)
    # RSS at 5 min is 500 + 100 * 300/1800 = 516.7 MB; the end is about 600 MB: +16%.
    assert "517 MB after 300 s warm-up -> 600 MB" in verdict and "(+16.1%" in verdict
    assert "p50 20 -> 20 ms" in verdict
    assert "threads 12 -> 12" in verdict
