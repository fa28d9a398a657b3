"""The embedded store: one SQLite file (WAL) per indexed root, plus its HNSW file.

Tables: ``meta`` (the self-description), ``files``, ``chunks``, ``vectors``
(float16 blobs, the source of truth for the HNSW file), ``skips`` and ``runs``;
``chunks_fts`` is a contentless FTS5 table holding the code-aware token strings
built by :mod:`conexus.tokens`. Contentless keeps the file small; deleting from
it needs the original token strings, which :func:`fts_columns` recomputes
deterministically from the stored chunk (the tokenizer version is part of the
index format, so it cannot drift).

Build-then-run: :func:`lexical_sql` builds the lexical query and is testable
without a database; :meth:`SqliteStore.lexical` runs it.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from conexus.errors import IndexIncompatibleError, StoreError
from conexus.models import Chunk
from conexus.store.vectors import F32, UsearchIndex, decode_vectors, encode_vector
from conexus.store.wal import use_wal
from conexus.tokens import TOKENIZER_VERSION, path_tokens, token_string

#: Format of the files on disk. A store refuses files of a newer format.
FORMAT_VERSION = 1
SCHEMA_VERSION = 1

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS files (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        language TEXT NOT NULL,
        n_lines INTEGER NOT NULL,
        n_chunks INTEGER NOT NULL,
        invalid_utf8 INTEGER NOT NULL DEFAULT 0,
        indexed_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS chunks (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        start_line INTEGER NOT NULL,
        end_line INTEGER NOT NULL,
        kind TEXT NOT NULL,
        symbol TEXT,
        parent TEXT,
        signature TEXT,
        docstring TEXT,
        header TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id);
    CREATE INDEX IF NOT EXISTS chunks_symbol ON chunks(symbol COLLATE NOCASE);
    CREATE TABLE IF NOT EXISTS vectors (chunk_id INTEGER PRIMARY KEY, vec BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS chunk_names (name TEXT NOT NULL COLLATE NOCASE, chunk_id INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS chunk_names_name ON chunk_names(name COLLATE NOCASE);
    CREATE INDEX IF NOT EXISTS chunk_names_chunk ON chunk_names(chunk_id);
    CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
        name, path, body, content='', tokenize="unicode61 tokenchars '_' remove_diacritics 2"
    );
    CREATE VIRTUAL TABLE IF NOT EXISTS fts_vocab USING fts5vocab(chunks_fts, 'row');
    CREATE TABLE IF NOT EXISTS skips (path TEXT PRIMARY KEY, reason TEXT NOT NULL, detail TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY,
        started_at REAL NOT NULL,
        finished_at REAL,
        status TEXT NOT NULL,
        stats TEXT NOT NULL DEFAULT '{}'
    );
    """,
}

# FTS5 column weights for bm25(): symbol names matter most, then the path, then the body.
FTS_WEIGHTS = (4.0, 2.0, 1.0)


# Names bound at the top of a module chunk: Python/Ruby assignments, JS/TS/Go/Rust declarations.
_MODULE_NAME = re.compile(
    r"^(?:export\s+)?(?:(?:pub\s+)?(?:const|let|var|static|type)\s+(?:mut\s+)?)?([A-Za-z_][A-Za-z0-9_]*)"
    r"\s*(?::[^=\n]{0,80})?=(?!=)",
    re.M,
)


def defined_names(chunk: Chunk) -> list[str]:
    """Top-level names a module chunk binds (``builtin_str = str``), so lookups of them find it."""
    if chunk.kind != "module":
        return []
    return _MODULE_NAME.findall(chunk.text)[:200]


def fts_columns(path: str, chunk: Chunk) -> tuple[str, str, str]:
    """The (name, path, body) token strings indexed for a chunk. Deterministic: used for deletes too."""
    name = token_string([chunk.symbol or "", chunk.parent or "", " ".join(defined_names(chunk))])
    body = token_string([chunk.signature or "", chunk.header, chunk.text])
    return name, path_tokens(path), body


@dataclass(frozen=True, slots=True)
class FileRow:
    """A file as the index knows it."""

    id: int
    path: str
    hash: str
    size: int
    mtime_ns: int
    language: str
    n_lines: int
    n_chunks: int


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """A stored chunk joined with its file."""

    id: int
    file_id: int
    path: str
    language: str
    file_hash: str
    file_size: int
    file_mtime_ns: int
    start_line: int
    end_line: int
    kind: str
    symbol: str | None
    parent: str | None
    signature: str | None
    docstring: str | None
    header: str
    text: str
    hash: str

    def to_chunk(self) -> Chunk:
        return Chunk(
            path=self.path,
            start_line=self.start_line,
            end_line=self.end_line,
            language=self.language,
            kind=self.kind,
            text=self.text,
            symbol=self.symbol,
            parent=self.parent,
            signature=self.signature,
            docstring=self.docstring,
            header=self.header,
        )


