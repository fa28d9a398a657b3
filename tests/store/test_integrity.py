"""A damaged index is refused when it is opened, reported on every door, and rebuilt by the next run.

Each test damages a real index the way disks and copies do — a page overwritten,
the file cut short, the full-text index's own pages — and checks that no search
is answered from it. The measurement behind the design (random page damage, and
which of it changes answers silently) is in ``conexus/store/sqlite/integrity.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from conexus.engine import Engine
from conexus.errors import IndexIncompatibleError
from conexus.store.sqlite import integrity
from conexus.store.sqlite.integrity import VERIFIED_FILE

MakeEngine = Callable[..., Engine]
QUERY = "resolve redirects"


def built(golden_repo: Path, make_engine: MakeEngine) -> tuple[Path, list[tuple[str, int]]]:
    """Index the repository; return the database path and the good answer to QUERY."""
    engine = make_engine(golden_repo)
    engine.index()
    good = [(h.path, h.start_line) for h in engine.search(QUERY).hits]
    db = engine.index_dir / "index.sqlite3"
    engine.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return db, good


def assert_refused_then_rebuilt(
    golden_repo: Path, make_engine: MakeEngine, good: list[tuple[str, int]]
) -> str:
    broken = make_engine(golden_repo)
    with pytest.raises(IndexIncompatibleError) as refused:
        broken.search(QUERY)
    broken.close()
    fixed = make_engine(golden_repo)
    fixed.index()
    assert [(h.path, h.start_line) for h in fixed.search(QUERY).hits] == good
    return str(refused.value)


def test_a_clean_open_is_recorded_and_the_next_open_of_the_same_files_is_not_checked_again(
    golden_repo: Path, make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, good = built(golden_repo, make_engine)
    make_engine(golden_repo).search(QUERY)  # the files changed since the build: checked, recorded
    assert (db.parent / VERIFIED_FILE).exists()

    def must_not_run(conn: sqlite3.Connection) -> list[str]:
        raise AssertionError("checked again although the files did not change")

    monkeypatch.setattr(integrity, "problems", must_not_run)
    again = make_engine(golden_repo)
    assert [(h.path, h.start_line) for h in again.search(QUERY).hits] == good


def test_an_overwritten_table_page_is_refused_at_open(golden_repo: Path, make_engine: MakeEngine) -> None:
    db, good = built(golden_repo, make_engine)
    with sqlite3.connect(db) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        leaf = "SELECT MAX(pageno) FROM dbstat WHERE name = 'chunks' AND pagetype = 'leaf'"
        page = conn.execute(leaf).fetchone()[0]
    with open(db, "r+b") as fh:
        fh.seek((page - 1) * page_size + 8)
        fh.write(b"\xff" * 64)  # cell pointers of a leaf page of the chunks table
    message = assert_refused_then_rebuilt(golden_repo, make_engine, good)
    assert "damaged" in message and "conexus index --rebuild" in message


def test_damage_only_the_full_text_index_can_see_is_refused_too(
    golden_repo: Path, make_engine: MakeEngine
) -> None:
    db, good = built(golden_repo, make_engine)
    with sqlite3.connect(db) as conn:  # valid pages, wrong content: quick_check passes
        conn.execute("UPDATE chunks_fts_data SET block = zeroblob(length(block)) WHERE id > 10")
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    message = assert_refused_then_rebuilt(golden_repo, make_engine, good)
    assert "full-text index" in message


def test_a_file_cut_short_is_refused_at_open(golden_repo: Path, make_engine: MakeEngine) -> None:
    db, good = built(golden_repo, make_engine)
    with open(db, "r+b") as fh:
        fh.truncate(db.stat().st_size // 2)
    assert_refused_then_rebuilt(golden_repo, make_engine, good)


def test_an_index_another_process_is_writing_is_served_not_called_damaged(
    golden_repo: Path, make_engine: MakeEngine
) -> None:
    db, good = built(golden_repo, make_engine)
    (db.parent / VERIFIED_FILE).unlink(missing_ok=True)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a server's index job holds the write lock
    try:
        engine = make_engine(golden_repo)
        assert [(h.path, h.start_line) for h in engine.search(QUERY).hits] == good
        assert not (db.parent / VERIFIED_FILE).exists()  # not checked yet: checked at a later open
    finally:
        writer.execute("ROLLBACK")
        writer.close()
