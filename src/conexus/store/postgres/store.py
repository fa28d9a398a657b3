"""The PostgreSQL store: many indexes in one database (pgvector for vectors), shared by every replica.

Tables (``migrations/``, in the ``conexus`` schema): ``indexes`` (one row per
index, keyed by the index's key — its folder name in the SQLite layout — with
BM25's collection statistics), ``meta``, ``files`` (the index's manifest),
``skips`` and ``runs``, each carrying the index id; and ``units`` (one file
content indexed under one identity, stored once for every index listing it)
with its ``chunks``, ``chunk_names``, ``postings`` (the lexical index: per term
and chunk the counts per field and the positions) and ``vectors`` (``halfvec``,
an HNSW index per dimension). Every read and retrieval is restricted to the
contents the index's manifest lists; content no manifest lists is deleted by
the transaction that unlisted it (``FOR UPDATE SKIP LOCKED``: content another
transaction is listing at that moment stays).

Build-then-run: :mod:`conexus.store.postgres.sql` builds every query and the rows
a write inserts; :class:`PostgresStore` runs them on the process's pool for the
URL (:mod:`conexus.store.postgres.connection`). Every ``psycopg`` error leaving
a public method is a :class:`~conexus.errors.StoreError` naming the index and
the server, never the password.

Writes go through :meth:`PostgresStore.writer`: an atomic block is one
transaction on one connection, invisible to readers (who use other connections
of the pool) until it commits; otherwise each call commits on its own. Rows are
written with ``COPY``.

An index run holds a session advisory lock (on a connection of its own) while
it runs: a ``running`` run whose lock no session holds was killed (its
connection died with it) and reads as ``interrupted``, whichever machine ran it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np
import psycopg
from pgvector import HalfVector

from conexus.errors import ConfigError, IndexIncompatibleError, IndexNotFoundError, StoreError
from conexus.models import ImportRef
from conexus.store.base import (
    INTERRUPTED,
    NO_FILTER,
    BlockWriter,
    ChunkFilter,
    ChunkMeta,
    ChunkRow,
    FileContent,
    FileLink,
    FileRow,
    FileUpdate,
    StoreBackup,
    StoreWriter,
    identity_variant,
)
from conexus.store.lexicon import query_phrases, symbol_names
from conexus.store.memo import ChunkMetaMemo
from conexus.store.postgres import contents, sql
from conexus.store.postgres.connection import Database, database, error_text, store_error
from conexus.store.postgres.schema import FORMAT_VERSION, HNSW_MAX_DIM, ensure_vector_index, schema_version
from conexus.store.vectors import F32
from conexus.tokens import TOKENIZER_VERSION

logger = logging.getLogger(__name__)

#: Below this many vectors allowed by a search (the index, or its filtered part), the search is
#: exact: no recall lost, and on a few thousand rows no slower than walking the graph.
EXACT_VECTOR_LIMIT = 10_000
#: Most index tuples an iterative HNSW scan may visit (pgvector's hnsw.max_scan_tuples) before a
#: filter so selective is searched exactly instead.
MAX_SCAN_TUPLES = 100_000
#: Advisory lock space of index runs (the run id is the second key): "cxrn".
RUN_LOCK_SPACE = 0x6378726E

_DF_CACHE_MIN = 500  # document frequencies at least this high are cached (as the SQLite store does)

_CHUNK_COLS = (
    "c.id, f.id, f.path, f.language, f.hash, f.size, f.mtime_ns, c.start_line, c.end_line, c.kind, "
    "c.symbol, c.parent, c.signature, c.docstring, c.header, c.text, c.hash"
)
_FILE_COLS = "id, path, hash, size, mtime_ns, language, n_lines, n_chunks"

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _translated(
    fn: Callable[Concatenate[PostgresStore, _P], _R],
) -> Callable[Concatenate[PostgresStore, _P], _R]:
    """Refuse calls on a closed store; turn ``psycopg.Error`` into ``StoreError`` naming index and server."""

    def wrapper(self: PostgresStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        self._check_open()
        try:
            return fn(self, *args, **kwargs)
        except psycopg.Error as exc:
            message = f"index {self.key}: {fn.__name__} failed: {error_text(exc, self.url)}"
            raise store_error(message, exc) from exc

    functools.update_wrapper(wrapper, fn)
    return wrapper


class PostgresStore:
    """One index in a PostgreSQL database. Thread-safe: reads take pool connections, writes one at a time."""

    def __init__(self, url: str, key: str, dim: int, *, create: bool = True) -> None:
        """Open the index ``key`` of the database at ``url`` (creating it unless ``create`` is False).

        Raises:
            StoreError: the server cannot be reached or fails.
            IndexNotFoundError: no index ``key`` and ``create`` is False.
            IndexIncompatibleError: the index holds vectors of another dimension, or is of a
                newer format; or the database's schema is newer than this Conexus.
        """
        self.url = url
        self.index_key = key
        self._dim = dim
        self._db: Database = database(url)
        self.server = self._db.server
        self._key = f"{self.server}#{key}"
        self._closed = False
        self._write_lock = threading.RLock()
        self._atomic: psycopg.Connection[Any] | None = None
        self._run_conns: dict[int, psycopg.Connection[Any]] = {}
        self._snapshot: tuple[int, dict[str, FileRow], int] | None = None
        self._meta_memo = ChunkMetaMemo()
        self._df_cache: dict[str, int] = {}
        self._df_cache_generation = -1
        try:
            self.index_id = self._open_index(create)
        except psycopg.Error as exc:
            raise store_error(f"cannot open index {self._key}: {error_text(exc, url)}", exc) from exc

    def _open_index(self, create: bool) -> int:
        with self._db.connection() as conn, conn.transaction():
            row = conn.execute("SELECT id, dim FROM indexes WHERE key = %s", (self.index_key,)).fetchone()
            if row is None:
                if not create:
                    raise IndexNotFoundError(f"no index {self.index_key} on {self.server}")
                row = (
                    conn.execute(
                        "INSERT INTO indexes (key, dim) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING "
                        "RETURNING id, dim",
                        (self.index_key, self._dim),
                    ).fetchone()
                    or conn.execute(
                        "SELECT id, dim FROM indexes WHERE key = %s", (self.index_key,)
                    ).fetchone()
                )
                assert row is not None
                defaults = {
                    "format_version": str(FORMAT_VERSION),
                    "schema_version": str(schema_version()),
                    "tokenizer_version": TOKENIZER_VERSION,
                    "generation": "0",
                }
                conn.cursor().executemany(
                    "INSERT INTO meta (index_id, key, value) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    [(row[0], k, v) for k, v in defaults.items()],
                )
            index_id, stored_dim = int(row[0]), int(row[1])
            fmt = conn.execute(
                "SELECT value FROM meta WHERE index_id = %s AND key = 'format_version'", (index_id,)
            ).fetchone()
        if fmt and int(fmt[0]) > FORMAT_VERSION:
            raise IndexIncompatibleError(
                f"index {self._key} has format {fmt[0]}, newer than this Conexus understands "
                f"({FORMAT_VERSION}); upgrade Conexus or rebuild the index"
            )
        if fmt and int(fmt[0]) < FORMAT_VERSION:
            raise IndexIncompatibleError(
                f"index {self._key} has format {fmt[0]}, older than this Conexus ({FORMAT_VERSION}, "
                "content shared by indexes); run `conexus index` to rebuild it"
            )
        if stored_dim != self._dim:
            raise IndexIncompatibleError(
                f"index {self._key} holds {stored_dim}-dimensional vectors but {self._dim} are "
                "configured; run `conexus index` to rebuild it, or configure the same embedder"
            )
        with self._db.connection() as conn:
            ensure_vector_index(conn, self._dim)
        return index_id

    @property
    def key(self) -> str:
        """The server and the index key (no password): one index per key and database."""
        return self._key

    @property
    def dim(self) -> int:
        return self._dim

    # -- connections -------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"index {self._key} is closed")

    @contextmanager
    def _read(self) -> Iterator[psycopg.Connection[Any]]:
        """A pool connection in autocommit: each statement sees the last committed state."""
        with self._db.connection() as conn:
            yield conn

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Any]]:
        """Where writes go: the atomic block's transaction, else a transaction of their own."""
        with self._write_lock:
            if self._atomic is not None:
                # Inside an atomic writer: the enclosing transaction commits or rolls back everything.
                yield self._atomic
                return
            with self._db.connection() as conn, conn.transaction():
                yield conn

    @contextmanager
    def writer(self, atomic: bool) -> Iterator[StoreWriter]:
        """The one write path. ``atomic``: every write of the block is one transaction.

        Readers (other connections, in this process or any other) keep seeing the last
        committed state until an atomic block ends, so an update of a complete index is
        all-or-nothing; a killed process's transaction is rolled back by the server. A
        non-atomic block (a first build) commits each call, so its batches survive a kill.
        """
        self._check_open()
        w = BlockWriter(self)
        if not atomic:
            yield w
            return
        with self._write_lock:
            try:
                with self._db.connection() as conn, conn.transaction():
                    self._atomic = conn
                    try:
                        yield w
                        if w.abandoned:
                            raise psycopg.Rollback()  # leaves the transaction block, rolled back
                    finally:
                        self._atomic = None
            except (
                psycopg.Error
            ) as exc:  # taking the connection, or the commit (the block's own are StoreError)
                message = f"index {self._key}: writing failed: {error_text(exc, self.url)}"
                raise store_error(message, exc) from exc

    def close(self) -> None:
        """Release this store's run locks; the pool stays, shared by every store on the URL."""
        self._closed = True
        for run_id in list(self._run_conns):
            self._release_run(run_id)

    # -- meta ----------------------------------------------------------------------------------
    @_translated
    def meta(self) -> dict[str, str]:
        with self._read() as conn:
            rows = conn.execute("SELECT key, value FROM meta WHERE index_id = %s", (self.index_id,))
            return {str(k): str(v) for k, v in rows}

    @_translated
    def set_meta(self, values: Mapping[str, str]) -> None:
        with self._tx() as conn:
            conn.cursor().executemany(
                "INSERT INTO meta (index_id, key, value) VALUES (%s, %s, %s) "
                "ON CONFLICT (index_id, key) DO UPDATE SET value = EXCLUDED.value",
                [(self.index_id, k, clean_value(v)) for k, v in values.items()],
            )

    @_translated
    def generation(self) -> int:
        """A number that changes with every committed write (search-side caches key on it)."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT value FROM meta WHERE index_id = %s AND key = 'generation'", (self.index_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    # -- files -----------------------------------------------------------------------------------
    @_translated
    def snapshot(self) -> tuple[dict[str, FileRow], int]:
        """Every file row and the chunk count, cached until the next write."""
        gen = self.generation()
        cached = self._snapshot
        if cached is not None and cached[0] == gen:
            return cached[1], cached[2]
        files = self.files()
        _, n_chunks = self.counts()
        self._snapshot = (gen, files, n_chunks)
        return files, n_chunks

    @_translated
    def files(self) -> dict[str, FileRow]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_FILE_COLS} FROM files WHERE index_id = %s ORDER BY id", (self.index_id,)
            ).fetchall()
        return {r[1]: FileRow(*r) for r in rows}

    @_translated
    def file(self, path: str) -> FileRow | None:
        with self._read() as conn:
            r = conn.execute(
                f"SELECT {_FILE_COLS} FROM files WHERE index_id = %s AND path = %s", (self.index_id, path)
            ).fetchone()
        return FileRow(*r) if r else None

    # -- writes (through writer()) ----------------------------------------------------------------
    @_translated
    def _touch(self, stamps: Iterable[tuple[str, int, int]]) -> None:
        """Record a new (size, mtime) for files whose content hash did not change."""
        rows = [(s, m, self.index_id, p) for p, s, m in stamps]
        if not rows:
            return
        with self._tx() as conn:
            conn.cursor().executemany(
                "UPDATE files SET size = %s, mtime_ns = %s WHERE index_id = %s AND path = %s", rows
            )

    @_translated
    def has_contents(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which ``(path, content hash)`` the database holds indexed under this index's identity."""
        if not keys:
            return set()
        with self._read() as conn:
            rows = conn.execute(
                "SELECT c.path, c.hash FROM units c JOIN unnest(%s::text[], %s::text[]) AS k(path, hash) "
                "ON c.path = k.path AND c.hash = k.hash WHERE c.variant = %s",
                ([sql.clean_text(p) for p, _ in keys], [h for _, h in keys], self._variant()),
            ).fetchall()
        return {(str(p), str(h)) for p, h in rows}

    def _variant(self) -> str:
        return identity_variant(self.meta())

    @_translated
    def _apply(self, updates: Sequence[FileUpdate], deletes: Sequence[str]) -> None:
        """Replace this index's entries of updated files and remove deleted ones, in one transaction.

        A content the database holds already (another index's) is listed, not stored again;
        what no manifest lists any more is deleted.
        """
        latest = {u.path: u for u in updates}  # a path given twice: its last update wins
        ups = list(latest.values())
        paths = list(dict.fromkeys([*deletes, *latest]))
        variant = self._variant()
        with self._tx() as conn:
            cur = conn.cursor()
            candidates = self._unlist(cur, paths)
            contents = self._units_for(cur, ups, variant)
            self._list(cur, [(up, *contents[up.path]) for up in ups])
            self._collect(cur, candidates)
            self._restat(cur)
            self._bump_generation(cur)

    @_translated
    def _link(self, links: Sequence[FileLink]) -> list[str]:
        """List files whose content the database holds; the paths whose content is not there."""
        latest = {link.path: link for link in links}
        variant = self._variant()
        with self._tx() as conn:
            cur = conn.cursor()
            found = self._find_units(cur, [(p, link.hash) for p, link in latest.items()], variant)
            present = [link for p, link in latest.items() if p in found]
            candidates = self._unlist(cur, [link.path for link in present])
            self._list(cur, [(link, *found[link.path]) for link in present])
            self._collect(cur, candidates)
            self._restat(cur)
            self._bump_generation(cur)
        return [p for p in latest if p not in found]

    def _unlist(self, cur: psycopg.Cursor[Any], paths: Sequence[str]) -> list[int]:
        """Remove this index's entries of ``paths``; the contents they listed (to collect)."""
        if not paths:
            return []
        rows = cur.execute(
            "DELETE FROM files WHERE index_id = %s AND path = ANY(%s::text[]) RETURNING unit_id",
            (self.index_id, [sql.clean_text(p) for p in paths]),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def _find_units(
        self, cur: psycopg.Cursor[Any], keys: Sequence[tuple[str, str]], variant: str
    ) -> dict[str, tuple[int, int, int]]:
        """``path -> (content id, chunks, tokens)`` of the contents held for ``(path, hash)`` keys, each
        locked (``FOR SHARE``) so no transaction collects it before this one commits."""
        if not keys:
            return {}
        rows = cur.execute(
            "SELECT c.path, c.id, c.n_chunks, c.n_tokens FROM units c "
            "JOIN unnest(%s::text[], %s::text[]) AS k(path, hash) ON c.path = k.path AND c.hash = k.hash "
            "WHERE c.variant = %s FOR SHARE OF c",
            ([sql.clean_text(p) for p, _ in keys], [h for _, h in keys], variant),
        ).fetchall()
        clean = {sql.clean_text(p): p for p, _ in keys}
        return {clean[str(r[0])]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}

    def _units_for(
        self, cur: psycopg.Cursor[Any], updates: Sequence[FileUpdate], variant: str
    ) -> dict[str, tuple[int, int, int]]:
        """The content of each update: the one held already, else stored now."""
        found = self._find_units(cur, [(u.path, u.hash) for u in updates], variant)
        for up in updates:
            if up.path in found:
                continue
            terms = [sql.chunk_terms(up.path, chunk) for chunk in up.chunks]
            n_tokens = sum(t.length for t in terms)
            row = cur.execute(
                "INSERT INTO units (hash, path, variant, n_chunks, n_tokens) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (hash, path, variant) DO NOTHING RETURNING id",
                (up.hash, sql.clean_text(up.path), variant, len(up.chunks), n_tokens),
            ).fetchone()
            if row is None:  # stored by another transaction meanwhile (it committed): list that one
                again = self._find_units(cur, [(up.path, up.hash)], variant)
                if up.path in again:
                    found[up.path] = again[up.path]
                    continue
                raise StoreError(f"index {self._key}: the content of {up.path} vanished while being stored")
            unit_id = int(row[0])
            self._insert(cur, unit_id, up, terms)
            found[up.path] = (unit_id, len(up.chunks), n_tokens)
        return found

    def _list(
        self, cur: psycopg.Cursor[Any], entries: Sequence[tuple[FileUpdate | FileLink, int, int, int]]
    ) -> None:
        """COPY this index's manifest entries ``(file, content id, chunks, tokens)``."""
        now = time.time()
        _copy(
            cur,
            "files (index_id, path, hash, size, mtime_ns, language, n_lines, n_chunks, n_tokens, "
            "invalid_utf8, indexed_at, unit_id)",
            [
                (
                    self.index_id,
                    sql.clean_text(e.path),
                    e.hash,
                    e.size,
                    e.mtime_ns,
                    e.language,
                    e.n_lines,
                    n_chunks,
                    n_tokens,
                    e.invalid_utf8,
                    now,
                    unit_id,
                )
                for e, unit_id, n_chunks, n_tokens in entries
            ],
        )

    def _collect(self, cur: psycopg.Cursor[Any], candidates: Sequence[int]) -> None:
        """Delete the contents among ``candidates`` no manifest lists, table by table."""
        if not candidates:
            return
        rows = cur.execute(sql.unreferenced_sql(), {"ids": sorted(set(candidates))}).fetchall()
        delete_units(cur, [int(r[0]) for r in rows])

    def _restat(self, cur: psycopg.Cursor[Any]) -> None:
        """BM25's collection statistics of this index: its entries' chunks and tokens."""
        cur.execute(
            "UPDATE indexes SET (n_chunks, n_tokens) = (SELECT coalesce(sum(n_chunks), 0), "
            "coalesce(sum(n_tokens), 0) FROM files WHERE index_id = %(ix)s) WHERE id = %(ix)s",
            {"ix": self.index_id},
        )

    def _bump_generation(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute(
            "UPDATE meta SET value = (value::bigint + 1)::text WHERE index_id = %s AND key = 'generation'",
            (self.index_id,),
        )

    def _insert(
        self, cur: psycopg.Cursor[Any], unit_id: int, up: FileUpdate, terms: Sequence[sql.ChunkTerms]
    ) -> None:
        """COPY the chunks, names, postings and vectors of a new content."""
        chunk_ids = self._new_ids(cur, "chunks", len(up.chunks))
        chunks: list[tuple[Any, ...]] = []
        names: list[tuple[Any, ...]] = []
        postings: list[tuple[Any, ...]] = []
        vectors: list[tuple[Any, ...]] = []
        for i, (cid, chunk, t) in enumerate(zip(chunk_ids, up.chunks, terms, strict=True)):
            chunks.append(
                (
                    cid,
                    unit_id,
                    chunk.start_line,
                    chunk.end_line,
                    chunk.kind,
                    sql.clean_optional(chunk.symbol),
                    sql.clean_optional(chunk.parent),
                    sql.clean_optional(chunk.signature),
                    sql.clean_optional(chunk.docstring),
                    sql.clean_text(chunk.header),
                    sql.clean_text(chunk.text),
                    chunk.hash(),
                    t.length,
                )
            )
            names.extend((cid, unit_id, sql.clean_text(n)) for n in symbol_names(chunk))
            postings.extend(
                (term, cid, unit_id, tf_n, tf_p, tf_b, t.length, positions)
                for term, (tf_n, tf_p, tf_b, positions) in t.terms.items()
            )
            vectors.append((cid, unit_id, chunk.kind, self._dim, HalfVector(up.vectors[i])))
        _copy(
            cur,
            "chunks (id, unit_id, start_line, end_line, kind, symbol, parent, signature, "
            "docstring, header, text, hash, n_tokens)",
            chunks,
        )
        _copy(cur, "chunk_names (chunk_id, unit_id, name)", names)
        _copy(cur, "postings (term, chunk_id, unit_id, tf_name, tf_path, tf_body, dl, positions)", postings)
        _copy(
            cur,
            "vectors (chunk_id, unit_id, kind, dim, embedding)",
            vectors,
            types=["int8", "int8", "text", "int4", "halfvec"],
        )

    @staticmethod
    def _new_ids(cur: psycopg.Cursor[Any], table: str, n: int) -> list[int]:
        if n == 0:
            return []
        rows = cur.execute(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)", (n,)
        ).fetchall()
        return [int(r[0]) for r in rows]

    @_translated
    def _set_skips(self, skips: Sequence[tuple[str, str, str]]) -> None:
        latest = {path: (reason, detail) for path, reason, detail in skips}
        with self._tx() as conn:
            cur = conn.cursor()
            cur.execute("DELETE FROM skips WHERE index_id = %s", (self.index_id,))
            _copy(
                cur,
                "skips (index_id, path, reason, detail)",
                [(self.index_id, clean_value(p), r, clean_value(d)) for p, (r, d) in latest.items()],
            )

    @_translated
    def clear(self) -> None:
        """Remove this index's files and skips, and the content no other index lists; keep the meta."""
        with self._tx() as conn:
            cur = conn.cursor()
            delete_rows(cur, self.index_id)
            contents.prune(cur)
            cur.execute("UPDATE indexes SET n_chunks = 0, n_tokens = 0 WHERE id = %s", (self.index_id,))
            self._bump_generation(cur)

    def backup(self, dest: Path) -> StoreBackup:
        """Refused: a PostgreSQL database is backed up with its own tools.

        Raises:
            ConfigError: always (see docs/operations.md, "Backup and restore").
        """
        raise ConfigError(backup_refusal(self.server))

    # -- skips and runs --------------------------------------------------------------------------
    @_translated
    def skip_counts(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT reason, count(*) FROM skips WHERE index_id = %s GROUP BY reason ORDER BY reason",
                (self.index_id,),
            ).fetchall()
        return {str(r): int(n) for r, n in rows}

    @_translated
    def skipped(self, reason: str, limit: int = 50) -> list[tuple[str, str]]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT path, detail FROM skips WHERE index_id = %s AND reason = %s ORDER BY path LIMIT %s",
                (self.index_id, reason, limit),
            ).fetchall()
        return [(str(p), str(d)) for p, d in rows]

    @_translated
    def start_run(self) -> int:
        """Record a run of this process; its advisory lock is held until :meth:`finish_run`.

        The row and the lock are taken in one transaction on a connection of the
        run's own, so no reader sees the run without its lock.
        """
        conn = self._db.connect()
        try:
            with conn.transaction():
                row = conn.execute(
                    "INSERT INTO runs (index_id, started_at, status, pid, host) "
                    "VALUES (%s, %s, 'running', %s, %s) RETURNING id",
                    (self.index_id, time.time(), os.getpid(), socket.gethostname()),
                ).fetchone()
                assert row is not None
                run_id = int(row[0])
                conn.execute("SELECT pg_advisory_lock(%s, %s)", (RUN_LOCK_SPACE, _lock_key(run_id)))
        except BaseException:
            conn.close()
            raise
        self._run_conns[run_id] = conn
        return run_id

    @_translated
    def finish_run(self, run_id: int, status: str, stats: Mapping[str, Any]) -> None:
        try:
            with self._tx() as conn:
                conn.execute(
                    "UPDATE runs SET finished_at = %s, status = %s, stats = %s "
                    "WHERE id = %s AND index_id = %s",
                    (time.time(), status, json.dumps(dict(stats)), run_id, self.index_id),
                )
        finally:
            self._release_run(run_id)

    def _release_run(self, run_id: int) -> None:
        """Release a run's lock and close its connection.

        Unlocked explicitly first: a closed session's locks are released by the server a
        moment later, and a reader right after must already see the run as ended.
        """
        conn = self._run_conns.pop(run_id, None)
        if conn is None:
            return
        try:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (RUN_LOCK_SPACE, _lock_key(run_id)))
        except psycopg.Error as exc:  # the session is gone already, and its lock with it
            logger.debug("releasing the lock of run %s: %s", run_id, exc)
        finally:
            conn.close()

    @_translated
    def last_run(self) -> dict[str, Any] | None:
        with self._read() as conn:
            r = conn.execute(
                "SELECT id, started_at, finished_at, status, stats, pid, host FROM runs "
                "WHERE index_id = %s ORDER BY id DESC LIMIT 1",
                (self.index_id,),
            ).fetchone()
            if not r:
                return None
            status = str(r[3])
            if status == "running" and not self._run_alive(conn, int(r[0]), r[5], r[6]):
                status = INTERRUPTED
        return {
            "id": int(r[0]),
            "started_at": r[1],
            "finished_at": r[2],
            "status": status,
            "stats": json.loads(r[4]),
            "pid": r[5],
            "host": r[6],
        }

    def _run_alive(
        self, conn: psycopg.Connection[Any], run_id: int, pid: int | None, host: str | None
    ) -> bool:
        """Whether the process of a ``running`` run still runs: on this host its pid exists, and
        some session of the database holds the run's lock (a standby cannot see the primary's
        locks: there a run counts as alive)."""
        if pid is None:
            return True
        if host == socket.gethostname():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                pass  # exists, owned by someone else
        if self._db.read_only:
            return True
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 2)",
            (RUN_LOCK_SPACE, _lock_key(run_id)),
        ).fetchone()
        return bool(row and row[0])

    # -- reads -------------------------------------------------------------------------------------
    @_translated
    def counts(self) -> tuple[int, int]:
        with self._read() as conn:
            row = conn.execute(
                "SELECT count(*), coalesce(sum(n_chunks), 0) FROM files WHERE index_id = %(ix)s",
                {"ix": self.index_id},
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    @_translated
    def languages(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT language, count(*) FROM files WHERE index_id = %s GROUP BY language "
                "ORDER BY 2 DESC, 1",
                (self.index_id,),
            ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    @_translated
    def kinds(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT c.kind, count(*) FROM files f JOIN chunks c ON c.unit_id = f.unit_id "
                "WHERE f.index_id = %s GROUP BY c.kind ORDER BY 2 DESC, 1",
                (self.index_id,),
            ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    @_translated
    def vector_count(self) -> int:
        with self._read() as conn:
            row = conn.execute(
                "SELECT count(*) FROM files f JOIN vectors v ON v.unit_id = f.unit_id WHERE f.index_id = %s",
                (self.index_id,),
            ).fetchone()
        return int(row[0]) if row else 0

    @_translated
    def doc_frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """Number of chunks containing each term, common ones cached until the next write."""
        if not terms:
            return {}
        gen = self.generation()
        if gen != self._df_cache_generation:
            self._df_cache = {}
            self._df_cache_generation = gen
        cache = self._df_cache
        out = {t: cache[t] for t in terms if t in cache}
        todo = [t for t in dict.fromkeys(terms) if t not in cache]
        if todo:
            with self._read() as conn:
                rows = conn.execute(sql.doc_frequency_sql(), {"ix": self.index_id, "terms": todo}).fetchall()
            for term, doc in rows:
                out[str(term)] = int(doc)
                if doc >= _DF_CACHE_MIN:
                    cache[str(term)] = int(doc)
        return out

    @_translated
    def lexical(
        self,
        terms: Sequence[str],
        limit: int,
        where: ChunkFilter = NO_FILTER,
        *,
        require_all: bool = False,
        fields: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        """BM25 candidates ``(chunk_id, score)`` of plain index terms, higher score better."""
        params: dict[str, Any] = {"ix": self.index_id}
        query = sql.lexical_sql(
            query_phrases(terms), limit, where, params, require_all=require_all, fields=fields
        )
        if query is None:
            return []
        with self._read() as conn:
            rows = conn.execute(query, params).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    @_translated
    def nearest(self, query: F32, k: int, where: ChunkFilter = NO_FILTER) -> list[tuple[int, float]]:
        """The ``k`` chunks nearest ``query`` by cosine, best first; ``k`` of them whenever that many
        are allowed.

        The filter is part of the query. A search allowed at most ``EXACT_VECTOR_LIMIT``
        vectors, or so small a share of the dimension's vectors that the HNSW scan would
        visit more than ``MAX_SCAN_TUPLES`` to find ``k``, is exact. Otherwise the HNSW
        index is scanned iteratively (pgvector's ``hnsw.iterative_scan = relaxed_order``:
        the scan goes on until ``k`` rows pass the filter) and re-ordered exactly; should
        it still come back short, the search is repeated exactly.
        """
        if k <= 0 or where.matches_nothing:
            return []
        q = HalfVector(np.asarray(query, dtype=np.float32))
        with self._read() as conn, conn.transaction():  # SET LOCAL below lasts for this transaction
            params: dict[str, Any] = {"ix": self.index_id}
            if where.is_empty:
                row = conn.execute("SELECT n_chunks FROM indexes WHERE id = %s", (self.index_id,)).fetchone()
            else:
                row = conn.execute(sql.allowed_vectors_sql(where, params), params).fetchone()
            allowed = int(row[0]) if row else 0
            if allowed == 0:
                return []
            want = min(k, allowed)
            # Every distinct chunk of the database (of any width: the share is never overestimated).
            total = conn.execute("SELECT coalesce(sum(n_chunks), 0) FROM units").fetchone()
            share = allowed / max(int(total[0]) if total else allowed, allowed)
            exact = (
                allowed <= EXACT_VECTOR_LIMIT or self._dim > HNSW_MAX_DIM or want / share > MAX_SCAN_TUPLES
            )
            rows: list[tuple[Any, ...]] = []
            if not exact:
                conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
                conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(min(1000, max(100, k))),))
                conn.execute("SELECT set_config('hnsw.max_scan_tuples', %s, true)", (str(MAX_SCAN_TUPLES),))
                params = {"ix": self.index_id, "q": q}
                rows = conn.execute(
                    sql.nearest_sql(self._dim, k, where, params, exact=False), params
                ).fetchall()
            if len(rows) < want:
                params = {"ix": self.index_id, "q": q}
                rows = conn.execute(
                    sql.nearest_sql(self._dim, k, where, params, exact=True), params
                ).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    @_translated
    def chunks_by_symbol(
        self, names: Sequence[str], limit: int, where: ChunkFilter = NO_FILTER
    ) -> list[tuple[int, str]]:
        """Chunks that define one of ``names`` (case-insensitive): as their symbol, or as a
        top-level name bound in a module chunk. Returns ``(chunk_id, name)``."""
        if not names or where.matches_nothing:
            return []
        params: dict[str, Any] = {"ix": self.index_id, "names": [n.lower() for n in names]}
        with self._read() as conn:
            rows = conn.execute(sql.symbol_sql(limit, where, params), params).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    @_translated
    def chunk_ids_for_files(self, file_ids: Sequence[int]) -> list[int]:
        where = ChunkFilter(file_ids=frozenset(file_ids))
        if where.matches_nothing:
            return []
        params: dict[str, Any] = {"ix": self.index_id}
        with self._read() as conn:
            return [int(r[0]) for r in conn.execute(sql.chunk_ids_sql(where, params), params)]

    @_translated
    def first_chunks_of_files(self, file_ids: Sequence[int], where: ChunkFilter = NO_FILTER) -> list[int]:
        """One representative chunk id per file (the first by id) among those ``where`` allows."""
        if where.matches_nothing or not file_ids:
            return []
        params: dict[str, Any] = {"ix": self.index_id, "files": list(file_ids)}
        with self._read() as conn:
            rows = conn.execute(sql.first_chunks_sql(where, params), params).fetchall()
        return [int(r[0]) for r in rows if r[0] is not None]

    @_translated
    def chunk_meta(self, ids: Sequence[int]) -> dict[int, ChunkMeta]:
        """Path, language and kind of each chunk (no text): cheap enough for every candidate.

        Remembered until the next write (:mod:`conexus.store.memo`).
        """
        if not ids:
            return {}
        return self._meta_memo.lookup(self.generation(), ids, self._read_chunk_meta)

    def _read_chunk_meta(self, ids: list[int]) -> dict[int, ChunkMeta]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT c.id, f.path, f.language, c.kind FROM chunks c "
                "JOIN files f ON f.unit_id = c.unit_id AND f.index_id = %s "
                "WHERE c.id = ANY(%s::bigint[])",
                (self.index_id, ids),
            ).fetchall()
        return {int(r[0]): ChunkMeta(r[1], r[2], r[3]) for r in rows}

    @_translated
    def get_chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_CHUNK_COLS} FROM chunks c "
                "JOIN files f ON f.unit_id = c.unit_id AND f.index_id = %s "
                "WHERE c.id = ANY(%s::bigint[])",
                (self.index_id, list(ids)),
            ).fetchall()
        return {int(r[0]): ChunkRow(*r) for r in rows}

    @_translated
    def chunks_of_file(self, path: str) -> list[ChunkRow]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_CHUNK_COLS} FROM files f JOIN chunks c ON c.unit_id = f.unit_id "
                "WHERE f.index_id = %s AND f.path = %s ORDER BY c.start_line, c.id",
                (self.index_id, path),
            ).fetchall()
        return [ChunkRow(*r) for r in rows]

    # -- contents (conexus.store.postgres.contents) -------------------------------------------------
    @_translated
    def _put_contents(self, stored: Sequence[FileContent]) -> None:
        if stored:
            with self._tx() as conn:
                contents.put(conn.cursor(), stored)

    @_translated
    def _prune_contents(self) -> None:
        with self._tx() as conn:
            if not contents.prune(conn.cursor()):
                logger.info("another index is writing contents; orphans are pruned by a later run")

    @_translated
    def file_text(self, path: str) -> str | None:
        """The text of an indexed file as it was indexed; None when not indexed or not stored."""
        with self._read() as conn:
            return contents.file_text(conn, self.index_id, path)

    @_translated
    def file_imports(self, paths: Sequence[str]) -> dict[str, tuple[ImportRef, ...]]:
        """The imports of each indexed file among ``paths`` whose content is stored."""
        with self._read() as conn:
            return contents.file_imports(conn, self.index_id, paths)

    @_translated
    def importing_files(self, terms: Sequence[str]) -> list[str]:
        """Indexed files whose imports spell every one of ``terms``, by path."""
        with self._read() as conn:
            return contents.importing_files(conn, self.index_id, terms)

    @_translated
    def unstored_files(self) -> list[str]:
        """Indexed files whose content is not stored, by path."""
        with self._read() as conn:
            return contents.unstored_files(conn, self.index_id)


