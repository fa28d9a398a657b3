"""The embedded store: one SQLite file (WAL) plus its HNSW file, holding one tree or many.

Tables (see :mod:`conexus.store.sqlite.schema`): ``meta`` (the database's
self-description) and ``tree_meta`` (each tree's), ``trees``, ``files`` (each
tree's manifest: path, content hash, stamps, pointing at a ``units`` row),
``units`` (one indexed file content, stored once for every tree listing it),
``chunks`` (a content's chunks), ``vectors`` (float16 blobs, the source of truth
for the HNSW file), ``chunk_names``, ``skips`` and ``runs``; ``chunks_fts`` is a
contentless FTS5 table holding the code-aware token strings built by
:mod:`conexus.tokens`. Contentless keeps the file small; deleting from it needs
the original token strings, which :func:`~conexus.store.sqlite.sql.fts_columns`
recomputes deterministically from the stored chunk and its content's path (the
tokenizer version is part of the index format, so it cannot drift).

A :class:`SqliteStore` is opened for one tree: the root's own database holds one
(the tree ``""``), the database of a git repository every worktree of it
(:mod:`conexus.store.location`). Every read and retrieval is scoped to the
tree's manifest; a chunk id names a chunk of one content, which a tree lists at
one path (the path is part of a content's key), so the chunk answers with this
tree's path. Content no manifest lists is removed in the transaction that
unlisted it. BM25's collection statistics (FTS5's row count, average length and
document frequencies) are those of the database: the distinct contents of all
its trees, which for worktrees of one repository are nearly one tree's.

Every store of one database file in a process shares one writer connection, its
lock and the in-memory HNSW index (:class:`_Database`): two trees indexed at once
queue for the writer instead of timing out on SQLite's lock, and the graph is
in memory once. A write by another process is noticed by its generation, and
the HNSW index is reconciled with the ``vectors`` table before it is searched or
saved.

Build-then-run: :mod:`conexus.store.sqlite.sql` builds every query and FTS5
expression and is testable without a database; :class:`SqliteStore` runs them.
Every ``sqlite3.Error`` (and vector-index failure) leaving a public method is a
:class:`~conexus.errors.StoreError`.

An index run holds an exclusive ``flock`` on its tree's lock file beside the
database (``index.lock`` for the tree ``""``) while it runs; a ``running`` run
whose lock is free (or whose process is gone) was killed and reads as
``interrupted``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np

from conexus.errors import IndexIncompatibleError, IndexNotFoundError, StoreError
from conexus.models import Chunk, ImportRef
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
from conexus.store.memo import ChunkMetaMemo
from conexus.store.sqlite import contents, sql
from conexus.store.sqlite.backup import backup_index
from conexus.store.sqlite.integrity import BUSY_TIMEOUT_MS, verify
from conexus.store.sqlite.schema import DATABASE_KEYS, merged_meta, migrate
from conexus.store.vectors import F32, UsearchIndex, VectorIndex, decode_vectors, encode_vector
from conexus.store.wal import use_wal

try:  # POSIX; elsewhere a run's liveness falls back to its pid
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

#: Below this many chunks allowed by a filter, vector search is exact (no ANN recall loss).
EXACT_VECTOR_LIMIT = 50_000
#: How much wider than ``k`` the ANN search reaches when a large filtered subset is post-filtered.
FILTERED_ANN_WIDENING = 10
LOCK_FILE = "index.lock"
#: The tree of a database that holds one root's index only.
DEFAULT_TREE = ""

_DF_CACHE_MIN = 500  # document frequencies at least this high are cached (see doc_frequencies)

_CHUNK_COLS = (
    "c.id, f.id, f.path, f.language, f.hash, f.size, f.mtime_ns, c.start_line, c.end_line, c.kind, "
    "c.symbol, c.parent, c.signature, c.docstring, c.header, c.text, c.hash"
)
_FILE_COLS = "id, path, hash, size, mtime_ns, language, n_lines, n_chunks"
# The manifest entry of this tree listing a chunk's content (at most one: the path is in the key).
_TREE_JOIN = "JOIN files f ON f.unit_id = c.unit_id AND f.tree_id = :tree"
# Rows of chunks by id: the ids first, then each chunk by its key, then this tree's file of it.
# CROSS JOIN fixes that order: left to itself the planner scanned every file of the tree
# (2,066 on numpy + scipy) for each call, 100 ms of a search's candidates.
_BY_IDS = (
    "FROM json_each(:ids) j CROSS JOIN chunks c ON c.id = j.value "
    "CROSS JOIN files f ON f.unit_id = c.unit_id AND f.tree_id = :tree"
)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _translated(fn: Callable[Concatenate[SqliteStore, _P], _R]) -> Callable[Concatenate[SqliteStore, _P], _R]:
    """Turn ``sqlite3.Error`` raised by a store method into ``StoreError`` naming the index."""

    def wrapper(self: SqliteStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreError(f"index {self.db_path}: {fn.__name__} failed: {exc}") from exc

    functools.update_wrapper(wrapper, fn)
    return wrapper


def _connect(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path, timeout=30.0, check_same_thread=False, isolation_level=None)
    use_wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA cache_size=-65536")
    # No memory map: every index page a query touched stayed in the process's RSS (file-backed,
    # 422 MB serving 100K chunks); reads through the bounded page cache peak at 281 MB, no slower.
    conn.execute("PRAGMA mmap_size=0")
    return conn


class _Database:
    """What every store of one database file shares in a process: the writer connection, its lock,
    the atomic block in progress and the HNSW index with the generation it reflects."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.writer = _connect(db_path)
        self.writer.execute("SELECT 1 FROM sqlite_master").fetchall()  # creates a new file now
        #: The file this database is: one deleted and created again (a rebuild) is another database.
        self.inode = os.stat(db_path).st_ino
        self.lock = threading.RLock()
        self.atomic_depth = 0
        self.vectors: VectorIndex | None = None
        #: The committed generation ``vectors`` reflects (-1: unknown, reconcile before use).
        self.vectors_generation = -1
        self.users = 0


