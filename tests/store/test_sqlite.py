"""The SQLite store on real files: writes, deletes, FTS consistency, vector repair, format checks."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conexus.errors import IndexIncompatibleError
from conexus.models import Chunk
from conexus.store.base import NO_FILTER, ChunkFilter, FileUpdate
from conexus.store.sqlite import FORMAT_VERSION, SqliteStore
from conexus.store.sqlite.sql import lexical_sql
from conexus.store.vectors import decode_vectors, encode_vector

DIM = 8


def _update(path: str, body: str, n: int = 2) -> FileUpdate:
    chunks = [
        Chunk(
            path=path,
            start_line=i * 3 + 1,
            end_line=i * 3 + 2,
            language="python",
            kind="function",
            text=f"def {body}_{i}():\n    pass",
            symbol=f"{body}_{i}",
        )
        for i in range(n)
    ]
    rng = np.random.default_rng(abs(hash(path)) % 2**32)
    vecs = rng.normal(size=(n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return FileUpdate(
        path=path,
        hash=body,
        size=10,
        mtime_ns=1,
        language="python",
        n_lines=6,
        invalid_utf8=False,
        chunks=chunks,
        vectors=vecs,
    )


def _apply(store: SqliteStore, updates: list[FileUpdate], deletes: list[str]) -> None:
    with store.writer(atomic=False) as w:
        w.apply(updates, deletes)


def test_replacing_a_file_removes_its_old_tokens_and_vectors(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "idx", DIM)
    _apply(store, [_update("a.py", "alpha")], [])
    assert store.lexical(["alpha_0"], 10)
    _apply(store, [_update("a.py", "beta")], [])
    assert not store.lexical(["alpha_0"], 10)
    assert store.lexical(["beta_1"], 10)
    assert store.vector_count() == 2
    _apply(store, [], ["a.py"])
    assert store.counts() == (0, 0)
    assert store.vector_count() == 0
    assert not store.lexical(["beta_1"], 10)
    store.close()


def test_vector_index_is_repaired_from_sqlite_when_its_file_is_lost(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "idx", DIM)
    _apply(store, [_update("a.py", "alpha"), _update("b.py", "beta")], [])  # saved on leaving the writer
    store._apply([_update("c.py", "gamma")], [])  # not saved: as if the process died here
    store.close()
    reopened = SqliteStore(tmp_path / "idx", DIM)
    assert reopened.vector_count() == 6
    (tmp_path / "idx" / "vectors.usearch").unlink()
    reopened.close()
    again = SqliteStore(tmp_path / "idx", DIM)
    assert again.vector_count() == 6
    q = again._get_vectors([1])[0]
    assert again.nearest(q, 1)[0][0] == 1
    again.close()


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "idx", DIM)
    store.set_meta({"format_version": str(FORMAT_VERSION + 1)})
    store.close()
    with pytest.raises(IndexIncompatibleError, match="newer"):
        SqliteStore(tmp_path / "idx", DIM)


def test_lexical_sql_is_built_without_a_database() -> None:
    params: dict[str, object] = {}
    sql = lexical_sql(10, ChunkFilter(file_ids=frozenset({3, 1})), params)
    assert "MATCH :match" in sql and "json_each(:file_ids)" in sql and "LIMIT 10" in sql
    assert params == {"file_ids": "[1, 3]"}
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE chunks_fts USING fts5(name, path, body)")
    conn.execute("CREATE TABLE chunks(id INTEGER PRIMARY KEY, file_id INTEGER)")
    conn.execute(lexical_sql(10, NO_FILTER, {}), {"match": '"x"'}).fetchall()


def test_filtered_lexical_search_only_returns_allowed_files(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "idx", DIM)
    _apply(store, [_update("a.py", "same"), _update("b.py", "same")], [])
    files = store.files()
    hits = store.lexical(["same_0"], 10, ChunkFilter(file_ids=frozenset({files["b.py"].id})))
    rows = store.get_chunks([cid for cid, _ in hits])
    assert {r.path for r in rows.values()} == {"b.py"}
    store.close()


@given(st.lists(st.floats(min_value=-1, max_value=1, allow_nan=False), min_size=DIM, max_size=DIM))
def test_vectors_round_trip_through_float16(values: list[float]) -> None:
    vec = np.asarray(values, dtype=np.float32)
    out = decode_vectors([encode_vector(vec)], DIM)[0]
    assert np.allclose(out, vec, atol=1e-3)


def _format_1_index(directory: Path) -> None:
    """An index as Conexus wrote it before format 2 (one tree per file, chunks per path)."""
    from conexus.store.sqlite.schema import MIGRATIONS

    directory.mkdir(parents=True)
    conn = sqlite3.connect(directory / "index.sqlite3")
    conn.executescript(MIGRATIONS[1] + ";" + MIGRATIONS[2])
    conn.executemany(
        "INSERT INTO meta(key, value) VALUES (?, ?)",
        [("schema_version", "2"), ("format_version", "1"), ("generation", "3")],
    )
    conn.commit()
    conn.close()


def test_an_index_of_the_format_before_shared_content_is_refused_with_how_to_rebuild_it(
    tmp_path: Path,
) -> None:
    _format_1_index(tmp_path / "idx")
    with pytest.raises(IndexIncompatibleError, match=r"format 1, older .*run `conexus index` to rebuild"):
        SqliteStore(tmp_path / "idx", DIM)


def _open_files_of(path: Path) -> int:
    """Descriptors this process holds on ``path`` (Linux: /proc/self/fd)."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            count += os.readlink(fd) == str(path)
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts descriptors through /proc")
def test_reader_connections_of_threads_that_ended_are_closed(tmp_path: Path) -> None:
    """A server starts threads for as long as it runs (a chunker per index job): each thread that
    reads gets a connection, which must not outlive it (a soak leaked two descriptors per job)."""
    store = SqliteStore(tmp_path / "idx", DIM)
    _apply(store, [_update("a.py", "alpha")], [])
    for _ in range(20):
        reader = threading.Thread(target=lambda: store.lexical(["alpha_0"], 10))
        reader.start()
        reader.join()
    assert store.lexical(["alpha_0"], 10)  # this thread's connection: the ended ones' are closed
    assert _open_files_of(store.db_path.resolve()) <= 4  # the writer, this thread's reader, slack
    store.close()
