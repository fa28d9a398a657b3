"""End to end on PostgreSQL: an engine with ``store_url`` set indexes a repository into a real
PostgreSQL + pgvector, then searches, localizes, updates and clears it through the engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conexus.engine import Engine
from conexus.layout import INDEX_DB
from tests.conftest import write


def test_an_engine_with_a_store_url_indexes_searches_and_localizes_in_postgresql(
    postgres_url: str, make_engine: Callable[..., Engine], golden_repo: Path, tmp_path: Path
) -> None:
    engine = make_engine(golden_repo, store_url=postgres_url)
    assert not engine.has_index()
    report = engine.index()
    assert report.files_changed == report.files_seen > 5 and report.chunks_written > 20
    assert engine.has_index() and engine.is_complete()
    assert not (engine.index_dir / INDEX_DB).exists()  # nothing of it in SQLite

    status = engine.status()
    assert status["index_dir"].startswith("postgresql://") and engine.index_dir.name in status["index_dir"]
    assert status["files"] == report.files_seen and status["vectors"] == status["chunks"]
    assert status["index_bytes"] > 0 and status["compatible"] and not status["partial"]
    assert status["last_run"]["status"] == "complete"

    top = engine.search("parse_header_links").hits[0]
    assert (top.path, top.freshness.state) == ("httpkit/utils.py", "fresh")
    assert engine.search("TooManyRedirects", paths=("httpkit/**",)).hits[0].path == "httpkit/sessions.py"
    located = engine.localize(
        "Session.send follows redirects forever: TooManyRedirects is never raised after max_redirects"
    )
    assert "httpkit/sessions.py" in [path for path, _ in located.files[:3]]
    assert located.locations

    # An update of the complete index: one transaction, seen by the next search.
    write(golden_repo, "httpkit/marker.py", "def unmistakable_marker_function():\n    return 42\n")
    again = engine.index()
    assert again.files_changed == 1 and again.files_unchanged == report.files_seen
    assert engine.search("unmistakable_marker_function").hits[0].path == "httpkit/marker.py"

    # Another replica (its own data home) on the same root and database serves the same index.
    replica = make_engine(golden_repo, store_url=postgres_url, home=tmp_path / "replica-home")
    assert replica.has_index()
    assert [h.chunk_id for h in replica.search("retry backoff").hits] == [
        h.chunk_id for h in engine.search("retry backoff").hits
    ]
    replica.close()

    engine.clear()
    assert not engine.has_index() and not engine.index_dir.exists()
