"""What a scenario's run says against its target, read from the CSV files the run wrote.

* ``stress``: the breaking point, the first 10-second window with failures or a
  p99 over 2 s, as sessions and requests per second at that moment;
* ``spike``: how much was shed (429/503 with ``Retry-After``) and how long after
  the sessions fell back the p99 was under a second again with no failures;
* ``soak``: RSS growth after warm-up, latency drift between the first and the last
  third, file descriptors and threads.

Each takes the ``--out`` folder of a run (``run_stats_history.csv``: Locust's
aggregated p50/p99 of the last 10 seconds, once a second; ``run_stats.csv``;
``samples.csv``: the server's RSS, threads and fds) and returns printable lines.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from load.plot import read_history, read_samples

#: The stress scenario's limits: the first window past either is the breaking point.
BREAK_P99_MS = 2000.0
#: The spike has recovered once a window's p99 is under this, with no failures.
RECOVERED_P99_MS = 1000.0


def breaking_point(out_dir: Path) -> str:
    """The first window with failures or a p99 over :data:`BREAK_P99_MS`, or that none came."""
    history = read_history(out_dir / "run_stats_history.csv")
    if not history:
        return "stress: no history to read"
    t0 = history[0]["t"]
    best = max(history, key=lambda h: h["rps"])
    for h in history:
        if h["fails"] > 0 or h["p99"] > BREAK_P99_MS:
            why = f"{h['fails']:.1f} failures/s" if h["fails"] > 0 else f"p99 {h['p99']:.0f} ms"
            return "\n".join(
                [
                    f"stress: breaking point after {h['t'] - t0:.0f} s at {h['users']:.0f} sessions, "
                    f"{h['rps']:.1f} req/s ({why}); the most served was {best['rps']:.1f} req/s "
                    f"at {best['users']:.0f} sessions",
                    f"stress: first past the limits: {_broken_kinds(out_dir, h['t'])}",
                    f"stress: at that moment {_resources(out_dir, h['t'])}",
                    f"stress: searches alone: {_search_break(out_dir, history)}",
                ]
            )
    last = history[-1]
    return (
        f"stress: no breaking point up to {last['users']:.0f} sessions ({last['rps']:.1f} req/s, "
        f"p99 {last['p99']:.0f} ms)"
    )


def _broken_kinds(out_dir: Path, at: float) -> str:
    """The request kinds over the limits in the window ending at ``at`` (Locust's full history)."""
    broken = []
    with open(out_dir / "run_stats_history.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            name = row.get("Name", "")
            if name == "Aggregated" or float(row.get("Timestamp") or 0) != at:
                continue
            p99 = float(row["99%"]) if row["99%"] not in ("", "N/A") else 0.0
            fails = float(row.get("Failures/s") or 0)
            if fails > 0 or p99 > BREAK_P99_MS:
                broken.append(
                    (p99, f"{name} (p99 {p99:.0f} ms" + (f", {fails:.1f} failures/s)" if fails else ")"))
                )
    if not broken:
        return "no single kind (run with Locust's --csv-full-history for the kinds)"
    return ", ".join(text for _, text in sorted(broken, reverse=True))


def _search_break(out_dir: Path, history: list[dict[str, float]]) -> str:
    """The first window in which a search kind failed or its p99 passed the limit (full history)."""
    with open(out_dir / "run_stats_history.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if "search" not in row.get("Name", ""):
                continue
            p99 = float(row["99%"]) if row["99%"] not in ("", "N/A") else 0.0
            if float(row.get("Failures/s") or 0) > 0 or p99 > BREAK_P99_MS:
                at = float(row["Timestamp"])
                h = min(history, key=lambda x: abs(x["t"] - at))
                return (
                    f"{row['Name']} past the limits after {at - history[0]['t']:.0f} s, at "
                    f"{h['users']:.0f} sessions and {h['rps']:.1f} req/s (p99 {p99:.0f} ms)"
                )
    return "within the limits throughout"


def _resources(out_dir: Path, at: float, window_s: float = 10.0) -> str:
    """The server's CPU (percent of one core), RSS and threads over the ``window_s`` before ``at``."""
    rows = [
        r for r in read_samples(out_dir / "samples.csv") if "wall" in r and at - window_s <= r["wall"] <= at
    ]
    if len(rows) < 2:
        return "no resource samples"
    span = rows[-1]["wall"] - rows[0]["wall"]
    cpu = 100 * (rows[-1]["server_cpu"] - rows[0]["server_cpu"]) / span
    gen = 100 * (rows[-1]["gen_cpu"] - rows[0]["gen_cpu"]) / span
    return (
        f"the server used {cpu:.0f}% of one core (the generator {gen:.0f}%), RSS "
        f"{rows[-1]['rss'] / 2**20:.0f} MB, {rows[-1]['threads']:.0f} threads"
    )


def recovery(out_dir: Path) -> str:
    """Requests shed during the spike, and the seconds from the drop until the service was well again."""
    history = read_history(out_dir / "run_stats_history.csv")
    if not history:
        return "spike: no history to read"
    shed = served = 0
    with open(out_dir / "run_stats.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["Name"] == "Aggregated":
                continue
            if row["Name"].startswith("shed"):
                shed += int(row["Request Count"])
            else:
                served += int(row["Request Count"])
    peak = max(h["users"] for h in history)
    first_peak = next(h["t"] for h in history if h["users"] == peak)
    dropped = next((h for h in history if h["t"] > first_peak and h["users"] < peak), None)
    if dropped is None:
        return f"spike: {shed} requests shed, {served} answered; the sessions never fell back"
    well = next(
        (
            h
            for h in history
            if h["t"] >= dropped["t"] and h["fails"] == 0 and 0 < h["p99"] < RECOVERED_P99_MS
        ),
        None,
    )
    when = f"{well['t'] - dropped['t']:.0f} s" if well is not None else "not within the run"
    return (
        f"spike: {shed} requests shed with 429/503, {served} answered; after the sessions fell from "
        f"{peak:.0f} to {history[-1]['users']:.0f}, p99 under {RECOVERED_P99_MS:.0f} ms with no failures "
        f"after {when} (the p99 is of the last 10 s)"
    )


def drift(out_dir: Path, warmup_s: float = 300.0) -> str:
    """The soak verdicts: RSS growth after warm-up, latency drift, file descriptors and threads.

    RSS growth compares the end with the RSS ``warmup_s`` into the run; latency
    drift compares the median of the 10-second p50s (and p99s) of the first and
    the last third of the run after warm-up.
    """
    samples = read_samples(out_dir / "samples.csv")
    history = read_history(out_dir / "run_stats_history.csv")
    if not samples or not history:
        return "soak: not enough samples for a verdict"
    t0 = samples[0]["t"]
    warm = [r for r in samples if r["t"] - t0 >= warmup_s] or samples
    rss_growth = 100 * (warm[-1]["rss"] - warm[0]["rss"]) / warm[0]["rss"]
    h0 = history[0]["t"]
    after = [h for h in history if h["t"] - h0 >= warmup_s and h["p50"] > 0] or history
    third = max(1, len(after) // 3)

    def med(rows: list[dict[str, float]], key: str) -> float:
        values = sorted(r[key] for r in rows)
        return values[len(values) // 2]

    return "\n".join(
        [
            f"soak: RSS {warm[0]['rss'] / 2**20:.0f} MB after {warmup_s:.0f} s warm-up -> "
            f"{warm[-1]['rss'] / 2**20:.0f} MB at the end ({rss_growth:+.1f}%; target <= +10%)",
            f"soak: p50 {med(after[:third], 'p50'):.0f} -> {med(after[-third:], 'p50'):.0f} ms, "
            f"p99 {med(after[:third], 'p99'):.0f} -> {med(after[-third:], 'p99'):.0f} ms "
            "(first third -> last third after warm-up)",
            f"soak: fds {warm[0]['fds']:.0f} -> {warm[-1]['fds']:.0f}; threads {warm[0]['threads']:.0f} -> "
            f"{warm[-1]['threads']:.0f} (after warm-up -> end)",
        ]
    )


#: The verdict printed after each scenario that has one.
VERDICTS: dict[str, Callable[[Path], str]] = {"stress": breaking_point, "spike": recovery, "soak": drift}
