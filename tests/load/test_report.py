"""The load report's curve and soak verdicts, from the CSV files a run writes."""

from __future__ import annotations

import csv
from pathlib import Path

from load.__main__ import write_samples
from load.plot import plot, read_history
from load.verdicts import breaking_point, drift, recovery

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


def _history(tmp_path: Path, rows: list[tuple[int, int, float, float, float]]) -> Path:
    """rows: (t, users, rps, fails, p99)."""
    out = tmp_path / "run"
    out.mkdir(exist_ok=True)
    with open(out / "run_stats_history.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_FIELDS)
        writer.writeheader()
        for t, users, rps, fails, p99 in rows:
            writer.writerow(
                {
                    "Timestamp": t,
                    "User Count": users,
                    "Type": "",
                    "Name": "Aggregated",
                    "Requests/s": rps,
                    "Failures/s": fails,
                    "50%": p99 / 4,
                    "99%": p99,
                }
            )
    return out


def test_the_stress_verdict_names_the_first_window_past_the_limits(tmp_path: Path) -> None:
    out = _history(
        tmp_path, [(0, 25, 15, 0, 300), (30, 50, 30, 0, 900), (60, 75, 38, 0, 2600), (90, 100, 35, 2, 9000)]
    )
    # Locust's full history: the kinds of the window that broke the limits (and one that did not).
    with open(out / "run_stats_history.csv", "a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_FIELDS)
        kinds = [("mcp localize", 9000, 0.0), ("rest grep", 2400, 0.5), ("mcp search_identifier", 80, 0.0)]
        for name, p99, fails in kinds:
            row = {"Timestamp": 60, "User Count": 75, "Type": "POST", "Name": name, "Requests/s": 1}
            writer.writerow({**row, "Failures/s": fails, "50%": p99 / 4, "99%": p99})
    # The server's samples, on the wall clock Locust stamps its history with: 120% of a core.
    samples = [
        {"t": 0.0, "wall": w, "server_cpu": 1.2 * w, "rss": 800 * 2**20, "fds": 40.0, "threads": 19.0,
         "gen_cpu": 0.1 * w}
        for w in (45.0, 50.0, 55.0, 60.0)
    ]  # fmt: skip
    write_samples(out / "samples.csv", samples)
    assert breaking_point(out).splitlines() == [
        "stress: breaking point after 60 s at 75 sessions, 38.0 req/s (p99 2600 ms); "
        "the most served was 38.0 req/s at 75 sessions",
        "stress: first past the limits: mcp localize (p99 9000 ms), rest grep (p99 2400 ms, 0.5 failures/s)",
        "stress: at that moment the server used 120% of one core (the generator 10%), RSS 800 MB, 19 threads",
        "stress: searches alone: within the limits throughout",
    ]


def test_the_spike_verdict_counts_shed_requests_and_the_time_to_recover(tmp_path: Path) -> None:
    out = _history(
        tmp_path,
        [
            (0, 30, 10, 0, 200),
            (10, 300, 60, 0, 4000),
            (40, 300, 60, 0, 5000),
            (45, 10, 20, 0, 4000),
            (50, 10, 8, 0, 1500),
            (58, 10, 7, 0, 400),
        ],
    )
    with open(out / "run_stats.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["Name", "Request Count"])
        writer.writeheader()
        writer.writerows(
            [
                {"Name": "shed mcp search", "Request Count": 120},
                {"Name": "mcp search", "Request Count": 900},
                {"Name": "Aggregated", "Request Count": 1020},
            ]
        )
    verdict = recovery(out)
    assert verdict.startswith(
        "spike: 120 requests shed with 429/503, 900 answered; after the sessions fell from 300 to 10"
    )
    assert "after 13 s" in verdict


def test_the_stress_verdict_says_when_searches_themselves_broke(tmp_path: Path) -> None:
    out = _history(tmp_path, [(0, 25, 15, 0, 300), (30, 50, 30, 0, 2500), (60, 75, 38, 0, 2600)])
    with open(out / "run_stats_history.csv", "a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_FIELDS)
        for t, p99 in ((30, 900), (60, 2100)):
            row = {
                "Timestamp": t,
                "User Count": 0,
                "Type": "POST",
                "Name": "rest search_prose",
                "Requests/s": 1,
            }
            writer.writerow({**row, "Failures/s": 0, "50%": p99 / 4, "99%": p99})
    assert breaking_point(out).splitlines()[-1] == (
        "stress: searches alone: rest search_prose past the limits after 60 s, at 75 sessions and "
        "38.0 req/s (p99 2100 ms)"
    )


def test_the_servers_histograms_give_the_mean_and_p99_of_each_label() -> None:
    from load.__main__ import _bucket_quantile, _histograms
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    registry = CollectorRegistry()
    h = Histogram("conexus_x_seconds", "x", ["stage"], buckets=(0.01, 0.1, 1.0), registry=registry)
    for _ in range(98):
        h.labels(stage="lexical").observe(0.005)
    for _ in range(2):
        h.labels(stage="lexical").observe(0.5)
    h.labels(stage="vector").observe(0.05)
    found = _histograms(generate_latest(registry).decode(), "conexus_x_seconds")
    lexical = found[(("stage", "lexical"),)]
    assert lexical["count"] == 100 and abs(lexical["sum"] - (98 * 0.005 + 2 * 0.5)) < 1e-9
    # 98 of 100 fall at or below 10 ms: the 99th lies halfway through the (0.1, 1] bucket's two.
    assert abs(_bucket_quantile(0.99, lexical["buckets"]) - 0.55) < 1e-9
    assert _bucket_quantile(0.5, found[(("stage", "vector"),)]["buckets"]) > 0.01
    assert _bucket_quantile(0.99, []) != _bucket_quantile(0.99, [])  # nan: nothing observed