_DATABASES: dict[str, _Database] = {}
_DATABASES_LOCK = threading.Lock()


def _attach(db_path: Path) -> _Database:
    with _DATABASES_LOCK:
        key = str(db_path.resolve())
        db = _DATABASES.get(key)
        if db is not None and _inode(db_path) != db.inode:
            db = None  # its file was deleted (and maybe created again): its stores keep the old one
        if db is None:
            db = _DATABASES[key] = _Database(db_path)
        db.users += 1
        return db


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _detach(db: _Database) -> None:
    with _DATABASES_LOCK:
        db.users -= 1
        if db.users > 0:
            return
        for key, value in list(_DATABASES.items()):
            if value is db:
                del _DATABASES[key]
        with contextlib.suppress(sqlite3.Error):
            db.writer.close()


def stored_dim(directory: Path) -> int | None:
    """The vector width recorded in the database of ``directory``, or None (no database or no width)."""
    db_path = directory / "index.sqlite3"
    if not db_path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None, timeout=30.0)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='vector_dim'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return int(row[0]) if row else None


class SqliteStore:
    """One tree of one database on disk. Writes go through the database's one writer connection under
    its lock; each reading thread has a connection of its own."""

    def __init__(self, directory: Path, dim: int, tree: str = DEFAULT_TREE, *, create: bool = True) -> None:
        """Open the tree ``tree`` of the database in ``directory`` (created unless ``create`` is False).

        Raises:
            IndexIncompatibleError: the database is corrupt, of another format, or holds vectors
                of another width.
            IndexNotFoundError: no tree ``tree`` and ``create`` is False.
            StoreError: the database cannot be opened.
        """
        self.directory = directory
        self.db_path = directory / "index.sqlite3"
        self.vec_path = directory / "vectors.usearch"
        self.tree = tree
        self._dim = dim
        self._local = threading.local()
        # Every reader connection with the thread it belongs to (see _connect).
        self._all_conns: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._snapshot: tuple[int, dict[str, FileRow], int] | None = None
        self._meta_memo = ChunkMetaMemo()
        self._scoped_cache: tuple[int, bool] = (-1, True)
        self._df_cache: dict[str, int] = {}
        self._df_cache_generation = -1
        self._conns_lock = threading.Lock()
        self._run_locks: dict[int, int] = {}  # run id -> file descriptor holding the run lock
        self._db: _Database | None = None
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._db = _attach(self.db_path)
            with self._db.lock:
                migrate(self._db.writer, self.db_path)
                verify(self._db.writer, self.db_path)  # damage is refused here, never answered from
                self.tree_id = self._open_tree(create)
        except (IndexIncompatibleError, IndexNotFoundError):
            self.close()
            raise
        except sqlite3.DatabaseError as exc:
            self.close()
            raise IndexIncompatibleError(
                f"index at {self.db_path} is corrupt or not a Conexus index ({exc}); "
                "run `conexus index --rebuild` to recreate it"
            ) from exc
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"cannot open index {self.db_path}: {exc}") from exc
        except OSError as exc:
            self.close()
            raise StoreError(f"cannot open index directory {directory}: {exc}") from exc
        self.lock_path = directory / (LOCK_FILE if tree == DEFAULT_TREE else f"index-{self.tree_id}.lock")
        meta = self.meta()
        stored = meta.get("vector_dim") or meta.get("dim")
        if stored is not None and stored != str(dim):
            # Checked before the vectors load: decoding them at the wrong width cannot work.
            self.close()
            raise IndexIncompatibleError(
                f"index at {self.db_path} holds {stored}-dimensional vectors "
                f"(embedder {meta.get('embedder_id')}) but {dim} are configured; "
                "run `conexus index` to rebuild it, or configure the same embedder"
            )
        try:
            with self._db.lock:
                if "vector_dim" not in meta:
                    self.set_meta({"vector_dim": str(dim)})
                if self._db.vectors is None:
                    self._db.vectors = self._load_vectors()
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"cannot load the vectors of {self.db_path}: {exc}") from exc

    def _open_tree(self, create: bool) -> int:
        conn = self._shared.writer
        row = conn.execute("SELECT id FROM trees WHERE key=?", (self.tree,)).fetchone()
        if row is None:
            if not create:
                raise IndexNotFoundError(f"no tree {self.tree!r} in the index at {self.db_path}")
            conn.execute(
                "INSERT OR IGNORE INTO trees(key, created_at) VALUES (?, ?)", (self.tree, time.time())
            )
            row = conn.execute("SELECT id FROM trees WHERE key=?", (self.tree,)).fetchone()
        return int(row[0])

    @property
    def _shared(self) -> _Database:
        db = self._db
        if db is None:
            raise StoreError(f"index {self.db_path} is closed")
        return db

    @property
    def vectors(self) -> VectorIndex:
        """The database's HNSW index (shared by every tree of it in this process)."""
        vectors = self._shared.vectors
        if vectors is None:  # pragma: no cover - set when the first store of the database opens
            raise StoreError(f"index {self.db_path}: the vectors are not loaded")
        return vectors

    @property
    def key(self) -> str:
        """The database path, and the tree when the database holds several."""
        return str(self.db_path) if self.tree == DEFAULT_TREE else f"{self.db_path}#{self.tree}"

    @property
    def dim(self) -> int:
        return self._dim

    # -- connections -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        """A reader connection for this thread. Those of threads that have ended are closed here:
        every thread that reads gets one, and a server starts threads for as long as it runs (a
        chunker per index job), so keeping them all leaked two descriptors per job."""
        conn = _connect(self.db_path)
        with self._conns_lock:
            live = []
            for owner, old in self._all_conns:
                thread = owner()
                if thread is not None and thread.is_alive():
                    live.append((owner, old))
                else:  # its thread is gone: no one can be using it
                    with contextlib.suppress(sqlite3.Error):
                        old.close()
            live.append((weakref.ref(threading.current_thread()), conn))
            self._all_conns = live
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @property
    def _writer(self) -> sqlite3.Connection:
        return self._shared.writer

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._shared
        with db.lock:
            conn = db.writer
            if db.atomic_depth:
                # Inside an atomic writer: the enclosing transaction commits or rolls back everything.
                yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    @contextmanager
    def writer(self, atomic: bool) -> Iterator[StoreWriter]:
        """The one write path. ``atomic``: every write of the block is one transaction.

        Readers (other connections) keep seeing the last committed state until an
        atomic block ends, so an update of a complete index is all-or-nothing: a
        killed or stopped run leaves the previous index exactly as it was; an
        atomic block also holds the database's write lock throughout (the other
        trees of the database wait for it). A non-atomic block (a first build)
        commits each call, so its batches survive a kill. Leaving the block commits
        (or, after ``abandon()`` or an exception, rolls back an atomic block and
        repairs the in-memory vectors) and saves the HNSW file.
        """
        w = BlockWriter(self)
        if not atomic:
            yield w
            self._translated_save()
            return
        db = self._shared
        with db.lock:
            self._run_sql("BEGIN IMMEDIATE")
            db.atomic_depth += 1
            try:
                yield w
            except BaseException:
                db.atomic_depth -= 1
                self._rollback()
                raise
            db.atomic_depth -= 1
            if w.abandoned:
                self._rollback()
            else:
                self._run_sql("COMMIT")
                self._translated_save()

    def _run_sql(self, statement: str) -> None:
        try:
            self._writer.execute(statement)
        except sqlite3.Error as exc:
            raise StoreError(f"index {self.db_path}: {statement} failed: {exc}") from exc

    def _rollback(self) -> None:
        self._run_sql("ROLLBACK")
        try:
            with self._shared.lock:
                self._repair(self.vectors)
                self._shared.vectors_generation = self.generation()
        except sqlite3.Error as exc:
            raise StoreError(f"index {self.db_path}: repairing the vectors failed: {exc}") from exc

    def _translated_save(self) -> None:
        try:
            self._save_vectors()
        except sqlite3.Error as exc:
            raise StoreError(f"index {self.db_path}: saving the vectors failed: {exc}") from exc

    def close(self) -> None:
        for fd in self._run_locks.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._run_locks.clear()
        with self._conns_lock:
            for _, conn in self._all_conns:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all_conns.clear()
        db, self._db = self._db, None
        if db is not None:
            _detach(db)

    # -- meta ----------------------------------------------------------------------------------
    @_translated
    def meta(self) -> dict[str, str]:
        """The database's meta with this tree's over it."""
        return merged_meta(self._reader(), self.tree_id)

    @_translated
    def set_meta(self, values: Mapping[str, str]) -> None:
        """Set meta keys: the database's own (:data:`~conexus.store.sqlite.schema.DATABASE_KEYS`)
        in ``meta``, every other one for this tree."""
        shared = [(k, v) for k, v in values.items() if k in DATABASE_KEYS]
        mine = [(self.tree_id, k, v) for k, v in values.items() if k not in DATABASE_KEYS]
        with self._tx() as tx:
            tx.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", shared)
            tx.executemany("INSERT OR REPLACE INTO tree_meta(tree_id, key, value) VALUES (?, ?, ?)", mine)

    @_translated
    def generation(self) -> int:
        """A number that changes with every committed write to the database (search-side caches key on it)."""
        row = self._reader().execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def _variant(self) -> str:
        """The digest of this tree's identity: content is shared with trees of the same identity only."""
        return identity_variant(self.meta())

    def _scoped(self) -> bool:
        """Whether queries must be restricted to this tree: the database holds other trees.

        Cached per generation: content of a new tree arrives with a write, which moves it.
        """
        gen = self.generation()
        if self._scoped_cache[0] != gen:
            row = (
                self._reader().execute("SELECT COUNT(*) FROM trees WHERE id != ?", (self.tree_id,)).fetchone()
            )
            self._scoped_cache = (gen, int(row[0]) > 0)
        return self._scoped_cache[1]

    def tree_count(self) -> int:
        """How many trees the database holds (this one included)."""
        try:
            return int(self._reader().execute("SELECT COUNT(*) FROM trees").fetchone()[0])
        except sqlite3.Error as exc:
            raise StoreError(f"index {self.db_path}: counting trees failed: {exc}") from exc

    # -- vectors -------------------------------------------------------------------------------
    def _load_vectors(self) -> UsearchIndex:
        try:
            index = UsearchIndex(self._dim, self.vec_path)
        except StoreError:
            # The HNSW file is derived data: a damaged one is rebuilt from SQLite.
            self.vec_path.unlink(missing_ok=True)
            index = UsearchIndex(self._dim)
        meta = self.meta()
        gen = int(meta.get("generation", "0"))
        if meta.get("vector_generation") != meta.get("generation") or not self.vec_path.exists():
            # Repairs a save missed by a killed process, or a tree dropped without the HNSW file.
            self._repair(index)
            self._save_vectors(index, gen)
        self._shared.vectors_generation = gen
        return index

    def _repair(self, index: VectorIndex) -> None:
        """Make the HNSW keys equal the committed ``vectors`` table."""
        db_keys = {int(r[0]) for r in self._reader().execute("SELECT chunk_id FROM vectors")}
        have = index.keys()
        extra = sorted(have - db_keys)
        missing = sorted(db_keys - have)
        index.remove(extra)
        for start in range(0, len(missing), 4096):
            batch = missing[start : start + 4096]
            index.add(batch, self._get_vectors(batch))

    def _sync_vectors(self) -> None:
        """Bring the in-memory HNSW index up to the committed state when another process (or a tree
        dropped without it) moved the generation. Skipped while this process is inside an atomic
        block, whose uncommitted vectors the index holds on purpose."""
        db = self._shared
        if db.atomic_depth:
            return
        gen = self.generation()
        if gen == db.vectors_generation:
            return
        with db.lock:
            if db.atomic_depth or gen == db.vectors_generation:
                return
            self._repair(self.vectors)
            db.vectors_generation = gen

    def _advance_vectors(self, before: int) -> None:
        """Our own write moved the generation from ``before`` by one: the index follows if it was current."""
        db = self._shared
        if db.vectors_generation == before:
            db.vectors_generation = before + 1

    def _save_vectors(self, index: VectorIndex | None = None, generation: int | None = None) -> None:
        """Persist the HNSW file and record which store generation it reflects."""
        db = self._shared
        with db.lock:
            if index is None:
                index = self.vectors
                self._sync_vectors()
                generation = db.vectors_generation
            gen = str(self.generation() if generation is None else generation)
            index.save(self.vec_path)
            self.set_meta({"vector_generation": gen})

    def _get_vectors(self, chunk_ids: Sequence[int]) -> F32:
        """Vectors of the given chunks, in order (zeros for a chunk without one)."""
        if not chunk_ids:
            return np.zeros((0, self._dim), dtype=np.float32)
        rows = dict(
            self._reader()
            .execute(
                "SELECT chunk_id, vec FROM vectors WHERE chunk_id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(chunk_ids)),),
            )
            .fetchall()
        )
        zero = np.zeros(self._dim, dtype="<f2").tobytes()
        return decode_vectors([rows.get(i, zero) for i in chunk_ids], self._dim)

    def vector_count(self) -> int:
        """Vectors of this tree's chunks (each distinct chunk of the database is in the HNSW file once)."""
        if not self._scoped():
            return len(self.vectors)
        try:
            row = (
                self._reader()
                .execute(
                    "SELECT COUNT(*) FROM files f JOIN chunks c ON c.unit_id = f.unit_id "
                    "JOIN vectors v ON v.chunk_id = c.id WHERE f.tree_id = ?",
                    (self.tree_id,),
                )
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise StoreError(f"index {self.db_path}: vector_count failed: {exc}") from exc
        return int(row[0])

    # -- files -----------------------------------------------------------------------------------
    @_translated
    def snapshot(self) -> tuple[dict[str, FileRow], int]:
        """Every file row and the chunk count, cached until the next write.

        Searches need both on every query; reading 100K rows each time was a measurable
        share of query latency at scale.
        """
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
        rows = self._reader().execute(f"SELECT {_FILE_COLS} FROM files WHERE tree_id=?", (self.tree_id,))
        return {r[1]: FileRow(*r) for r in rows}

    @_translated
    def file(self, path: str) -> FileRow | None:
        r = (
            self._reader()
            .execute(f"SELECT {_FILE_COLS} FROM files WHERE tree_id=? AND path=?", (self.tree_id, path))
            .fetchone()
        )
        return FileRow(*r) if r else None

    @_translated
    def has_contents(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which ``(path, content hash)`` the database holds indexed under this tree's identity."""
        if not keys:
            return set()
        rows = self._reader().execute(
            "SELECT c.path, c.hash FROM json_each(:keys) j JOIN units c "
            "ON c.path = json_extract(j.value, '$[0]') AND c.hash = json_extract(j.value, '$[1]') "
            "AND c.variant = :variant",
            {"keys": json.dumps([list(k) for k in keys]), "variant": self._variant()},
        )
        return {(str(p), str(h)) for p, h in rows}

    # -- writes (through writer()) ----------------------------------------------------------------
    @_translated
    def _touch(self, stamps: Iterable[tuple[str, int, int]]) -> None:
        """Record a new (size, mtime) for files whose content hash did not change."""
        with self._tx() as tx:
            tx.executemany(
                "UPDATE files SET size=?, mtime_ns=? WHERE tree_id=? AND path=?",
                [(s, m, self.tree_id, p) for p, s, m in stamps],
            )

    def _unlist(self, tx: sqlite3.Connection, path: str) -> int | None:
        """Remove this tree's manifest entry of ``path``; the content it listed (to collect), or None."""
        row = tx.execute(
            "DELETE FROM files WHERE tree_id=? AND path=? RETURNING unit_id", (self.tree_id, path)
        ).fetchone()
        return int(row[0]) if row else None

    def _list(
        self, tx: sqlite3.Connection, entry: FileUpdate | FileLink, unit_id: int, n_chunks: int, now: float
    ) -> None:
        tx.execute(
            "INSERT INTO files(tree_id, path, hash, size, mtime_ns, language, n_lines, n_chunks, "
            "invalid_utf8, indexed_at, unit_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.tree_id,
                entry.path,
                entry.hash,
                entry.size,
                entry.mtime_ns,
                entry.language,
                entry.n_lines,
                n_chunks,
                int(entry.invalid_utf8),
                now,
                unit_id,
            ),
        )

    def _find_unit(
        self, tx: sqlite3.Connection, path: str, digest: str, variant: str
    ) -> tuple[int, int] | None:
        row = tx.execute(
            "SELECT id, n_chunks FROM units WHERE hash=? AND path=? AND variant=?", (digest, path, variant)
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def _insert_unit(
        self,
        tx: sqlite3.Connection,
        up: FileUpdate,
        variant: str,
        added_ids: list[int],
        added_vecs: list[F32],
    ) -> int:
        """Store one file content's chunks (text, FTS rows, names, vectors) once; its content id."""
        cur = tx.execute(
            "INSERT INTO units(hash, path, variant, n_chunks) VALUES (?, ?, ?, ?)",
            (up.hash, up.path, variant, len(up.chunks)),
        )
        unit_id = int(cur.lastrowid or 0)
        for i, chunk in enumerate(up.chunks):
            c = tx.execute(
                "INSERT INTO chunks(unit_id, start_line, end_line, kind, symbol, parent, signature, "
                "docstring, header, text, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    unit_id,
                    chunk.start_line,
                    chunk.end_line,
                    chunk.kind,
                    chunk.symbol,
                    chunk.parent,
                    chunk.signature,
                    chunk.docstring,
                    chunk.header,
                    chunk.text,
                    chunk.hash(),
                ),
            )
            cid = int(c.lastrowid or 0)
            tx.execute(
                "INSERT INTO chunks_fts(rowid, name, path, body) VALUES (?, ?, ?, ?)",
                (cid, *sql.fts_columns(up.path, chunk)),
            )
            tx.execute(
                "INSERT INTO vectors(chunk_id, vec) VALUES (?, ?)", (cid, encode_vector(up.vectors[i]))
            )
            names = ([chunk.symbol] if chunk.symbol else []) + sql.defined_names(chunk)
            if names:
                tx.executemany(
                    "INSERT INTO chunk_names(name, chunk_id) VALUES (?, ?)", [(n, cid) for n in names]
                )
            added_ids.append(cid)
            added_vecs.append(up.vectors[i])
        return unit_id

    def _collect(self, tx: sqlite3.Connection, candidates: Iterable[int]) -> list[int]:
        """Remove the contents among ``candidates`` that no manifest lists any more; their chunk ids."""
        ids = sorted(set(candidates))
        if not ids:
            return []
        gone = tx.execute(sql.unreferenced_sql(), {"ids": json.dumps(ids)}).fetchall()
        removed: list[int] = []
        for unit_id, path in gone:
            rows = tx.execute(
                "SELECT id, start_line, end_line, kind, symbol, parent, signature, docstring, header, text "
                "FROM chunks WHERE unit_id=?",
                (unit_id,),
            ).fetchall()
            fts_deletes = []
            for r in rows:
                chunk = Chunk(
                    path=path,
                    start_line=r[1],
                    end_line=r[2],
                    language="",
                    kind=r[3],
                    text=r[9],
                    symbol=r[4],
                    parent=r[5],
                    signature=r[6],
                    docstring=r[7],
                    header=r[8],
                )
                fts_deletes.append((r[0], *sql.fts_columns(path, chunk)))
            tx.executemany(
                "INSERT INTO chunks_fts(chunks_fts, rowid, name, path, body) VALUES ('delete', ?, ?, ?, ?)",
                fts_deletes,
            )
            tx.execute(
                "DELETE FROM vectors WHERE chunk_id IN (SELECT id FROM chunks WHERE unit_id=?)",
                (unit_id,),
            )
            tx.execute(
                "DELETE FROM chunk_names WHERE chunk_id IN (SELECT id FROM chunks WHERE unit_id=?)",
                (unit_id,),
            )
            tx.execute("DELETE FROM chunks WHERE unit_id=?", (unit_id,))
            tx.execute("DELETE FROM units WHERE id=?", (unit_id,))
            removed += [int(r[0]) for r in rows]
        return removed

    def _bump(self, tx: sqlite3.Connection) -> int:
        """Move the generation on by one inside ``tx``; the generation before."""
        row = tx.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation' RETURNING value"
        ).fetchone()
        return int(row[0]) - 1

    @_translated
    def _apply(self, updates: Sequence[FileUpdate], deletes: Sequence[str]) -> None:
        """Replace this tree's entries of updated files and remove deleted ones, in one transaction.

        A content the database holds already (another tree's, or this one's at another
        moment) is listed, not stored again; what no manifest lists any more is removed.
        The HNSW index is updated after the commit; its file is saved when the writer block ends.
        """
        added_ids: list[int] = []
        added_vecs: list[F32] = []
        now = time.time()
        variant = self._variant()
        with self._tx() as tx:
            candidates: list[int] = []
            for path in deletes:
                old = self._unlist(tx, path)
                if old is not None:
                    candidates.append(old)
            for up in updates:
                old = self._unlist(tx, up.path)
                if old is not None:
                    candidates.append(old)
                found = self._find_unit(tx, up.path, up.hash, variant)
                if found is None:
                    found = (self._insert_unit(tx, up, variant, added_ids, added_vecs), len(up.chunks))
                self._list(tx, up, found[0], found[1], now)
            removed = self._collect(tx, candidates)
            before = self._bump(tx)
        self.vectors.remove(removed)
        if added_ids:
            self.vectors.add(added_ids, np.vstack(added_vecs).astype(np.float32))
        self._advance_vectors(before)

    @_translated
    def _link(self, links: Sequence[FileLink]) -> list[str]:
        """List files whose content the database holds; the paths whose content is not there."""
        missing: list[str] = []
        now = time.time()
        variant = self._variant()
        with self._tx() as tx:
            candidates: list[int] = []
            for link in links:
                found = self._find_unit(tx, link.path, link.hash, variant)
                if found is None:
                    missing.append(link.path)
                    continue
                old = self._unlist(tx, link.path)
                if old is not None:
                    candidates.append(old)
                self._list(tx, link, found[0], found[1], now)
            removed = self._collect(tx, candidates)
            before = self._bump(tx)
        self.vectors.remove(removed)
        self._advance_vectors(before)
        return missing

    @_translated
    def _set_skips(self, skips: Sequence[tuple[str, str, str]]) -> None:
        with self._tx() as tx:
            tx.execute("DELETE FROM skips WHERE tree_id=?", (self.tree_id,))
            tx.executemany(
                "INSERT OR REPLACE INTO skips(tree_id, path, reason, detail) VALUES (?, ?, ?, ?)",
                [(self.tree_id, *s) for s in skips],
            )

    @_translated
    def clear(self) -> None:
        """Remove this tree's files, chunks and vectors (content other trees list stays); keep the meta."""
        with self._tx() as tx:
            alone = not tx.execute("SELECT 1 FROM trees WHERE id != ? LIMIT 1", (self.tree_id,)).fetchone()
            if alone:
                # A contentless FTS5 table refuses DELETE; "delete-all" is its way to empty itself.
                tx.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('delete-all')")
                tx.execute("DELETE FROM vectors")
                tx.execute("DELETE FROM chunk_names")
                tx.execute("DELETE FROM files")
                tx.execute("DELETE FROM chunks")
                tx.execute("DELETE FROM units")
                contents.clear(tx)
                removed = sorted(self.vectors.keys())
            else:
                # The texts and imports other trees' files share stay; the next pruning run
                # removes those no file holds any more (contents.prune).
                rows = tx.execute(
                    "DELETE FROM files WHERE tree_id=? RETURNING unit_id", (self.tree_id,)
                ).fetchall()
                removed = self._collect(tx, [int(r[0]) for r in rows])
            tx.execute("DELETE FROM skips WHERE tree_id=?", (self.tree_id,))
            before = self._bump(tx)
        self.vectors.remove(removed)
        self._advance_vectors(before)
        self._save_vectors()

    @_translated
    def drop_tree(self) -> int:
        """Remove this tree entirely (manifest, skips, meta, runs; content only it listed), in one
        transaction; the number of trees left in the database. The store is closed after."""
        self.clear()
        with self._tx() as tx:
            tx.execute("DELETE FROM runs WHERE tree_id=?", (self.tree_id,))
            tx.execute("DELETE FROM tree_meta WHERE tree_id=?", (self.tree_id,))
            tx.execute("DELETE FROM trees WHERE id=?", (self.tree_id,))
            left = int(tx.execute("SELECT COUNT(*) FROM trees").fetchone()[0])
        self.close()
        return left

    def backup(self, dest: Path) -> StoreBackup:
        """A consistent online copy of this index in ``dest`` (see :mod:`conexus.store.sqlite.backup`).

        The copy is of the whole database: every tree it holds.
        """
        return backup_index(self.directory, dest)

    # -- skips and runs --------------------------------------------------------------------------
    @_translated
    def skip_counts(self) -> dict[str, int]:
        return dict(
            self._reader()
            .execute("SELECT reason, COUNT(*) FROM skips WHERE tree_id=? GROUP BY reason", (self.tree_id,))
            .fetchall()
        )

    @_translated
    def skipped(self, reason: str, limit: int = 50) -> list[tuple[str, str]]:
        sql = "SELECT path, detail FROM skips WHERE tree_id = ? AND reason = ? ORDER BY path LIMIT ?"
        return [
            (str(p), str(d)) for p, d in self._reader().execute(sql, (self.tree_id, reason, limit)).fetchall()
        ]

    @_translated
    def start_run(self) -> int:
        """Record a run of this process and hold the run lock until :meth:`finish_run`."""
        fd = self._take_run_lock()
        try:
            with self._tx() as tx:
                cur = tx.execute(
                    "INSERT INTO runs(started_at, status, pid, host, tree_id) VALUES (?, 'running', ?, ?, ?)",
                    (time.time(), os.getpid(), socket.gethostname(), self.tree_id),
                )
                run_id = int(cur.lastrowid or 0)
        except BaseException:
            if fd is not None:
                os.close(fd)
            raise
        if fd is not None:
            self._run_locks[run_id] = fd
        return run_id

    @_translated
    def finish_run(self, run_id: int, status: str, stats: Mapping[str, Any]) -> None:
        try:
            with self._tx() as tx:
                tx.execute(
                    "UPDATE runs SET finished_at=?, status=?, stats=? WHERE id=?",
                    (time.time(), status, json.dumps(dict(stats)), run_id),
                )
        finally:
            fd = self._run_locks.pop(run_id, None)
            if fd is not None:
                os.close(fd)  # closing the descriptor releases the flock

    @_translated
    def last_run(self) -> dict[str, Any] | None:
        r = (
            self._reader()
            .execute(
                "SELECT id, started_at, finished_at, status, stats, pid, host "
                "FROM runs WHERE tree_id = ? ORDER BY id DESC LIMIT 1",
                (self.tree_id,),
            )
            .fetchone()
        )
        if not r:
            return None
        status = r[3]
        if status == "running" and not self._run_alive(r[5], r[6]):
            status = INTERRUPTED
        return {
            "id": r[0],
            "started_at": r[1],
            "finished_at": r[2],
            "status": status,
            "stats": json.loads(r[4]),
            "pid": r[5],
            "host": r[6],
        }

    def _take_run_lock(self) -> int | None:
        """An open descriptor holding the exclusive run lock, or None when it cannot be had."""
        if fcntl is None:
            return None
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            logger.warning("cannot create the run lock %s: %s", self.lock_path, exc)
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            # Another process is indexing this root: both runs go on (SQLite serialises their
            # writes), and the pid recorded with this run still tells whether it is alive.
            os.close(fd)
            logger.warning("another process holds %s; indexing anyway", self.lock_path)
            return None
        return fd

    def _run_alive(self, pid: int | None, host: str | None) -> bool:
        """Whether the process of a ``running`` run still runs: its lock is held and, on this
        host, its pid exists. A run row without a pid (older Conexus) counts as alive."""
        if pid is None:
            return True
        if host == socket.gethostname():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                pass  # exists, owned by someone else
        if fcntl is None or not self.lock_path.exists():
            return fcntl is None
        try:
            fd = os.open(self.lock_path, os.O_RDWR)
        except OSError:
            return True
        try:
            # flock locks belong to open file descriptions: this probe conflicts with a run
            # lock held by any process, this one included.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False

    # -- reads -------------------------------------------------------------------------------------
    def _params(self, **extra: Any) -> dict[str, Any]:
        return {"tree": self.tree_id, **extra}

    @_translated
    def counts(self) -> tuple[int, int]:
        row = (
            self._reader()
            .execute(
                "SELECT COUNT(*), COALESCE(SUM(n_chunks), 0) FROM files WHERE tree_id=?", (self.tree_id,)
            )
            .fetchone()
        )
        return int(row[0]), int(row[1])

    @_translated
    def languages(self) -> dict[str, int]:
        rows = self._reader().execute(
            "SELECT language, COUNT(*) FROM files WHERE tree_id=? GROUP BY language ORDER BY 2 DESC",
            (self.tree_id,),
        )
        return {r[0]: int(r[1]) for r in rows}

    @_translated
    def kinds(self) -> dict[str, int]:
        rows = self._reader().execute(
            "SELECT c.kind, COUNT(*) FROM files f JOIN chunks c ON c.unit_id = f.unit_id "
            "WHERE f.tree_id=? GROUP BY c.kind ORDER BY 2 DESC, 1",
            (self.tree_id,),
        )
        return {r[0]: int(r[1]) for r in rows}

    @_translated
    def doc_frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """Number of chunks containing each term (FTS5 vocabulary): of the database, every tree's
        distinct content (the collection statistics BM25 scores with, see the module docstring).

        FTS5 counts a term's documents by walking its whole posting list, which
        for ``self`` or ``def`` at 100K chunks costs milliseconds per query. The
        counts of common terms (at least ``_DF_CACHE_MIN`` chunks) are therefore
        remembered until the next write; rare terms are cheap to count.
        """
        if not terms:
            return {}
        gen = self.generation()
        if gen != self._df_cache_generation:
            self._df_cache = {}
            self._df_cache_generation = gen
        cache = self._df_cache
        out = {t: cache[t] for t in terms if t in cache}
        todo = [t for t in terms if t not in cache]
        if todo:
            rows = self._reader().execute(
                "SELECT term, doc FROM fts_vocab WHERE term IN (SELECT value FROM json_each(?))",
                (json.dumps(todo),),
            )
            for term, doc in rows:
                out[term] = int(doc)
                if doc >= _DF_CACHE_MIN:
                    cache[term] = int(doc)
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
        """BM25 candidates ``(chunk_id, score)`` of plain index terms in this tree, higher score better."""
        match = sql.match_expression(terms, require_all=require_all, fields=fields)
        if not match or where.matches_nothing:
            return []
        params = self._params(match=match)
        rows = self._reader().execute(sql.lexical_sql(limit, where, params, scoped=self._scoped()), params)
        return [(int(r[0]), -float(r[1])) for r in rows.fetchall()]

    @_translated
    def nearest(self, query: F32, k: int, where: ChunkFilter = NO_FILTER) -> list[tuple[int, float]]:
        """The ``k`` chunks of this tree nearest ``query`` by cosine, best first.

        Unfiltered, in a database of one tree: the HNSW index. Otherwise exact over
        the allowed chunks while they are at most ``EXACT_VECTOR_LIMIT`` (no ANN recall
        loss on a small subset), else a wider HNSW search, post-filtered: wider by
        ``FILTERED_ANN_WIDENING`` for a filter, by twice the database's share of other
        trees' vectors for a tree, and exact when the wide search still leaves fewer
        than ``k``.
        """
        if where.matches_nothing or k <= 0:
            return []
        scoped = self._scoped()
        self._sync_vectors()
        if where.is_empty and not scoped:
            return self.vectors.search(query, k)
        chunk_ids = self._chunk_ids(where)
        if not chunk_ids:
            return []
        if len(chunk_ids) > EXACT_VECTOR_LIMIT:
            allowed = set(chunk_ids)
            share = max(1.0, len(self.vectors) / len(allowed))
            widen = max(FILTERED_ANN_WIDENING if not where.is_empty else 1, math.ceil(2 * share))
            wide = self.vectors.search(query, k * widen)
            hits = [(cid, score) for cid, score in wide if cid in allowed][:k]
            if len(hits) >= min(k, len(allowed)):
                return hits
        mat = self._get_vectors(chunk_ids)
        sims = mat @ query.astype(np.float32)
        top = np.argsort(-sims, kind="stable")[:k]
        return [(chunk_ids[i], float(sims[i])) for i in top]

    def _chunk_ids(self, where: ChunkFilter) -> list[int]:
        params = self._params()
        return [int(r[0]) for r in self._reader().execute(sql.chunk_ids_sql(where, params), params)]

    @_translated
    def chunks_by_symbol(
        self, names: Sequence[str], limit: int, where: ChunkFilter = NO_FILTER
    ) -> list[tuple[int, str]]:
        """Chunks that define one of ``names`` (case-insensitive): as their symbol, or as a
        top-level name bound in a module chunk. Returns ``(chunk_id, name)``."""
        if not names or where.matches_nothing:
            return []
        params = self._params(names=json.dumps(list(names)))
        return [
            (int(r[0]), str(r[1]))
            for r in self._reader().execute(
                sql.symbol_sql(limit, where, params, scoped=self._scoped()), params
            )
        ]

    @_translated
    def chunk_ids_for_files(self, file_ids: Sequence[int]) -> list[int]:
        return self._chunk_ids(ChunkFilter(file_ids=frozenset(file_ids)))

    @_translated
    def first_chunks_of_files(self, file_ids: Sequence[int], where: ChunkFilter = NO_FILTER) -> list[int]:
        """One representative chunk id per file (the first by id) among those ``where`` allows."""
        if where.matches_nothing:
            return []
        params = self._params(files=json.dumps(list(file_ids)))
        rows = self._reader().execute(sql.first_chunks_sql(where, params), params)
        return [int(r[0]) for r in rows if r[0] is not None]

    @_translated
    def chunk_meta(self, ids: Sequence[int]) -> dict[int, ChunkMeta]:
        """Path, language and kind of each chunk (no text): cheap enough for every candidate.

        Chunks this tree does not list are left out. Remembered until the next write
        (:mod:`conexus.store.memo`).
        """
        if not ids:
            return {}
        return self._meta_memo.lookup(self.generation(), ids, self._read_chunk_meta)

    def _read_chunk_meta(self, ids: list[int]) -> dict[int, ChunkMeta]:
        rows = self._reader().execute(
            f"SELECT c.id, f.path, f.language, c.kind {_BY_IDS}",
            self._params(ids=json.dumps(ids)),
        )
        return {int(r[0]): ChunkMeta(r[1], r[2], r[3]) for r in rows}

    @_translated
    def get_chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        """The chunks ``ids`` with this tree's file of each (chunks it does not list are left out)."""
        if not ids:
            return {}
        rows = self._reader().execute(
            f"SELECT {_CHUNK_COLS} {_BY_IDS}",
            self._params(ids=json.dumps(list(ids))),
        )
        return {int(r[0]): ChunkRow(*r) for r in rows}

    @_translated
    def chunks_of_file(self, path: str) -> list[ChunkRow]:
        rows = self._reader().execute(
            f"SELECT {_CHUNK_COLS} FROM files f JOIN chunks c ON c.unit_id = f.unit_id "
            "WHERE f.tree_id = :tree AND f.path = :path ORDER BY c.start_line",
            self._params(path=path),
        )
        return [ChunkRow(*r) for r in rows]

    # -- contents (conexus.store.sqlite.contents) ---------------------------------------------------
    @_translated
    def _put_contents(self, stored: Sequence[FileContent]) -> None:
        if stored:
            with self._tx() as tx:
                contents.put(tx, stored)

    @_translated
    def _prune_contents(self) -> None:
        with self._tx() as tx:
            contents.prune(tx)

    @_translated
    def file_text(self, path: str) -> str | None:
        """The text of an indexed file as it was indexed; None when not indexed or not stored."""
        return contents.file_text(self._reader(), self.tree_id, path)

    @_translated
    def file_imports(self, paths: Sequence[str]) -> dict[str, tuple[ImportRef, ...]]:
        """The imports of each indexed file among ``paths`` whose content is stored."""
        return contents.file_imports(self._reader(), self.tree_id, paths)

    @_translated
    def importing_files(self, terms: Sequence[str]) -> list[str]:
        """Indexed files whose imports spell every one of ``terms``, by path."""
        return contents.importing_files(self._reader(), self.tree_id, terms)

    @_translated
    def unstored_files(self) -> list[str]:
        """Indexed files whose content is not stored, by path."""
        return contents.unstored_files(self._reader(), self.tree_id)
