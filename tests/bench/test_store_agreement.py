"""The two backends agree: on the fixture repositories the top 10 of SQLite and PostgreSQL match.

The bound comes from a measurement (``python -m bench.store_agreement --repo
tests/fixtures/golden_repo``, and ``related_repo``, bundled embedder): every query kind
agreed exactly (overlap 1.000, tau 1.000) on 205 queries. It leaves room for float
near-ties only; docs/scale-out.md explains the differences seen on a larger tree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.store_agreement import Query, build_both, compare, generate_queries, kendall_tau, overlap

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "golden_repo.json"


def test_overlap_and_kendall_tau_of_top_lists() -> None:
    assert overlap([1, 2, 3], [3, 2, 1]) == 1.0 and overlap([], []) == 1.0
    assert overlap([1, 2, 3, 4], [1, 2]) == 0.5
    assert kendall_tau([1, 2, 3], [1, 2, 3]) == 1.0
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 9], [2, 1, 8]) == -1.0  # over the shared items only
    assert kendall_tau([1], [1]) is None


@pytest.mark.parametrize("repo", ["golden_repo", "related_repo"])
def test_sqlite_and_postgresql_agree_on_the_top_ten_of_the_fixture_repositories(
    repo: str, postgres_url: str, tmp_path: Path
) -> None:
    lite, pg, _ = build_both(FIXTURES / repo, tmp_path, postgres_url, {"embedder": "bundled"})
    try:
        store = lite.engine.location.open(lite.engine.embedder.dim, create=False)
        try:
            queries = generate_queries(store, 40)
        finally:
            store.close()
        if repo == "golden_repo":
            queries += [Query(c["query"], "golden") for c in json.loads(GOLDEN.read_text())]
        summary = compare(lite.engine, pg.engine, queries).summary()
    finally:
        lite.engine.close()
        pg.engine.close()
    assert lite.chunks == pg.chunks
    assert summary["all"]["chunk_overlap"] >= 0.98 and summary["all"]["file_overlap"] >= 0.98, summary
    for kind, figures in summary.items():
        assert figures["chunk_overlap"] >= 0.95 and figures["file_overlap"] >= 0.95, (kind, figures)
        assert figures["kendall_tau"] >= 0.95, (kind, figures)
