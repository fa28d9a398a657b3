"""The embedded store: one SQLite file (WAL) per indexed root, plus its HNSW file.

Tables (see :mod:`conexus.store.sqlite.schema`): ``meta`` (the self-description),
``files``, ``chunks``, ``vectors`` (float16 blobs, the source of truth for the
HNSW file), ``chunk_names``, ``skips`` and ``runs``; ``chunks_fts`` is a
contentless FTS5 table holding the code-aware token strings built by
:mod:`conexus.tokens`. Contentless keeps the file small; deleting from it needs
the original token strings, which :func:`~conexus.store.sqlite.sql.fts_columns`
recomputes deterministically from the stored chunk (the tokenizer version is
part of the index format, so it cannot drift).

Build-then-run: :mod:`conexus.store.sqlite.sql` builds every query and FTS5
expression and is testable without a database; :class:`SqliteStore` runs them.
Every ``sqlite3.Error`` (and vector-index failure) leaving a public method is a
:class:`~conexus.errors.StoreError`.

An index run holds an exclusive ``flock`` on ``index.lock`` beside the database
while it runs; a ``running`` run whose lock is free (or whose process is gone)
was killed and reads as ``interrupted``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np

from conexus.errors import IndexIncompatibleError, StoreError
from conexus.models import Chunk
from conexus.store.base import (
    INTERRUPTED,
    NO_FILTER,
    BlockWriter,
    ChunkFilter,
    ChunkMeta,
    ChunkRow,
    FileRow,
    FileUpdate,
    StoreBackup,
    StoreWriter,
)
from conexus.store.sqlite import sql
from conexus.store.sqlite.backup import backup_index
from conexus.store.sqlite.integrity import BUSY_TIMEOUT_MS, verify
from conexus.store.sqlite.schema import migrate
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

_DF_CACHE_MIN = 500  # document frequencies at least this high are cached (see doc_frequencies)

_CHUNK_COLS = (
    "c.id, c.file_id, f.path, f.language, f.hash, f.size, f.mtime_ns, c.start_line, c.end_line, c.kind, "
    "c.symbol, c.parent, c.signature, c.docstring, c.header, c.text, c.hash"
)
_FILE_COLS = "id, path, hash, size, mtime_ns, language, n_lines, n_chunks"

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


class SqliteStore:
    """One index on disk. Writes go through one connection under a lock; each reading thread has its own."""

    def __init__(self, directory: Path, dim: int) -> None:
        self.directory = directory
        self.db_path = directory / "index.sqlite3"
        self.vec_path = directory / "vectors.usearch"
        self.lock_path = directory / LOCK_FILE
        self._dim = dim
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._all_conns: list[sqlite3.Connection] = []
        self._snapshot: tuple[int, dict[str, FileRow], int] | None = None
        self._df_cache: dict[str, int] = {}
        self._df_cache_generation = -1
        self._atomic_depth = 0
        self._conns_lock = threading.Lock()
        self._run_locks: dict[int, int] = {}  # run id -> file descriptor holding the run lock
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._writer = self._connect()
            migrate(self._writer, self.db_path)
            verify(self._writer, self.db_path)  # damage is refused here, never answered from
        except IndexIncompatibleError:
            self.close()
            raise
        except sqlite3.DatabaseError as exc:
            raise IndexIncompatibleError(
                f"index at {self.db_path} is corrupt or not a Conexus index ({exc}); "
                "run `conexus index --rebuild` to recreate it"
            ) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open index {self.db_path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot open index directory {directory}: {exc}") from exc
        meta = self.meta()
        stored_dim = meta.get("dim")
        if stored_dim is not None and stored_dim != str(dim):
            # Checked before the vectors load: decoding them at the wrong width cannot work.
            self.close()
            raise IndexIncompatibleError(
                f"index at {self.db_path} holds {stored_dim}-dimensional vectors "
                f"(embedder {meta.get('embedder_id')}) but {dim} are configured; "
                "run `conexus index` to rebuild it, or configure the same embedder"
            )
        try:
            self._vectors_generation = self.generation()
            self.vectors: VectorIndex = self._load_vectors()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot load the vectors of {self.db_path}: {exc}") from exc

    @property
    def key(self) -> str:
        """The database path: one index per file."""
        return str(self.db_path)

    @property
    def dim(self) -> int:
        return self._dim

    # -- connections -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=30.0, check_same_thread=False, isolation_level=None)
        use_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA cache_size=-65536")
        # No memory map: every index page a query touched stayed in the process's RSS (file-backed,
        # 422 MB serving 100K chunks); reads through the bounded page cache peak at 281 MB, no slower.
        conn.execute("PRAGMA mmap_size=0")
        with self._conns_lock:
            self._all_conns.append(conn)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            conn = self._writer
            if self._atomic_depth:
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
        atomic block also holds the write lock throughout. A non-atomic block
        (a first build) commits each call, so its batches survive a kill. Leaving
        the block commits (or, after ``abandon()`` or an exception, rolls back an
        atomic block and repairs the in-memory vectors) and saves the HNSW file.
        """
        w = BlockWriter(self)
        if not atomic:
            yield w
            self._translated_save()
            return
        with self._write_lock:
            self._run_sql("BEGIN IMMEDIATE")
            self._atomic_depth += 1
            try:
                yield w
            except BaseException:
                self._atomic_depth -= 1
                self._rollback()
                raise
            self._atomic_depth -= 1
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
            self._reconcile(self.vectors, force=True)
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
            for conn in self._all_conns:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all_conns.clear()

    # -- meta ----------------------------------------------------------------------------------
    @_translated
    def meta(self) -> dict[str, str]:
        return dict(self._reader().execute("SELECT key, value FROM meta").fetchall())

    @_translated
    def set_meta(self, values: Mapping[str, str]) -> None:
        with self._tx() as tx:
            tx.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(values.items()))

    @_translated
    def generation(self) -> int:
        """A number that changes with every committed write (search-side caches key on it)."""
        row = self._reader().execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    # -- vectors -------------------------------------------------------------------------------
    def _load_vectors(self) -> UsearchIndex:
        try:
            index = UsearchIndex(self._dim, self.vec_path)
        except StoreError:
            # The HNSW file is derived data: a damaged one is rebuilt from SQLite.
            self.vec_path.unlink(missing_ok=True)
            index = UsearchIndex(self._dim)
        self._reconcile(index)
        return index

    def _reconcile(self, index: VectorIndex, force: bool = False) -> None:
        """Make the HNSW keys equal the vectors table (repairs a save missed by a killed process,
        and the in-memory index after a rolled-back run)."""
        meta = self.meta()
        if not force and meta.get("vector_generation") == meta.get("generation") and self.vec_path.exists():
            return
        db_keys = {int(r[0]) for r in self._reader().execute("SELECT chunk_id FROM vectors")}
        have = index.keys()
        extra = sorted(have - db_keys)
        missing = sorted(db_keys - have)
        index.remove(extra)
        for start in range(0, len(missing), 4096):
            batch = missing[start : start + 4096]
            index.add(batch, self._get_vectors(batch))
        self._save_vectors(index)

    def _current_vectors(self) -> VectorIndex:
        """The in-memory HNSW index, caught up with writes other processes committed since it
        was loaded (issue #14: a replica that did not write must not search stale vectors).

        Keyed by the store's generation: a write of this process moves it too and costs one
        comparison of the keys; another process's write adds and removes the vectors it
        changed, in memory only (the writer saves the file).
        """
        gen = self.generation()
        if gen == self._vectors_generation:
            return self.vectors
        if not self._write_lock.acquire(blocking=False):
            return self.vectors  # this process is writing: the next search catches up after it
        try:
            db_keys = {int(r[0]) for r in self._reader().execute("SELECT chunk_id FROM vectors")}
            have = self.vectors.keys()
            self.vectors.remove(sorted(have - db_keys))
            missing = sorted(db_keys - have)
            for start in range(0, len(missing), 4096):
                batch = missing[start : start + 4096]
                self.vectors.add(batch, self._get_vectors(batch))
            self._vectors_generation = gen
        finally:
            self._write_lock.release()
        return self.vectors

    def _save_vectors(self, index: VectorIndex | None = None) -> None:
        """Persist the HNSW file and record which store generation it reflects."""
        idx = self.vectors if index is None else index
        with self._write_lock:
            gen = self.meta().get("generation", "0")
            idx.save(self.vec_path)
            self.set_meta({"vector_generation": gen})
            if index is None:
                self._vectors_generation = int(gen)  # this process's own writes are in memory already

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
        return len(self.vectors)

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
        rows = self._reader().execute(f"SELECT {_FILE_COLS} FROM files")
        return {r[1]: FileRow(*r) for r in rows}

    @_translated
    def file(self, path: str) -> FileRow | None:
        r = self._reader().execute(f"SELECT {_FILE_COLS} FROM files WHERE path=?", (path,)).fetchone()
        return FileRow(*r) if r else None

    # -- writes (through writer()) ----------------------------------------------------------------
    @_translated
    def _touch(self, stamps: Iterable[tuple[str, int, int]]) -> None:
        """Record a new (size, mtime) for files whose content hash did not change."""
        with self._tx() as tx:
            tx.executemany(
                "UPDATE files SET size=?, mtime_ns=? WHERE path=?", [(s, m, p) for p, s, m in stamps]
            )

    def _delete_file_rows(self, tx: sqlite3.Connection, file_id: int, path: str) -> list[int]:
        rows = tx.execute(
            "SELECT id, start_line, end_line, kind, symbol, parent, signature, docstring, header, text "
            "FROM chunks WHERE file_id=?",
            (file_id,),
        ).fetchall()
        ids = [int(r[0]) for r in rows]
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
            "DELETE FROM vectors WHERE chunk_id IN (SELECT id FROM chunks WHERE file_id=?)", (file_id,)
        )
        tx.execute(
            "DELETE FROM chunk_names WHERE chunk_id IN (SELECT id FROM chunks WHERE file_id=?)", (file_id,)
        )
        tx.execute("DELETE FROM chunks WHERE file_id=?", (file_id,))
        tx.execute("DELETE FROM files WHERE id=?", (file_id,))
        return ids

    @_translated
    def _apply(self, updates: Sequence[FileUpdate], deletes: Sequence[str]) -> None:
        """Replace the rows of updated files and remove deleted ones, in one transaction.

        The HNSW index is updated after the commit; its file is saved when the writer block ends.
        """
        removed: list[int] = []
        added_ids: list[int] = []
        added_vecs: list[F32] = []
        now = time.time()
        with self._tx() as tx:
            for path in deletes:
                row = tx.execute("SELECT id FROM files WHERE path=?", (path,)).fetchone()
                if row:
                    removed += self._delete_file_rows(tx, int(row[0]), path)
            for up in updates:
                row = tx.execute("SELECT id FROM files WHERE path=?", (up.path,)).fetchone()
                if row:
                    removed += self._delete_file_rows(tx, int(row[0]), up.path)
                cur = tx.execute(
                    "INSERT INTO files(path, hash, size, mtime_ns, language, n_lines, n_chunks, "
                    "invalid_utf8, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        up.path,
                        up.hash,
                        up.size,
                        up.mtime_ns,
                        up.language,
                        up.n_lines,
                        len(up.chunks),
                        int(up.invalid_utf8),
                        now,
                    ),
                )
                file_id = cur.lastrowid
                for i, chunk in enumerate(up.chunks):
                    c = tx.execute(
                        "INSERT INTO chunks(file_id, start_line, end_line, kind, symbol, parent, signature, "
                        "docstring, header, text, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            file_id,
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
                        "INSERT INTO vectors(chunk_id, vec) VALUES (?, ?)",
                        (cid, encode_vector(up.vectors[i])),
                    )
                    names = ([chunk.symbol] if chunk.symbol else []) + sql.defined_names(chunk)
                    if names:
                        tx.executemany(
                            "INSERT INTO chunk_names(name, chunk_id) VALUES (?, ?)", [(n, cid) for n in names]
                        )
                    added_ids.append(cid)
                    added_vecs.append(up.vectors[i])
            tx.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
        self.vectors.remove(removed)
        if added_ids:
            self.vectors.add(added_ids, np.vstack(added_vecs).astype(np.float32))

    @_translated
    def _set_skips(self, skips: Sequence[tuple[str, str, str]]) -> None:
        with self._tx() as tx:
            tx.execute("DELETE FROM skips")
            tx.executemany("INSERT OR REPLACE INTO skips(path, reason, detail) VALUES (?, ?, ?)", skips)

    @_translated
    def clear(self) -> None:
        """Remove every file, chunk and vector; keep the meta."""
        with self._tx() as tx:
            # A contentless FTS5 table refuses DELETE; "delete-all" is its way to empty itself.
            tx.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('delete-all')")
            tx.execute("DELETE FROM vectors")
            tx.execute("DELETE FROM chunk_names")
            tx.execute("DELETE FROM chunks")
            tx.execute("DELETE FROM files")
            tx.execute("DELETE FROM skips")
            tx.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
        self.vectors.remove(sorted(self.vectors.keys()))
        self._save_vectors()

    def backup(self, dest: Path) -> StoreBackup:
        """A consistent online copy of this index in ``dest`` (see :mod:`conexus.store.sqlite.backup`)."""
        return backup_index(self.directory, dest)

    # -- skips and runs --------------------------------------------------------------------------
    @_translated
    def skip_counts(self) -> dict[str, int]:
        return dict(self._reader().execute("SELECT reason, COUNT(*) FROM skips GROUP BY reason").fetchall())

    @_translated
    def skipped(self, reason: str, limit: int = 50) -> list[tuple[str, str]]:
        sql = "SELECT path, detail FROM skips WHERE reason = ? ORDER BY path LIMIT ?"
        return [(str(p), str(d)) for p, d in self._reader().execute(sql, (reason, limit)).fetchall()]

    @_translated
    def start_run(self) -> int:
        """Record a run of this process and hold the run lock until :meth:`finish_run`."""
        fd = self._take_run_lock()
        try:
            with self._tx() as tx:
                cur = tx.execute(
                    "INSERT INTO runs(started_at, status, pid, host) VALUES (?, 'running', ?, ?)",
                    (time.time(), os.getpid(), socket.gethostname()),
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
                "FROM runs ORDER BY id DESC LIMIT 1"
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
    @_translated
    def counts(self) -> tuple[int, int]:
        conn = self._reader()
        files = conn.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return int(files), int(chunks)

    @_translated
    def languages(self) -> dict[str, int]:
        rows = self._reader().execute(
            "SELECT language, COUNT(*) FROM files GROUP BY language ORDER BY 2 DESC"
        )
        return {r[0]: int(r[1]) for r in rows}

    @_translated
    def kinds(self) -> dict[str, int]:
        rows = self._reader().execute("SELECT kind, COUNT(*) FROM chunks GROUP BY kind ORDER BY 2 DESC, 1")
        return {r[0]: int(r[1]) for r in rows}

    @_translated
    def doc_frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """Number of chunks containing each term (FTS5 vocabulary).

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
        """BM25 candidates ``(chunk_id, score)`` of plain index terms, higher score better."""
        match = sql.match_expression(terms, require_all=require_all, fields=fields)
        if not match or where.matches_nothing:
            return []
        params: dict[str, Any] = {"match": match}
        rows = self._reader().execute(sql.lexical_sql(limit, where, params), params).fetchall()
        return [(int(r[0]), -float(r[1])) for r in rows]

    @_translated
    def nearest(self, query: F32, k: int, where: ChunkFilter = NO_FILTER) -> list[tuple[int, float]]:
        """The ``k`` chunks nearest ``query`` by cosine, best first.

        Unfiltered: the HNSW index. Filtered: exact over the allowed chunks while they
        are at most ``EXACT_VECTOR_LIMIT`` (no ANN recall loss on a small subset), else
        a ``FILTERED_ANN_WIDENING`` times wider HNSW search, post-filtered.
        """
        if where.is_empty:
            return self._current_vectors().search(query, k)
        if where.matches_nothing:
            return []
        chunk_ids = self._chunk_ids(where)
        if len(chunk_ids) <= EXACT_VECTOR_LIMIT:
            if not chunk_ids:
                return []
            mat = self._get_vectors(chunk_ids)
            sims = mat @ query.astype(np.float32)
            top = np.argsort(-sims)[:k]
            return [(chunk_ids[i], float(sims[i])) for i in top]
        allowed = set(chunk_ids)
        wide = self._current_vectors().search(query, k * FILTERED_ANN_WIDENING)
        return [(cid, score) for cid, score in wide if cid in allowed][:k]

    def _chunk_ids(self, where: ChunkFilter) -> list[int]:
        params: dict[str, Any] = {}
        return [int(r[0]) for r in self._reader().execute(sql.chunk_ids_sql(where, params), params)]

    @_translated
    def chunks_by_symbol(
        self, names: Sequence[str], limit: int, where: ChunkFilter = NO_FILTER
    ) -> list[tuple[int, str]]:
        """Chunks that define one of ``names`` (case-insensitive): as their symbol, or as a
        top-level name bound in a module chunk. Returns ``(chunk_id, name)``."""
        if not names or where.matches_nothing:
            return []
        params: dict[str, Any] = {"names": json.dumps(list(names))}
        return [
            (int(r[0]), str(r[1]))
            for r in self._reader().execute(sql.symbol_sql(limit, where, params), params)
        ]

    @_translated
    def chunk_ids_for_files(self, file_ids: Sequence[int]) -> list[int]:
        return self._chunk_ids(ChunkFilter(file_ids=frozenset(file_ids)))

    @_translated
    def first_chunks_of_files(self, file_ids: Sequence[int], where: ChunkFilter = NO_FILTER) -> list[int]:
        """One representative chunk id per file (the first by id) among those ``where`` allows."""
        if where.matches_nothing:
            return []
        params: dict[str, Any] = {"files": json.dumps(list(file_ids))}
        rows = self._reader().execute(sql.first_chunks_sql(where, params), params)
        return [int(r[0]) for r in rows if r[0] is not None]

    @_translated
    def chunk_meta(self, ids: Sequence[int]) -> dict[int, ChunkMeta]:
        """Path, language and kind of each chunk (no text): cheap enough for every candidate."""
        if not ids:
            return {}
        rows = self._reader().execute(
            "SELECT c.id, f.path, f.language, c.kind FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE c.id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )
        return {int(r[0]): ChunkMeta(r[1], r[2], r[3]) for r in rows}

    @_translated
    def get_chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        rows = self._reader().execute(
            f"SELECT {_CHUNK_COLS} FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE c.id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )
        return {int(r[0]): ChunkRow(*r) for r in rows}

    @_translated
    def chunks_of_file(self, path: str) -> list[ChunkRow]:
        rows = self._reader().execute(
            f"SELECT {_CHUNK_COLS} FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path=? "
            "ORDER BY c.start_line",
            (path,),
        )
        return [ChunkRow(*r) for r in rows]
