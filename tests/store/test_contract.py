"""The contract every :class:`~conexus.store.base.Store` backend passes: SQLite and PostgreSQL.

A backend plugs in by adding an entry to ``BACKENDS``: a function that opens (or
reopens) the store of one index location. Every test here goes through the role's
methods only, except the error-translation tests, which break the backend on purpose
(SQLite's here; PostgreSQL's in ``test_postgres.py``). The PostgreSQL cases run against
a real server (``tests/postgres.py``) and skip when there is none, except in CI.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from conexus.errors import StoreError
from conexus.models import Chunk
from conexus.store.base import (
    COMPLETE_KEY,
    INTERRUPTED,
    ChunkFilter,
    FileUpdate,
    IndexIdentity,
    Store,
)
from conexus.store.sqlite import SqliteStore
from conexus.store.sqlite import store as sqlite_store
from tests import postgres

DIM = 8
OpenStore = Callable[[], Store]


def _postgres(where: Path) -> OpenStore:
    """Stores of the index "idx" in a database of this test's own."""
    url = postgres.database_for(where)

    def make() -> Store:
        from conexus.store.postgres import PostgresStore

        return PostgresStore(url, "idx", DIM)

    return make


BACKENDS: dict[str, Callable[[Path], OpenStore]] = {
    "sqlite": lambda where: lambda: SqliteStore(where / "idx", DIM),
    "postgres": _postgres,
}


