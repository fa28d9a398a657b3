"""``python -m bench.priority`` runs its three conditions on a real index and prints one row each."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.priority import main

from conexus.engine import Engine


def test_the_priority_benchmark_prints_alone_beside_and_prioritized(
    golden_repo: Path, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONEXUS_EMBEDDER", "fake")
    with Engine(golden_repo) as engine:
        engine.index()
    assert main(["--root", str(golden_repo), "--home", str(home), "--queries", "6", "--heavy", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("search", "beside"))]
    assert [r.split("  ")[0] for r in rows] == [
        "search alone",
        "beside heavy threads (1)",
        "beside heavy threads, prioritized (1)",
    ]
    assert all(float(r.split()[-1]) >= 0 for r in rows[1:])  # heavy operations per second