def clean_value(text: str) -> str:
    """A string PostgreSQL's ``text`` can hold (see :func:`conexus.store.postgres.sql.clean_text`)."""
    return sql.clean_text(text)


def _lock_key(run_id: int) -> int:
    """The second key (an int4) of a run's advisory lock."""
    return run_id % (1 << 31)


def _copy(
    cur: psycopg.Cursor[Any], target: str, rows: Sequence[tuple[Any, ...]], types: Sequence[str] | None = None
) -> None:
    """``COPY target FROM STDIN`` of ``rows`` (binary when the column ``types`` are given)."""
    if not rows:
        return
    statement = f"COPY {target} FROM STDIN" + (" (FORMAT BINARY)" if types else "")
    with cur.copy(statement) as copy:
        if types:
            copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


def delete_rows(cur: psycopg.Cursor[Any], index_id: int) -> None:
    """Delete every file entry and skip of an index, and the content no other index lists (its
    meta and runs stay)."""
    rows = cur.execute("DELETE FROM files WHERE index_id = %s RETURNING unit_id", (index_id,)).fetchall()
    cur.execute("DELETE FROM skips WHERE index_id = %s", (index_id,))
    if rows:
        gone = cur.execute(sql.unreferenced_sql(), {"ids": sorted({int(r[0]) for r in rows})}).fetchall()
        delete_units(cur, [int(r[0]) for r in gone])


def delete_units(cur: psycopg.Cursor[Any], unit_ids: Sequence[int]) -> None:
    """Delete contents (locked by the caller) with their rows, table by table, largest first: deleting
    the contents alone would cascade row by row."""
    if not unit_ids:
        return
    ids = list(unit_ids)
    for table in ("postings", "vectors", "chunk_names", "chunks"):
        cur.execute(f"DELETE FROM {table} WHERE unit_id = ANY(%s::bigint[])", (ids,))
    cur.execute("DELETE FROM units WHERE id = ANY(%s::bigint[])", (ids,))


def backup_refusal(server: str) -> str:
    """Why ``conexus backup`` does not copy a PostgreSQL-backed index, and what to use instead."""
    return (
        f"this root's index lives in PostgreSQL ({server}): back it up with PostgreSQL's own tools "
        "(pg_dump of the conexus schema, your provider's snapshots, point-in-time recovery); "
        "`conexus backup` and `restore` copy SQLite indexes only (docs/operations.md, Backup and restore)"
    )