@pytest.fixture(params=sorted(BACKENDS))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens stores of one index location; every store opened is closed after the test."""
    opened: list[Store] = []
    factory = BACKENDS[request.param](tmp_path)

    def make() -> Store:
        s = factory()
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


@pytest.fixture
def store(open_store: OpenStore) -> Store:
    return open_store()


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _update(
    path: str, *chunks: tuple[str, str, str | None], language: str = "python", seed: int = 0
) -> FileUpdate:
    """A file update whose chunks are ``(kind, text, symbol)``; vectors are seeded per chunk."""
    rows = [
        Chunk(
            path=path,
            start_line=i * 10 + 1,
            end_line=i * 10 + 2,
            language=language,
            kind=kind,
            text=text,
            symbol=symbol,
        )
        for i, (kind, text, symbol) in enumerate(chunks)
    ]
    vectors = (
        np.vstack([_vec(seed + i) for i in range(len(rows))]) if rows else np.zeros((0, DIM), np.float32)
    )
    return FileUpdate(
        path=path,
        hash=f"h-{path}-{seed}",
        size=100 + seed,
        mtime_ns=1000 + seed,
        language=language,
        n_lines=10 * len(rows),
        invalid_utf8=False,
        chunks=rows,
        vectors=vectors.astype(np.float32),
    )


def _write(store: Store, *updates: FileUpdate, deletes: tuple[str, ...] = (), atomic: bool = False) -> None:
    with store.writer(atomic=atomic) as w:
        w.apply(list(updates), list(deletes))


def _sample(store: Store) -> None:
    _write(
        store,
        _update(
            "src/app.py",
            ("function", "def parse_header(value):\n    return value", "parse_header"),
            ("class", "class HeaderParser:\n    pass", "HeaderParser"),
            seed=0,
        ),
        _update(
            "src/util.go",
            ("function", "func parseHeader() {}\n// header tools", "parseHeader"),
            ("module", "package tools\n// header", None),
            language="go",
            seed=10,
        ),
        _update(
            "docs/guide.md",
            ("section", "# Headers\nHow to parse a header value.", "Headers"),
            language="markdown",
            seed=20,
        ),
    )


def _paths(store: Store, ids: list[int]) -> set[str]:
    return {row.path for row in store.get_chunks(ids).values()}


# -- writes and reads ----------------------------------------------------------------------------
def test_written_files_and_chunks_read_back_through_every_read(store: Store) -> None:
    _sample(store)
    files = store.files()
    assert set(files) == {"src/app.py", "src/util.go", "docs/guide.md"}
    app = store.file("src/app.py")
    assert app is not None and app == files["src/app.py"]
    assert (app.hash, app.size, app.mtime_ns, app.language, app.n_chunks) == (
        "h-src/app.py-0",
        100,
        1000,
        "python",
        2,
    )
    assert store.file("absent.py") is None
    assert store.counts() == (3, 5)
    assert store.languages() == {"python": 1, "go": 1, "markdown": 1}
    assert store.kinds() == {"function": 2, "class": 1, "module": 1, "section": 1}
    assert store.snapshot() == (files, 5)
    assert store.vector_count() == 5

    rows = store.chunks_of_file("src/app.py")
    assert [(r.start_line, r.kind, r.symbol) for r in rows] == [
        (1, "function", "parse_header"),
        (11, "class", "HeaderParser"),
    ]
    assert rows[0].to_chunk().text == "def parse_header(value):\n    return value"
    ids = [r.id for r in rows]
    assert set(store.get_chunks(ids)) == set(ids)
    meta = store.chunk_meta(ids)
    assert meta[ids[1]] == ("src/app.py", "python", "class")
    assert sorted(store.chunk_ids_for_files([app.id])) == sorted(ids)
    assert store.first_chunks_of_files([app.id]) == [min(ids)]
    assert store.first_chunks_of_files([app.id], ChunkFilter(kinds=frozenset({"class"}))) == [ids[1]]
    assert store.get_chunks([]) == {} and store.chunk_meta([]) == {}


def test_replacing_and_deleting_files_replace_their_chunks_tokens_and_vectors(store: Store) -> None:
    _sample(store)
    _write(store, _update("src/app.py", ("function", "def fresh_name(): pass", "fresh_name"), seed=5))
    assert [r.symbol for r in store.chunks_of_file("src/app.py")] == ["fresh_name"]
    assert not store.lexical(["parse_header"], 10)
    assert store.lexical(["fresh_name"], 10)
    assert store.vector_count() == 4
    _write(store, deletes=("src/util.go",))
    assert set(store.files()) == {"src/app.py", "docs/guide.md"}
    assert store.vector_count() == 2
    assert store.chunks_by_symbol(["parseHeader"], 10) == []


def test_chunk_meta_a_reader_remembered_follows_the_writes_of_another_store(open_store: OpenStore) -> None:
    writer, reader = open_store(), open_store()  # a server and its worker over one index
    _sample(writer)
    old = {r.id: r for path in ("src/app.py", "docs/guide.md") for r in reader.chunks_of_file(path)}
    assert {m.path for m in reader.chunk_meta(list(old)).values()} == {"src/app.py", "docs/guide.md"}
    # The guide's chunk has the highest id: SQLite may give it to the new file's chunk.
    _write(
        writer,
        _update("src/app.py", ("function", "def fresh_name(): pass", "fresh_name"), seed=5),
        _update("lib.rs", ("struct", "struct Header;", "Header"), language="rust", seed=30),
        deletes=("docs/guide.md",),
    )
    new = [r.id for path in ("src/app.py", "lib.rs") for r in reader.chunks_of_file(path)]
    meta = reader.chunk_meta([*old, *new])
    assert {cid: tuple(m) for cid, m in meta.items() if cid in new} == {
        new[0]: ("src/app.py", "python", "function"),
        new[1]: ("lib.rs", "rust", "struct"),
    }
    assert set(meta) == set(new)  # the replaced and deleted chunks are gone


def test_touch_records_a_new_size_and_mtime_without_new_chunks(store: Store) -> None:
    _sample(store)
    before = store.chunks_of_file("src/app.py")
    with store.writer(atomic=False) as w:
        w.touch([("src/app.py", 7, 99)])
    row = store.file("src/app.py")
    assert row is not None and (row.size, row.mtime_ns) == (7, 99)
    assert [r.id for r in store.chunks_of_file("src/app.py")] == [r.id for r in before]


def test_the_generation_changes_with_every_committed_write(store: Store) -> None:
    seen = [store.generation()]
    _sample(store)
    seen.append(store.generation())
    _write(store, deletes=("docs/guide.md",))
    seen.append(store.generation())
    _write(store, _update("new.py", ("function", "def n(): pass", "n")), atomic=True)
    seen.append(store.generation())
    store.clear()
    seen.append(store.generation())
    assert len(set(seen)) == len(seen)
    assert store.snapshot() == ({}, 0)


# -- the write path -------------------------------------------------------------------------------
def test_an_abandoned_atomic_writer_leaves_the_previous_index_and_vectors(store: Store) -> None:
    _sample(store)
    files, gen = store.files(), store.generation()
    with store.writer(atomic=True) as w:
        w.apply([_update("src/app.py", ("function", "def other(): pass", "other"), seed=3)], ["src/util.go"])
        w.set_skips([("big.bin", "too_large", "9 MB")])
        w.abandon()
    assert store.files() == files and store.generation() == gen
    assert store.vector_count() == 5
    assert store.skip_counts() == {}
    assert store.lexical(["parse_header"], 10) and not store.lexical(["other"], 10)
    q = _vec(10)  # the first chunk of src/util.go
    assert _paths(store, [cid for cid, _ in store.nearest(q, 1)]) == {"src/util.go"}


def test_an_exception_inside_an_atomic_writer_rolls_everything_back(store: Store) -> None:
    _sample(store)
    files = store.files()
    with pytest.raises(RuntimeError, match="boom"), store.writer(atomic=True) as w:
        w.apply([], ["src/app.py"])
        raise RuntimeError("boom")
    assert store.files() == files and store.vector_count() == 5


def test_an_atomic_writer_is_invisible_to_other_readers_until_it_commits(open_store: OpenStore) -> None:
    writer_store, reader_store = open_store(), open_store()
    _sample(writer_store)
    with writer_store.writer(atomic=True) as w:
        w.apply([], ["src/app.py"])
        w.set_meta({COMPLETE_KEY: "1"})
        assert "src/app.py" in reader_store.files()
        assert COMPLETE_KEY not in reader_store.meta()
    assert "src/app.py" not in reader_store.files()
    assert reader_store.meta()[COMPLETE_KEY] == "1"


def test_a_first_build_batch_is_visible_to_other_readers_as_soon_as_it_is_written(
    open_store: OpenStore,
) -> None:
    writer_store, reader_store = open_store(), open_store()
    with writer_store.writer(atomic=False) as w:
        w.apply([_update("a.py", ("function", "def first_batch(): pass", "first_batch"))], [])
        assert set(reader_store.files()) == {"a.py"}
        assert reader_store.lexical(["first_batch"], 10)
        w.apply([_update("b.py", ("function", "def second_batch(): pass", "second_batch"))], [])
    assert set(reader_store.files()) == {"a.py", "b.py"}


def test_vectors_written_by_a_writer_survive_reopening(open_store: OpenStore) -> None:
    first = open_store()
    _sample(first)
    first.close()
    again = open_store()
    assert again.vector_count() == 5
    assert _paths(again, [cid for cid, _ in again.nearest(_vec(20), 1)]) == {"docs/guide.md"}


def test_readers_on_other_threads_see_committed_writes(store: Store) -> None:
    _sample(store)
    out: list[tuple[int, int]] = []
    t = threading.Thread(target=lambda: out.append(store.counts()))
    t.start()
    t.join()
    assert out == [(3, 5)]


# -- retrieval ------------------------------------------------------------------------------------
def test_lexical_matches_any_term_by_default_and_all_terms_when_asked(store: Store) -> None:
    _sample(store)
    any_ids = [cid for cid, _ in store.lexical(["parse_header", "how"], 10)]
    assert _paths(store, any_ids) == {"src/app.py", "docs/guide.md"}
    both = store.lexical(["header", "tool"], 10, require_all=True)  # index tokens are stemmed
    assert _paths(store, [cid for cid, _ in both]) == {"src/util.go"}
    scores = [s for _, s in store.lexical(["header"], 10)]
    assert scores == sorted(scores, reverse=True)
    assert store.lexical([], 10) == []


def test_lexical_fields_restrict_where_terms_may_match(store: Store) -> None:
    _sample(store)
    # "util" is only in a path; "headerparser" only in a name (and the body of the class chunk).
    assert store.lexical(["util"], 10) and not store.lexical(["util"], 10, fields=("body",))
    assert _paths(store, [c for c, _ in store.lexical(["util"], 10, fields=("path",))]) == {"src/util.go"}
    named = store.lexical(["parseheader"], 10, fields=("name",))
    assert _paths(store, [c for c, _ in named]) == {"src/util.go"}
    with pytest.raises(Exception, match="unknown lexical fields"):
        store.lexical(["x"], 10, fields=("nope",))


def test_terms_with_query_syntax_are_matched_literally(store: Store) -> None:
    _sample(store)
    for term in ['"', "a OR b", "body : x", "NEAR(", "*", "(((", "-x"]:
        assert store.lexical([term], 10) == []


def test_filters_apply_inside_lexical_symbol_and_vector_retrieval(store: Store) -> None:
    _sample(store)
    files = store.files()
    only_go = ChunkFilter(file_ids=frozenset({files["src/util.go"].id}))
    only_functions = ChunkFilter(kinds=frozenset({"function"}))
    nothing = ChunkFilter(file_ids=frozenset())
    assert _paths(store, [c for c, _ in store.lexical(["header"], 10, only_go)]) == {"src/util.go"}
    kinds = store.chunk_meta([c for c, _ in store.lexical(["header"], 10, only_functions)])
    assert {m.kind for m in kinds.values()} == {"function"}
    assert store.lexical(["header"], 10, nothing) == []
    # The filter runs inside the query: a limit of 1 still finds the one allowed chunk.
    assert _paths(store, [c for c, _ in store.lexical(["header"], 1, only_go)]) == {"src/util.go"}

    assert store.chunks_by_symbol(["parse_header", "parseHeader"], 10, only_go) == [
        (store.chunks_of_file("src/util.go")[0].id, "parseHeader")
    ]
    assert store.chunks_by_symbol(["HeaderParser"], 10, only_functions) == []
    assert store.chunks_by_symbol(["x"], 10, nothing) == []

    near = store.nearest(_vec(0), 5, only_go)
    assert _paths(store, [c for c, _ in near]) == {"src/util.go"} and len(near) == 2
    near_kind = store.nearest(_vec(0), 1, ChunkFilter(kinds=frozenset({"section"})))
    assert _paths(store, [c for c, _ in near_kind]) == {"docs/guide.md"}
    assert store.nearest(_vec(0), 5, nothing) == []


def test_symbol_lookup_is_case_insensitive_and_finds_module_level_names(store: Store) -> None:
    _write(
        store,
        _update(
            "m.py",
            ("module", "MAX_RETRIES = 3\nbuiltin_str = str", None),
            ("function", "def Fetch(): pass", "Fetch"),
        ),
    )
    found = dict((name, cid) for cid, name in store.chunks_by_symbol(["fetch", "builtin_str"], 10))
    assert set(found) == {"Fetch", "builtin_str"}
    assert store.chunks_by_symbol([], 10) == []


def test_nearest_ranks_by_cosine_through_the_ann_index_and_exact_subsets(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sample(store)
    target = store.chunks_of_file("docs/guide.md")[0].id
    ann = store.nearest(_vec(20), 3)
    assert ann[0][0] == target and ann[0][1] == pytest.approx(1.0, abs=1e-2)
    assert [s for _, s in ann] == sorted((s for _, s in ann), reverse=True)
    every_file = ChunkFilter(file_ids=frozenset(r.id for r in store.files().values()))
    exact = store.nearest(_vec(20), 3, every_file)
    assert [c for c, _ in exact] == [c for c, _ in ann]
    # Past the exact-search size a filtered search widens the ANN search and post-filters.
    monkeypatch.setattr(sqlite_store, "EXACT_VECTOR_LIMIT", 0)
    wide = store.nearest(_vec(20), 3, every_file)
    assert wide[0][0] == target


def test_document_frequencies_count_chunks_per_term(store: Store) -> None:
    _sample(store)
    df = store.doc_frequencies(["header", "parse_header", "absent_term"])
    assert df["parse_header"] == 1 and df["header"] >= 3 and "absent_term" not in df
    assert store.doc_frequencies([]) == {}


# -- identity, meta, skips, runs -----------------------------------------------------------------------
def test_meta_and_identity_round_trip_and_the_key_names_the_index(open_store: OpenStore) -> None:
    store = open_store()
    ident = IndexIdentity("fake-8", DIM, "c1", "t1", "o1")
    assert ident.mismatches(store.meta()) == []  # a fresh index has no identity yet
    store.set_meta({**ident.as_meta(), "root": "/r"})
    assert ident.mismatches(store.meta()) == []
    assert IndexIdentity("other", DIM, "c1", "t1", "o1").mismatches(store.meta()) == ["embedder_id"]
    assert store.meta()["root"] == "/r" and "format_version" in store.meta()
    assert store.dim == DIM
    assert store.key == open_store().key


def test_skips_are_replaced_and_counted_by_reason(store: Store) -> None:
    with store.writer(atomic=False) as w:
        w.set_skips([("a.bin", "binary", ""), ("b.bin", "binary", ""), ("c.log", "too_large", "9 MB")])
    assert store.skip_counts() == {"binary": 2, "too_large": 1}
    with store.writer(atomic=False) as w:
        w.set_skips([("d.min.js", "generated", "")])
    assert store.skip_counts() == {"generated": 1}


def test_runs_record_their_status_stats_and_process(store: Store) -> None:
    assert store.last_run() is None
    run = store.start_run()
    running = store.last_run()
    assert running is not None and running["id"] == run and running["status"] == "running"
    assert isinstance(running["pid"], int) and running["host"]
    store.finish_run(run, "complete", {"files_seen": 3})
    done = store.last_run()
    assert done is not None and done["status"] == "complete" and done["stats"] == {"files_seen": 3}
    assert done["finished_at"] >= done["started_at"]


def test_a_running_run_whose_process_is_gone_reads_as_interrupted(open_store: OpenStore) -> None:
    dead = open_store()
    dead.start_run()
    dead.close()  # closing releases the run lock, as the death of its process would
    assert open_store().last_run()["status"] == INTERRUPTED  # type: ignore[index]


def test_clear_removes_files_chunks_vectors_and_skips_but_keeps_meta(store: Store) -> None:
    _sample(store)
    store.set_meta({"root": "/r"})
    with store.writer(atomic=False) as w:
        w.set_skips([("a.bin", "binary", "")])
    store.clear()
    assert store.counts() == (0, 0) and store.vector_count() == 0 and store.skip_counts() == {}
    assert store.meta()["root"] == "/r"
    assert store.nearest(_vec(0), 3) == []


# -- errors ---------------------------------------------------------------------------------------
def test_a_closed_store_raises_store_error_not_a_driver_error(open_store: OpenStore) -> None:
    store = open_store()
    _sample(store)
    store.close()
    for call in (store.files, store.counts, store.meta, lambda: store.lexical(["header"], 5)):
        with pytest.raises(StoreError):
            call()
    with pytest.raises(StoreError), store.writer(atomic=True) as w:
        w.apply([], ["src/app.py"])


def test_a_broken_database_raises_store_error_from_reads_and_writes(
    open_store: OpenStore, tmp_path: Path
) -> None:
    store = open_store()
    _sample(store)
    if not isinstance(store, SqliteStore):  # pragma: no cover - each backend breaks itself its own way
        pytest.skip("breaks an SQLite file")
    raw = sqlite3.connect(store.db_path)
    raw.execute("DROP TABLE chunks_fts")
    raw.execute("DROP TABLE chunk_names")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="chunks_fts"):
        store.lexical(["header"], 5)
    with pytest.raises(StoreError):
        store.chunks_by_symbol(["parse_header"], 5)
    with pytest.raises(StoreError):
        _write(store, deletes=("src/app.py",))


def test_a_locked_database_raises_store_error(open_store: OpenStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store()
    if not isinstance(store, SqliteStore):  # pragma: no cover
        pytest.skip("locks an SQLite file")
    raw = sqlite3.connect(store.db_path, isolation_level=None)
    raw.execute("BEGIN EXCLUSIVE")
    try:
        store._writer.execute("PRAGMA busy_timeout=0")  # fail at once instead of waiting 30 s
        with pytest.raises(StoreError, match="locked"):
            store.set_meta({"k": "v"})
    finally:
        raw.execute("ROLLBACK")
        raw.close()
