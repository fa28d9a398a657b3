"""The load scenarios' machinery works: ``python -m load smoke`` against a real server, no failure.

Five Locust users (MCP sessions and REST clients) for eight seconds against
``conexus serve --http`` over a fixture repository (fake embedder). The real
scenarios (load, stress, spike, soak) are commands, not CI steps; their figures
are in docs/reliability.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "golden_repo"
REPO = Path(__file__).resolve().parents[2]


def run_smoke(tmp_path: Path, *extra: str) -> str:
    """``python -m load smoke`` over a copy of the fixture repository (fake embedder); its report,
    checked to have ended well with no failed request."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURE, root)
    args = ["smoke", "--root", str(root), "--embedder", "fake", "--home", str(tmp_path / "home"), *extra]
    done = subprocess.run(
        [sys.executable, "-m", "load", *args, "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    aggregated = next(line for line in done.stdout.splitlines() if line.startswith("Aggregated"))
    assert aggregated.split()[2] == "0", aggregated  # failures
    assert int(aggregated.split()[1]) > 10, aggregated  # requests
    return done.stdout


def test_the_smoke_scenario_drives_mcp_sessions_and_rest_calls_without_a_failure(tmp_path: Path) -> None:
    report = run_smoke(tmp_path)
    names = {
        line.split()[0] + " " + line.split()[1]
        for line in report.splitlines()
        if line.startswith(("mcp ", "rest "))
    }
    assert "mcp initialize" in names and any(n.startswith("mcp search") for n in names), report
    assert "server CPU" in report and "generator CPU" in report


def test_the_smoke_scenario_spreads_its_users_over_two_query_replicas_on_postgresql(tmp_path: Path) -> None:
    report = run_smoke(tmp_path, "--replicas", "2", "--postgres")
    # Both replicas answered: users keep one replica each, assigned in turn.
    served = next(line for line in report.splitlines() if line.startswith("requests answered per server"))
    counts = [int(part.rsplit(" ", 1)[1]) for part in served.split(": ", 1)[1].split(", ")]
    assert len(counts) == 2 and all(c > 0 for c in counts), served