class ChunkMeta(NamedTuple):
    """Where a chunk lives: all that ranking needs."""

    path: str
    language: str
    kind: str


@dataclass(frozen=True, slots=True)
class FileUpdate:
    """Everything needed to replace one file's rows."""

    path: str
    hash: str
    size: int
    mtime_ns: int
    language: str
    n_lines: int
    invalid_utf8: bool
    chunks: Sequence[Chunk]
    vectors: F32  # (len(chunks), dim)


_CHUNK_COLS = (
    "c.id, c.file_id, f.path, f.language, f.hash, f.size, f.mtime_ns, c.start_line, c.end_line, c.kind, "
    "c.symbol, c.parent, c.signature, c.docstring, c.header, c.text, c.hash"
)


_DF_CACHE_MIN = 500  # document frequencies at least this high are cached (see doc_frequencies)


def lexical_sql(limit: int, filtered: bool) -> str:
    """SQL for BM25 candidates of an FTS5 MATCH expression, best first (bm25 is negative: lower is better)."""
    w = ", ".join(str(x) for x in FTS_WEIGHTS)
    if not filtered:
        # No join: looking up every match in ``chunks`` before the sort doubled the cost at 100K chunks.
        return (
            f"SELECT rowid, bm25(chunks_fts, {w}) AS score FROM chunks_fts "
            f"WHERE chunks_fts MATCH :match ORDER BY score LIMIT {int(limit)}"
        )
    return (
        f"SELECT chunks_fts.rowid, bm25(chunks_fts, {w}) AS score FROM chunks_fts "
        "JOIN chunks c ON c.id = chunks_fts.rowid WHERE chunks_fts MATCH :match "
        f"AND c.file_id IN (SELECT value FROM json_each(:file_ids)) ORDER BY score LIMIT {int(limit)}"
    )


