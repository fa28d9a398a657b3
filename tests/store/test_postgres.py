"""The PostgreSQL store beyond the contract: its errors, migrations, many indexes in one database,
filtered nearest neighbours and BM25 scores equal to SQLite's, against a real server."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conexus.config import load_settings
from conexus.errors import ConfigError, IndexIncompatibleError, IndexNotFoundError, StoreError
from conexus.models import Chunk
from conexus.store.base import ChunkFilter, FileUpdate, Store
from conexus.store.location import index_location
from conexus.store.sqlite import SqliteStore
from tests import postgres
from tests.store.test_contract import DIM, _sample, _update, _vec, _write

postgres.require_extra()

import psycopg  # noqa: E402
from pgvector import HalfVector  # noqa: E402
from pgvector.psycopg import register_vector  # noqa: E402

from conexus.store.postgres import PostgresStore, close_pools  # noqa: E402
from conexus.store.postgres import connection as pg_connection  # noqa: E402
from conexus.store.postgres import sql as pg_sql  # noqa: E402
from conexus.store.postgres import store as pg_store  # noqa: E402
from conexus.store.postgres.location import PostgresLocation  # noqa: E402
from conexus.store.postgres.schema import migrate, migrations  # noqa: E402


@pytest.fixture
def opened() -> Iterator[list[Store]]:
    """Stores to close after the test."""
    stores: list[Store] = []
    yield stores
    for s in stores:
        s.close()


def _open(opened: list[Store], url: str, key: str = "idx", dim: int = DIM) -> PostgresStore:
    store = PostgresStore(url, key, dim)
    opened.append(store)
    return store


def _raw(url: str) -> Any:
    """A connection of the test's own, configured as the store's are."""
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET search_path = conexus, public")
    register_vector(conn)
    return conn


# -- errors ---------------------------------------------------------------------------------------
def test_a_broken_database_raises_store_error_from_reads_and_writes(
    postgres_url: str, opened: list[Store]
) -> None:
    store = _open(opened, postgres_url)
    _sample(store)
    with _raw(postgres_url) as raw:
        raw.execute("DROP TABLE postings")
        raw.execute("DROP TABLE chunk_names")
    with pytest.raises(StoreError, match="postings"):
        store.lexical(["header"], 5)
    with pytest.raises(StoreError, match="chunk_names"):
        store.chunks_by_symbol(["parse_header"], 5)
    with pytest.raises(StoreError):
        _write(store, _update("n.py", ("function", "def n(): pass", "n")))


def test_a_locked_table_raises_store_error_instead_of_waiting(
    postgres_url: str, opened: list[Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_connection, "LOCK_TIMEOUT", "50ms")  # fail at once instead of waiting 30 s
    store = _open(opened, postgres_url)
    with _raw(postgres_url) as raw, raw.transaction():
        raw.execute("LOCK TABLE meta IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(StoreError, match="lock timeout"):
            store.set_meta({"k": "v"})


def test_an_unreachable_server_is_a_store_error_naming_the_server_but_not_the_password() -> None:
    url = "postgresql://conexus:s3cret-pw@127.0.0.1:1/nowhere"
    with pytest.raises(StoreError) as caught:
        PostgresStore(url, "idx", DIM)
    message = str(caught.value)
    assert "127.0.0.1:1" in message and "nowhere" in message
    assert "s3cret-pw" not in message


def test_another_dimension_or_a_newer_format_is_refused_with_what_to_do(
    postgres_url: str, opened: list[Store]
) -> None:
    store = _open(opened, postgres_url)
    with pytest.raises(IndexIncompatibleError, match="8-dimensional vectors but 16 are configured"):
        PostgresStore(postgres_url, "idx", 16)
    store.set_meta({"format_version": "99"})
    with pytest.raises(IndexIncompatibleError, match="format 99, newer"):
        PostgresStore(postgres_url, "idx", DIM)
    with pytest.raises(IndexNotFoundError):
        PostgresStore(postgres_url, "absent", DIM, create=False)


# -- migrations -------------------------------------------------------------------------------------
def test_replicas_migrating_one_database_at_once_apply_each_step_once(postgres_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def replica() -> None:
        try:
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                start.wait()
                migrate(conn, "test")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with _raw(postgres_url) as raw:
        versions = [r[0] for r in raw.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [s.version for s in migrations()]


def test_a_database_migrated_by_a_newer_conexus_is_refused(postgres_url: str, opened: list[Store]) -> None:
    _open(opened, postgres_url)
    with _raw(postgres_url) as raw:
        raw.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')")
    close_pools(postgres_url)  # a new process would migrate again
    with pytest.raises(IndexIncompatibleError, match="version 9999, newer than this Conexus"):
        PostgresStore(postgres_url, "idx", DIM)


# -- many indexes in one database -------------------------------------------------------------------
def test_indexes_in_one_database_are_separate_and_deleting_one_leaves_the_others(
    postgres_url: str, opened: list[Store], tmp_path: Path
) -> None:
    one = _open(opened, postgres_url, "one")
    two = _open(opened, postgres_url, "two")
    wide = _open(opened, postgres_url, "wide", dim=16)  # another embedder: its own HNSW index
    _sample(one)
    _write(two, _update("other.py", ("function", "def parse_header(): pass", "parse_header")))
    v16 = np.ones((1, 16), np.float32) / 4
    _write(wide, FileUpdate("w.py", "h", 1, 1, "python", 1, False, [_chunk("w.py")], v16))
    assert set(one.files()) == {"src/app.py", "src/util.go", "docs/guide.md"}
    assert set(two.files()) == {"other.py"} and two.counts() == (1, 1)
    assert _paths_of(two, two.lexical(["parse_header"], 10)) == {"other.py"}
    assert _paths_of(two, two.nearest(_vec(0), 10)) == {"other.py"}
    assert one.doc_frequencies(["parse_header"]) == {"parse_header": 1}
    assert wide.nearest(v16[0], 3)[0][1] == pytest.approx(1.0, abs=1e-3)

    PostgresLocation(postgres_url, tmp_path / "one").delete()
    assert not PostgresLocation(postgres_url, tmp_path / "one").exists()
    assert PostgresLocation(postgres_url, tmp_path / "two").exists()
    assert set(two.files()) == {"other.py"} and two.vector_count() == 1
    with _raw(postgres_url) as raw:  # no content is left that no index lists
        left = raw.execute(
            "SELECT (SELECT count(*) FROM units c WHERE NOT EXISTS "
            "(SELECT 1 FROM files f WHERE f.unit_id = c.id)), "
            "(SELECT count(*) FROM postings p WHERE NOT EXISTS "
            "(SELECT 1 FROM units c WHERE c.id = p.unit_id))"
        ).fetchone()
    assert left == (0, 0)


def _chunk(path: str) -> Chunk:
    return Chunk(path=path, start_line=1, end_line=1, language="python", kind="function", text="x = 1")


def _paths_of(store: Store, hits: list[tuple[int, float]]) -> set[str]:
    return {row.path for row in store.get_chunks([cid for cid, _ in hits]).values()}


# -- nearest neighbours -------------------------------------------------------------------------------
def test_filtered_nearest_neighbours_keep_k_through_the_hnsw_index(
    postgres_url: str, opened: list[Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _open(opened, postgres_url)
    rng = np.random.default_rng(7)
    updates = []
    for f in range(100):
        vecs = rng.normal(size=(10, DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        chunks = [
            Chunk(f"f{f}.py", i * 3 + 1, i * 3 + 2, "python", "function" if i % 2 else "class", f"x{i}")
            for i in range(10)
        ]
        updates.append(FileUpdate(f"f{f}.py", f"h{f}", 1, 1, "python", 30, False, chunks, vecs))
    _write(store, *updates)
    files = store.files()
    some = ChunkFilter(file_ids=frozenset(files[f"f{i}.py"].id for i in range(0, 100, 10)))
    kinds = ChunkFilter(kinds=frozenset({"class"}))
    q = rng.normal(size=DIM).astype(np.float32)
    exact = {
        name: store.nearest(q, 25, w)
        for name, w in (("all", ChunkFilter()), ("some", some), ("kinds", kinds))
    }
    monkeypatch.setattr(pg_store, "EXACT_VECTOR_LIMIT", 0)  # every search through the HNSW index
    for name, w in (("all", ChunkFilter()), ("some", some), ("kinds", kinds)):
        ann = store.nearest(q, 25, w)
        assert len(ann) == 25, name
        assert [s for _, s in ann] == sorted((s for _, s in ann), reverse=True)
        overlap = len({c for c, _ in ann} & {c for c, _ in exact[name]})
        assert overlap >= 23, name  # HNSW recall on 1,000 random 8-d vectors
    assert len(store.nearest(q, 500, some)) == 100  # more asked than allowed: every allowed chunk
    with _raw(postgres_url) as raw, raw.transaction():
        raw.execute("ANALYZE vectors")
        raw.execute("ANALYZE files")  # the tree's restriction is a semi-join on its manifest
        raw.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        # The planner walks the graph when the filter lets many through (a selective one it may
        # answer from the file index instead: exact, and as right).
        params: dict[str, Any] = {"ix": store.index_id, "q": HalfVector(q)}
        plan = raw.execute("EXPLAIN " + pg_sql.nearest_sql(DIM, 25, kinds, params, exact=False), params)
        assert "vectors_hnsw_8" in " ".join(r[0] for r in plan)


# -- lexical scores ---------------------------------------------------------------------------------
def test_bm25_scores_and_order_equal_sqlites_fts5(
    postgres_url: str, opened: list[Store], tmp_path: Path
) -> None:
    lite = SqliteStore(tmp_path / "lite", DIM)
    opened.append(lite)
    pg = _open(opened, postgres_url)
    extra = _update(
        "pkg/headers.py",
        (
            "function",
            "def parse_header_links(value):\n    '''Parse header links.'''\n    return parse(value)",
            "parse_header_links",
        ),
        ("module", "HEADER_LIMIT = 10\nparse = None\n# header header header", None),
        seed=40,
    )
    unrelated = _update(
        "net/fetch.py",
        ("function", "def fetch_url(url):\n    return get(url, timeout=5)", "fetch_url"),
        ("function", "def retry(fn, times):\n    for _ in range(times):\n        fn()", "retry"),
        ("class", "class Session:\n    # Keeps cookies between requests.", "Session"),
        ("module", "TIMEOUT = 5\nDEFAULT_RETRIES = 3", None),
        seed=50,
    )
    for store in (lite, pg):
        _sample(store)
        _write(store, extra, unrelated)
    # Index terms (stemmed: "parse" is "pars", "value" is "valu"), as the search layer passes them.
    queries: list[tuple[list[str], dict[str, Any]]] = [
        (["header"], {}),
        (["header", "pars"], {}),
        (["pars", "header", "valu"], {"require_all": True}),
        (["header"], {"fields": ("name",)}),
        (["pars", "link"], {"fields": ("name", "path")}),
        (["pars header"], {}),  # a phrase
        (["header link", "limit", "timeout"], {}),
        (["pars header link"], {"fields": ("body",)}),
        (["fetch", "fetch"], {}),  # a repeated term counts twice, as in FTS5
        (["retri", "*"], {}),
        (["header", "url"], {"where": "functions"}),
    ]
    for terms, options in queries:
        where = ChunkFilter(kinds=frozenset({"function"})) if options.pop("where", None) else ChunkFilter()
        a = _keyed(lite, lite.lexical(terms, 20, where, **options))
        b = _keyed(pg, pg.lexical(terms, 20, where, **options))
        assert a, (terms, options)
        assert [k for k, _ in b] == [k for k, _ in a], (terms, options)
        assert [s for _, s in sorted(b)] == pytest.approx([s for _, s in sorted(a)], rel=1e-6), (
            terms,
            options,
        )
    assert pg.doc_frequencies(["header", "parse_header_links", "nope"]) == lite.doc_frequencies(
        ["header", "parse_header_links", "nope"]
    )


def _keyed(store: Store, hits: list[tuple[int, float]]) -> list[tuple[tuple[str, int], float]]:
    rows = store.get_chunks([c for c, _ in hits])
    return [((rows[c].path, rows[c].start_line), s) for c, s in hits]


def test_text_postgresql_cannot_hold_is_stored_with_a_replacement(
    postgres_url: str, opened: list[Store]
) -> None:
    store = _open(opened, postgres_url)
    _write(store, _update("nul.txt", ("window", "before\x00after", None), language="text"))
    assert store.chunks_of_file("nul.txt")[0].text == "before\ufffdafter"


# -- selection, masking, backup ---------------------------------------------------------------------
def test_the_store_url_is_masked_in_settings_and_refused_in_conexus_toml(tmp_path: Path) -> None:
    settings = load_settings(None, environ={"CONEXUS_STORE_URL": "postgresql://u:pw@db:5432/conexus"})
    assert settings.redacted()["store_url"] == "postgresql://u:***@db:5432/conexus"
    (tmp_path / "conexus.toml").write_text('store_url = "postgresql://evil/db"\n')
    with pytest.raises(ConfigError, match="unknown setting 'store_url'"):
        load_settings(tmp_path)
    with pytest.raises(ConfigError, match="postgresql:// URL"):
        load_settings(None, environ={"CONEXUS_STORE_URL": "mysql://x"})


def test_a_store_url_without_the_postgres_extra_is_a_config_error_saying_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m.startswith("conexus.store.postgres")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ConfigError, match=r"psycopg is not installed.*conexus\[postgres\]"):
        index_location("postgresql://db/conexus", tmp_path / "idx")


def test_backup_and_restore_of_a_postgresql_backed_root_say_to_use_postgresqls_tools(
    postgres_url: str, make_engine: Any, golden_repo: Path, tmp_path: Path
) -> None:
    from conexus.backup import create_backup

    engine = make_engine(golden_repo, store_url=postgres_url)
    engine.index()
    with pytest.raises(ConfigError, match="pg_dump"):
        create_backup([engine], tmp_path / "backup")
    with pytest.raises(ConfigError, match="restore it with PostgreSQL's own tools"):
        engine.stage_restore(tmp_path, {}, {})
