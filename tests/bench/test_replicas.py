"""``bench.replicas`` in short: two query replicas (real processes) on one PostgreSQL index answer a
few concurrent clients without an error, and every request sent to both gets the same citations.

The figures (throughput, tail latency) are the command's, not this test's: nothing timed is
asserted here.
"""

from __future__ import annotations

from pathlib import Path

from bench.replicas import citations, run

from tests import postgres

postgres.require_extra()


def test_two_query_replicas_on_one_database_give_identical_answers_under_concurrent_clients(
    postgres_url: str, golden_repo: Path
) -> None:
    report = run(
        golden_repo,
        store_url=postgres_url,
        n_replicas=2,
        clients=3,
        seconds=2.0,
        check=15,
        embedder="fake",
        rounds=1,
    )
    assert report.files > 5 and report.chunks > 20
    assert report.identical == report.checked == 15, report.differing[:2]
    for phase in report.phases:
        assert phase.latencies_ms, f"{phase.name}: no request answered"
        assert not phase.errors, f"{phase.name}: {sorted(set(phase.errors))[:3]}"
    assert [p.replicas for p in report.phases] == [1, 2]


def test_citations_are_every_path_with_its_lines_in_order() -> None:
    answer = {
        "hits": [{"path": "a.py", "start_line": 1, "end_line": 4, "score": 0.3}, {"path": "b.py", "line": 7}],
        "index_state": "ready",
    }
    assert citations(answer) == [("a.py", 1, 4, None, None), ("b.py", None, None, 7, None)]