class SqliteStore:
    """One index on disk. Writes go through one connection under a lock; each reading thread has its own."""

    def __init__(self, directory: Path, dim: int) -> None:
        self.directory = directory
        self.db_path = directory / "index.sqlite3"
        self.vec_path = directory / "vectors.usearch"
        self.dim = dim
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._all_conns: list[sqlite3.Connection] = []
        self._snapshot: tuple[int, dict[str, FileRow], int] | None = None
        self._df_cache: dict[str, int] = {}
        self._df_cache_generation = -1
        self._atomic_depth = 0
        self._conns_lock = threading.Lock()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._writer = self._connect()
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise IndexIncompatibleError(
                f"index at {self.db_path} is corrupt or not a Conexus index ({exc}); "
                "run `conexus index --rebuild` to recreate it"
            ) from exc
        except OSError as exc:
            raise StoreError(f"cannot open index directory {directory}: {exc}") from exc
        self.vectors = self._load_vectors()

    # -- connections -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=30.0, check_same_thread=False, isolation_level=None)
        use_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
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
                # Inside atomic(): the enclosing transaction commits or rolls back everything.
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
    def atomic(self, enabled: bool = True) -> Iterator[Callable[[], None]]:
        """Make every write inside the block one transaction (when ``enabled``).

        Readers (other connections) keep seeing the last committed state until the
        block ends, so an update of a complete index is all-or-nothing: a killed or
        stopped run leaves the previous index exactly as it was. Yields a function
        that abandons the block's writes (rollback) instead of committing them.
        Holds the write lock for the whole block.
        """
        if not enabled:
            yield lambda: None
            return
        abandon = False

        def _abandon() -> None:
            nonlocal abandon
            abandon = True

        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            self._atomic_depth += 1
            try:
                yield _abandon
            except BaseException:
                self._atomic_depth -= 1
                self._writer.execute("ROLLBACK")
                self._reconcile(self.vectors, force=True)
                raise
            self._atomic_depth -= 1
            if abandon:
                self._writer.execute("ROLLBACK")
                self._reconcile(self.vectors, force=True)
            else:
                self._writer.execute("COMMIT")

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._all_conns:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all_conns.clear()

    # -- schema and meta -----------------------------------------------------------------------
    def _migrate(self) -> None:
        conn = self._writer
        has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        current = 0
        if has_meta:
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            current = int(row[0]) if row else 0
            fmt = conn.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
            if fmt and int(fmt[0]) > FORMAT_VERSION:
                raise IndexIncompatibleError(
                    f"index at {self.db_path} has format {fmt[0]}, newer than this Conexus "
                    f"understands ({FORMAT_VERSION}); upgrade Conexus or rebuild the index"
                )
        for version in sorted(_MIGRATIONS):
            if version > current:
                with self._tx() as tx:
                    for stmt in _MIGRATIONS[version].split(";"):
                        if stmt.strip():
                            tx.execute(stmt)
                    tx.execute(
                        "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                        (str(version),),
                    )
                    tx.execute(
                        "INSERT OR IGNORE INTO meta(key, value) VALUES ('format_version', ?)",
                        (str(FORMAT_VERSION),),
                    )
                    tx.execute(
                        "INSERT OR IGNORE INTO meta(key, value) VALUES ('tokenizer_version', ?)",
                        (TOKENIZER_VERSION,),
                    )
                    tx.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', '0')")

    def meta(self) -> dict[str, str]:
        return dict(self._reader().execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, values: dict[str, str]) -> None:
        with self._tx() as tx:
            tx.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(values.items()))

    # -- vectors -------------------------------------------------------------------------------
    def _load_vectors(self) -> UsearchIndex:
        try:
            index = UsearchIndex(self.dim, self.vec_path)
        except StoreError:
            # The HNSW file is derived data: a damaged one is rebuilt from SQLite.
            self.vec_path.unlink(missing_ok=True)
            index = UsearchIndex(self.dim)
        self._reconcile(index)
        return index

    def _reconcile(self, index: UsearchIndex, force: bool = False) -> None:
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
            index.add(batch, self.get_vectors(batch))
        self.save_vectors(index)

    def save_vectors(self, index: UsearchIndex | None = None) -> None:
        """Persist the HNSW file and record which store generation it reflects."""
        idx = self.vectors if index is None else index
        with self._write_lock:
            gen = self.meta().get("generation", "0")
            idx.save(self.vec_path)
            self.set_meta({"vector_generation": gen})

    def get_vectors(self, chunk_ids: Sequence[int]) -> F32:
        """Vectors of the given chunks, in order (zeros for a chunk without one)."""
        if not chunk_ids:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = dict(
            self._reader()
            .execute(
                "SELECT chunk_id, vec FROM vectors WHERE chunk_id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(chunk_ids)),),
            )
            .fetchall()
        )
        zero = np.zeros(self.dim, dtype="<f2").tobytes()
        return decode_vectors([rows.get(i, zero) for i in chunk_ids], self.dim)

    # -- files -----------------------------------------------------------------------------------
    def generation(self) -> int:
        """A number that changes with every committed write (search-side caches key on it)."""
        row = self._reader().execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

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

    def files(self) -> dict[str, FileRow]:
        rows = self._reader().execute(
            "SELECT id, path, hash, size, mtime_ns, language, n_lines, n_chunks FROM files"
        )
        return {r[1]: FileRow(*r) for r in rows}

    def file(self, path: str) -> FileRow | None:
        r = (
            self._reader()
            .execute(
                "SELECT id, path, hash, size, mtime_ns, language, n_lines, n_chunks FROM files WHERE path=?",
                (path,),
            )
            .fetchone()
        )
        return FileRow(*r) if r else None

    def touch_files(self, stamps: Iterable[tuple[str, int, int]]) -> None:
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
            fts_deletes.append((r[0], *fts_columns(path, chunk)))
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

    def apply(self, updates: Sequence[FileUpdate], deletes: Sequence[str]) -> None:
        """Replace the rows of updated files and remove deleted ones, in one transaction.

        The HNSW index is updated after the commit; its file is saved by ``save_vectors``.
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
                        (cid, *fts_columns(up.path, chunk)),
                    )
                    tx.execute(
                        "INSERT INTO vectors(chunk_id, vec) VALUES (?, ?)",
                        (cid, encode_vector(up.vectors[i])),
                    )
                    names = ([chunk.symbol] if chunk.symbol else []) + defined_names(chunk)
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

    def clear(self) -> None:
        """Remove every file, chunk and vector; keep the meta."""
        with self._tx() as tx:
            tx.execute("DELETE FROM chunks_fts")
            tx.execute("DELETE FROM vectors")
            tx.execute("DELETE FROM chunk_names")
            tx.execute("DELETE FROM chunks")
            tx.execute("DELETE FROM files")
            tx.execute("DELETE FROM skips")
            tx.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
        self.vectors.remove(sorted(self.vectors.keys()))
        self.save_vectors()

    # -- skips and runs --------------------------------------------------------------------------
    def set_skips(self, skips: Sequence[tuple[str, str, str]]) -> None:
        with self._tx() as tx:
            tx.execute("DELETE FROM skips")
            tx.executemany("INSERT OR REPLACE INTO skips(path, reason, detail) VALUES (?, ?, ?)", skips)

    def skip_counts(self) -> dict[str, int]:
        return dict(self._reader().execute("SELECT reason, COUNT(*) FROM skips GROUP BY reason").fetchall())

    def skips(self, limit: int = 50) -> list[tuple[str, str, str]]:
        rows = self._reader().execute(
            "SELECT path, reason, detail FROM skips ORDER BY path LIMIT ?", (limit,)
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def start_run(self) -> int:
        with self._tx() as tx:
            cur = tx.execute("INSERT INTO runs(started_at, status) VALUES (?, 'running')", (time.time(),))
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, status: str, stats: dict[str, Any]) -> None:
        with self._tx() as tx:
            tx.execute(
                "UPDATE runs SET finished_at=?, status=?, stats=? WHERE id=?",
                (time.time(), status, json.dumps(stats), run_id),
            )

    def last_run(self) -> dict[str, Any] | None:
        r = (
            self._reader()
            .execute("SELECT id, started_at, finished_at, status, stats FROM runs ORDER BY id DESC LIMIT 1")
            .fetchone()
        )
        if not r:
            return None
        return {
            "id": r[0],
            "started_at": r[1],
            "finished_at": r[2],
            "status": r[3],
            "stats": json.loads(r[4]),
        }

    # -- reads for search --------------------------------------------------------------------------
    def counts(self) -> tuple[int, int]:
        conn = self._reader()
        files = conn.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return int(files), int(chunks)

    def languages(self) -> dict[str, int]:
        rows = self._reader().execute(
            "SELECT language, COUNT(*) FROM files GROUP BY language ORDER BY 2 DESC"
        )
        return {r[0]: int(r[1]) for r in rows}

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

    def lexical(
        self, match: str, limit: int, file_ids: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """BM25 candidates ``(chunk_id, score)``, higher score better."""
        if not match:
            return []
        params: dict[str, Any] = {"match": match}
        if file_ids is not None:
            params["file_ids"] = json.dumps(list(file_ids))
        try:
            rows = self._reader().execute(lexical_sql(limit, file_ids is not None), params).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreError(f"lexical search failed: {exc}") from exc
        return [(int(r[0]), -float(r[1])) for r in rows]

    def chunks_by_symbol(
        self, names: Sequence[str], limit: int, file_ids: Sequence[int] | None = None
    ) -> list[tuple[int, str]]:
        """Chunks that define one of ``names`` (case-insensitive): as their symbol, or as a
        top-level name bound in a module chunk. Returns ``(chunk_id, name)``."""
        if not names:
            return []
        sql = (
            "SELECT n.chunk_id, n.name FROM chunk_names n "
            "WHERE n.name COLLATE NOCASE IN (SELECT value FROM json_each(:names))"
        )
        params: dict[str, Any] = {"names": json.dumps(list(names))}
        if file_ids is not None:
            sql = (
                "SELECT n.chunk_id, n.name FROM chunk_names n JOIN chunks c ON c.id = n.chunk_id "
                "WHERE n.name COLLATE NOCASE IN (SELECT value FROM json_each(:names)) "
                "AND c.file_id IN (SELECT value FROM json_each(:file_ids))"
            )
            params["file_ids"] = json.dumps(list(file_ids))
        sql += f" LIMIT {int(limit)}"
        return [(int(r[0]), str(r[1])) for r in self._reader().execute(sql, params)]

    def chunk_ids_for_files(self, file_ids: Sequence[int]) -> list[int]:
        rows = self._reader().execute(
            "SELECT id FROM chunks WHERE file_id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(file_ids)),),
        )
        return [int(r[0]) for r in rows]

    def first_chunks_of_files(self, file_ids: Sequence[int]) -> list[int]:
        """One representative chunk id per file (the first by line)."""
        rows = self._reader().execute(
            "SELECT MIN(id) FROM chunks WHERE file_id IN (SELECT value FROM json_each(?)) GROUP BY file_id",
            (json.dumps(list(file_ids)),),
        )
        return [int(r[0]) for r in rows if r[0] is not None]

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

    def get_chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        rows = self._reader().execute(
            f"SELECT {_CHUNK_COLS} FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE c.id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )
        return {int(r[0]): ChunkRow(*r) for r in rows}

    def chunks_of_file(self, path: str) -> list[ChunkRow]:
        rows = self._reader().execute(
            f"SELECT {_CHUNK_COLS} FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path=? "
            "ORDER BY c.start_line",
            (path,),
        )
        return [ChunkRow(*r) for r in rows]

    def integrity_check(self) -> None:
        """Raise IndexIncompatibleError when SQLite reports corruption."""
        try:
            row = self._reader().execute("PRAGMA quick_check").fetchone()
        except sqlite3.DatabaseError as exc:
            raise IndexIncompatibleError(f"index at {self.db_path} is corrupt: {exc}") from exc
        if row and row[0] != "ok":
            raise IndexIncompatibleError(f"index at {self.db_path} is corrupt: {row[0]}")
