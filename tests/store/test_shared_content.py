"""The contract of trees sharing one database (issue #14, worktrees): SQLite and PostgreSQL.

Two stores opened for two trees of one database (two worktrees of a repository
in one SQLite file; two indexes in one PostgreSQL database) each see exactly
their tree, and content both list is stored once: the second tree lists it
(:meth:`StoreWriter.link`) without chunks or vectors of its own. Every test
goes through the role's methods only; how many rows the content takes is
checked per backend at the end.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from conexus.store.base import ChunkFilter, FileLink, FileUpdate, Store
from conexus.store.sqlite import SqliteStore
from tests import postgres
from tests.store.test_contract import DIM, _update, _vec, _write

OpenTree = Callable[[str], Store]
IDENTITY = {"embedder_id": "fake", "dim": str(DIM), "chunker_version": "2", "options_hash": "o"}


def _postgres(where: Path) -> OpenTree:
    url = postgres.database_for(where)

    def make(tree: str) -> Store:
        from conexus.store.postgres import PostgresStore

        return PostgresStore(url, tree, DIM)

    return make


BACKENDS: dict[str, Callable[[Path], OpenTree]] = {
    "sqlite": lambda where: lambda tree: SqliteStore(where / "repo", DIM, tree),
    "postgres": _postgres,
}


@pytest.fixture(params=sorted(BACKENDS))
def open_tree(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenTree]:
    """Opens the store of a named tree of one database, with one identity; closes them after."""
    opened: list[Store] = []
    factory = BACKENDS[request.param](tmp_path)

    def make(tree: str) -> Store:
        s = factory(tree)
        s.set_meta(IDENTITY)
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


def _link_of(up: FileUpdate, *, size: int | None = None) -> FileLink:
    return FileLink(
        up.path, up.hash, up.size if size is None else size, up.mtime_ns, up.language, up.n_lines, False
    )


def _shared(update: FileUpdate, *trees: Store) -> None:
    """Index ``update`` in the first tree and list it in the others, as the indexer does."""
    _write(trees[0], update)
    for tree in trees[1:]:
        assert tree.has_contents([(update.path, update.hash)]) == {(update.path, update.hash)}
        with tree.writer(atomic=False) as w:
            assert w.link([_link_of(update, size=999)]) == []


PARSE = _update("src/parse.py", ("function", "def parse_header(v):\n    return v", "parse_header"), seed=1)
ONLY_A = _update("src/alpha.py", ("function", "def alpha_only(): pass", "alpha_only"), seed=30)
ONLY_B = _update("src/beta.py", ("function", "def beta_only(): pass", "beta_only"), seed=40)


def test_a_second_tree_lists_indexed_content_and_answers_with_its_own_entry(open_tree: OpenTree) -> None:
    a, b = open_tree("/work/a"), open_tree("/work/b")
    assert b.has_contents([(PARSE.path, PARSE.hash)]) == set()
    _shared(PARSE, a, b)
    entry = b.file("src/parse.py")
    assert entry is not None and (entry.hash, entry.size, entry.n_chunks) == (PARSE.hash, 999, 1)
    assert a.file("src/parse.py") is not None and a.file("src/parse.py").size == PARSE.size  # type: ignore[union-attr]
    assert b.counts() == (1, 1) and b.vector_count() == 1 and b.kinds() == {"function": 1}
    hits = b.lexical(["parse_header"], 10)
    assert len(hits) == 1
    row = b.get_chunks([hits[0][0]])[hits[0][0]]
    assert (row.path, row.file_id, row.file_size) == ("src/parse.py", entry.id, 999)
    assert b.nearest(_vec(1), 5) == [(hits[0][0], pytest.approx(1.0, abs=1e-2))]
    assert [r.symbol for r in b.chunks_of_file("src/parse.py")] == ["parse_header"]
    assert b.chunks_by_symbol(["PARSE_HEADER"], 10) == [(hits[0][0], "parse_header")]
    assert b.chunk_ids_for_files([entry.id]) == [hits[0][0]]


def test_each_tree_sees_only_its_own_files_through_every_read_and_retrieval(open_tree: OpenTree) -> None:
    a, b = open_tree("/work/a"), open_tree("/work/b")
    _shared(PARSE, a, b)
    _write(a, ONLY_A)
    _write(b, ONLY_B)
    assert set(a.files()) == {"src/parse.py", "src/alpha.py"}
    assert set(b.files()) == {"src/parse.py", "src/beta.py"}
    assert a.counts() == (2, 2) and b.counts() == (2, 2)
    assert a.lexical(["beta_only"], 10) == [] and b.lexical(["alpha_only"], 10) == []
    assert a.chunks_by_symbol(["beta_only"], 10) == []
    beta_id = b.lexical(["beta_only"], 10)[0][0]
    assert a.get_chunks([beta_id]) == {} and a.chunk_meta([beta_id]) == {}
    near_a = [cid for cid, _ in a.nearest(_vec(40), 10)]
    assert beta_id not in near_a and len(near_a) == 2
    kinds = ChunkFilter(kinds=frozenset({"function"}))
    assert {a.chunk_meta([c])[c].path for c, _ in a.nearest(_vec(40), 10, kinds)} == {
        "src/parse.py",
        "src/alpha.py",
    }
    assert a.first_chunks_of_files([f.id for f in b.files().values()]) == []


def test_nearest_in_a_tree_returns_k_of_its_own_chunks_while_the_database_holds_many_more(
    open_tree: OpenTree,
) -> None:
    a, b = open_tree("/work/a"), open_tree("/work/b")
    _write(a, *[_update(f"a{i}.py", ("function", f"def a{i}(): pass", f"a{i}"), seed=i) for i in range(3)])
    _write(
        b, *[_update(f"b{i}.py", ("function", f"def b{i}(): pass", f"b{i}"), seed=100 + i) for i in range(40)]
    )
    hits = a.nearest(_vec(101), 2)
    assert len(hits) == 2 and {a.chunk_meta([c])[c].path for c, _ in hits} <= {"a0.py", "a1.py", "a2.py"}
    assert len(a.nearest(_vec(101), 10)) == 3
    assert len(b.nearest(_vec(1), 10)) == 10


def test_the_same_content_at_two_paths_answers_with_the_path_each_tree_lists(open_tree: OpenTree) -> None:
    a, b = open_tree("/work/a"), open_tree("/work/b")
    text = ("function", "def renamed_helper(): pass", "renamed_helper")
    old = _update("old/helper.py", text, seed=7)
    new = _update("new/helper.py", text, seed=7)
    new = dataclasses.replace(new, hash=old.hash)
    _write(a, old)
    assert b.has_contents([(new.path, new.hash)]) == set()  # the path is part of what was indexed
    _write(b, new)
    (ida, _), (idb, _) = a.lexical(["renamed_helper"], 10)[0], b.lexical(["renamed_helper"], 10)[0]
    assert a.get_chunks([ida])[ida].path == "old/helper.py"
    assert b.get_chunks([idb])[idb].path == "new/helper.py"


def test_content_stays_while_a_tree_lists_it_and_goes_with_the_last(open_tree: OpenTree) -> None:
    a, b = open_tree("/work/a"), open_tree("/work/b")
    _shared(PARSE, a, b)
    _write(a, ONLY_A)
    a.clear()
    assert a.files() == {} and a.lexical(["parse_header"], 10) == [] and a.nearest(_vec(1), 3) == []
    assert b.lexical(["parse_header"], 10) and b.has_contents([(PARSE.path, PARSE.hash)])
    assert not a.has_contents([(ONLY_A.path, ONLY_A.hash)])  # listed by no tree: collected
    _write(b, deletes=("src/parse.py",))
    assert not b.has_contents([(PARSE.path, PARSE.hash)]) and b.vector_count() == 0
    with b.writer(atomic=False) as w:
        assert w.link([_link_of(PARSE)]) == ["src/parse.py"]  # gone: the caller indexes it in full


def test_replacing_a_shared_file_in_one_tree_leaves_the_other_trees_version(open_tree: OpenTree) -> None:
    a, b = open_tree("/work/a"), open_tree("/work/b")
    _shared(PARSE, a, b)
    _write(a, _update("src/parse.py", ("function", "def parse_body(v): pass", "parse_body"), seed=2))
    assert [r.symbol for r in a.chunks_of_file("src/parse.py")] == ["parse_body"]
    assert [r.symbol for r in b.chunks_of_file("src/parse.py")] == ["parse_header"]
    assert b.lexical(["parse_body"], 10) == [] and a.lexical(["parse_header"], 10) == []


def test_an_atomic_update_of_one_tree_is_invisible_to_the_other_and_can_be_abandoned(
    open_tree: OpenTree,
) -> None:
    a, b = open_tree("/work/a"), open_tree("/work/b")
    _shared(PARSE, a, b)
    with a.writer(atomic=True) as w:
        w.apply([ONLY_A], ["src/parse.py"])
        assert set(b.files()) == {"src/parse.py"} and b.lexical(["alpha_only"], 10) == []
        assert b.lexical(["parse_header"], 10)
        w.abandon()
    assert set(a.files()) == {"src/parse.py"} and a.lexical(["alpha_only"], 10) == []
    with a.writer(atomic=True) as w:
        w.apply([ONLY_A], ["src/parse.py"])
    assert set(a.files()) == {"src/alpha.py"}
    assert set(b.files()) == {"src/parse.py"} and [cid for cid, _ in b.nearest(_vec(1), 3)]


def test_skips_runs_and_meta_belong_to_their_tree(open_tree: OpenTree) -> None:
    a, b = open_tree("/work/a"), open_tree("/work/b")
    with a.writer(atomic=False) as w:
        w.set_skips([("big.bin", "binary", "")])
        w.set_meta({"complete": "1"})
    run = a.start_run()
    a.finish_run(run, "complete", {})
    assert b.skip_counts() == {} and b.last_run() is None and "complete" not in b.meta()
    assert a.skip_counts() == {"binary": 1} and a.meta()["complete"] == "1"
    assert a.key != b.key


# -- how much each backend stores ------------------------------------------------------------------
def test_sqlite_stores_shared_content_once_and_collects_it_with_its_last_tree(tmp_path: Path) -> None:
    a = SqliteStore(tmp_path / "repo", DIM, "/work/a")
    b = SqliteStore(tmp_path / "repo", DIM, "/work/b")
    try:
        for s in (a, b):
            s.set_meta(IDENTITY)
        _shared(PARSE, a, b)
        db = sqlite3.connect(tmp_path / "repo" / "index.sqlite3")
        count = lambda table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: E731
        assert (count("units"), count("chunks"), count("vectors"), count("files")) == (1, 1, 1, 2)
        assert len(a.vectors) == 1
        left = a.drop_tree()
        assert left == 1 and count("chunks") == 1 and count("trees") == 1
        assert b.drop_tree() == 0 and (count("units"), count("chunks"), count("vectors")) == (0, 0, 0)
        db.close()
    finally:
        a.close()
        b.close()


def test_postgres_stores_shared_content_once_and_collects_it_with_its_last_index(tmp_path: Path) -> None:
    postgres.require_extra()
    import psycopg

    from conexus.store.postgres import PostgresStore
    from conexus.store.postgres.location import PostgresLocation

    url = postgres.database_for(tmp_path)
    a, b = PostgresStore(url, "a", DIM), PostgresStore(url, "b", DIM)
    try:
        for s in (a, b):
            s.set_meta(IDENTITY)
        _shared(PARSE, a, b)

        def count(table: str) -> int:
            with psycopg.connect(url) as raw:
                row = raw.execute(f"SELECT count(*) FROM conexus.{table}").fetchone()
            return int(row[0]) if row else -1

        assert (count("units"), count("chunks"), count("vectors"), count("files")) == (1, 1, 1, 2)
        assert count("postings") > 0
        PostgresLocation(url, tmp_path / "a").delete()
        assert count("chunks") == 1 and b.lexical(["parse_header"], 10)
        PostgresLocation(url, tmp_path / "b").delete()
        assert (count("units"), count("chunks"), count("vectors"), count("postings")) == (0, 0, 0, 0)
    finally:
        a.close()
        b.close()


def test_an_index_of_format_1_is_refused_with_how_to_rebuild_it(tmp_path: Path) -> None:
    postgres.require_extra()
    import psycopg

    from conexus.errors import IndexIncompatibleError
    from conexus.store.postgres import PostgresStore

    url = postgres.database_for(tmp_path)
    PostgresStore(url, "old", DIM).close()
    with psycopg.connect(url) as raw:
        raw.execute("UPDATE conexus.meta SET value = '1' WHERE key = 'format_version'")
    with pytest.raises(IndexIncompatibleError, match=r"format 1, older .*run `conexus index` to rebuild"):
        PostgresStore(url, "old", DIM)


def test_a_tree_written_by_another_store_of_the_database_is_found_by_nearest(tmp_path: Path) -> None:
    """The HNSW index follows writes it did not make (another process's, or a dropped tree)."""
    a = SqliteStore(tmp_path / "repo", DIM, "/work/a")
    a.set_meta(IDENTITY)
    _write(a, ONLY_A)
    conn = sqlite3.connect(tmp_path / "repo" / "index.sqlite3")
    # As another process would: a chunk and vector added, the generation moved.
    conn.execute(
        "INSERT INTO vectors(chunk_id, vec) VALUES (999, ?)", (np.asarray(_vec(30), "<f2").tobytes(),)
    )
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
    conn.commit()
    conn.close()
    before = a.vectors.keys()
    a.nearest(_vec(30), 5)
    after = a.vectors.keys()
    assert 999 not in before and 999 in after
    a.close()


def test_sqlite_nearest_through_the_hnsw_index_filters_to_the_tree_and_keeps_k(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conexus.store.sqlite import store as sqlite_store

    monkeypatch.setattr(sqlite_store, "EXACT_VECTOR_LIMIT", 0)  # every tree search goes through HNSW
    a = SqliteStore(tmp_path / "repo", DIM, "/work/a")
    b = SqliteStore(tmp_path / "repo", DIM, "/work/b")
    try:
        for s in (a, b):
            s.set_meta(IDENTITY)
        _write(
            a, *[_update(f"a{i}.py", ("function", f"def a{i}(): pass", f"a{i}"), seed=i) for i in range(5)]
        )
        _write(
            b,
            *[
                _update(f"b{i}.py", ("function", f"def b{i}(): pass", f"b{i}"), seed=50 + i)
                for i in range(60)
            ],
        )
        hits = a.nearest(_vec(2), 4)
        assert len(hits) == 4 and hits[0][1] == pytest.approx(1.0, abs=1e-2)
        assert {a.chunk_meta([c])[c].path for c, _ in hits} <= {f"a{i}.py" for i in range(5)}
        assert len(a.nearest(_vec(2), 50)) == 5
    finally:
        a.close()
        b.close()


def test_two_trees_of_one_sqlite_database_written_at_once_take_turns_without_a_lock_error(
    tmp_path: Path,
) -> None:
    import threading

    stores = [SqliteStore(tmp_path / "repo", DIM, f"/work/{name}") for name in ("a", "b")]
    failures: list[BaseException] = []

    def build(store: SqliteStore, prefix: str) -> None:
        try:
            store.set_meta(IDENTITY)
            for batch in range(5):
                ups = [
                    _update(f"{prefix}{batch}_{i}.py", ("function", f"def {prefix}{batch}_{i}(): pass", None))
                    for i in range(10)
                ]
                _write(store, *ups, atomic=batch % 2 == 1)
        except BaseException as exc:  # re-raised below, on the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=build, args=(s, p)) for s, p in zip(stores, ("a", "b"), strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert failures == []
        assert [s.counts() for s in stores] == [(50, 50), (50, 50)]
        assert {p[0] for p in stores[0].files()} == {"a"} and {p[0] for p in stores[1].files()} == {"b"}
        assert len(stores[0].vectors) == 100  # one HNSW index for the database
    finally:
        for s in stores:
            s.close()


def test_file_texts_and_imports_are_read_through_the_trees_manifest(open_tree: OpenTree) -> None:
    from conexus.store.base import FileContent

    a, b = open_tree("/work/a"), open_tree("/work/b")
    _write(a, ONLY_A)
    _write(b, ONLY_B)
    with a.writer(atomic=False) as w:
        w.put_contents([FileContent(ONLY_A.hash, ONLY_A.language, "def alpha_only(): pass\n")])
    assert a.file_text("src/alpha.py") == "def alpha_only(): pass\n"
    assert b.file_text("src/alpha.py") is None and b.file_imports(["src/alpha.py"]) == {}
    assert a.unstored_files() == [] and b.unstored_files() == ["src/beta.py"]
