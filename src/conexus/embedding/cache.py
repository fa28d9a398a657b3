"""The machine-wide embedding cache: vectors keyed by (embedder id, chunk content hash).

One SQLite file (``$CONEXUS_HOME/embedding-cache.sqlite3``) shared by every index
and every process on the machine: two indexers on two worktrees of one
repository embed each distinct chunk once. WAL mode and a busy timeout let
several processes read and write at once; writes are ``INSERT OR IGNORE`` (a
vector for a key never changes, whoever wrote it first wins).

Vectors are stored as float16: 865 bytes on disk per 384-dim vector against
2,097 for float32 (measured on 10,000 vectors, after VACUUM). For unit vectors
the rounding error is below 5e-4 per component and ≈ 1e-6 in cosine, far under
anything a ranking can see. Each blob starts with a one-byte
tag (``h`` float16, ``f`` float32) so the format can change without a migration;
a vector that does not fit float16 is kept as float32.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt

from conexus.embedding.base import Embedder, InputKeyed, empty, l2_normalize
from conexus.errors import EmbeddingError, StoreError
from conexus.observability.instrument import embedder_kind, record_cache_lookups, record_embedding
from conexus.store.wal import use_wal

logger = logging.getLogger(__name__)

CACHE_WARNING_INTERVAL_S = 300.0
_warned: dict[str, float] = {}  # cache path -> when its last failure was logged as a warning
_warned_lock = threading.Lock()


def _warn_cache_failure(exc: StoreError, path: Path, consequence: str) -> None:
    """Log a failing cache once per outage window (then at debug): a full disk fails every batch."""
    now = time.monotonic()
    with _warned_lock:
        last = _warned.get(str(path))
        loud = last is None or now - last >= CACHE_WARNING_INTERVAL_S
        if loud:
            _warned[str(path)] = now
    logger.log(logging.WARNING if loud else logging.DEBUG, "%s; %s", exc, consequence)


SCHEMA_VERSION = 1
_SQL_CHUNK = 500  # keys per IN (...) query, well under SQLite's variable limit
_EMBED_SLICE = 256  # texts per embedder call: progress, and cache writes an interrupted run keeps
_F16_MAX = float(np.finfo(np.float16).max)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embedders (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS vectors (
    embedder INTEGER NOT NULL REFERENCES embedders(id),
    key      TEXT NOT NULL,
    vec      BLOB NOT NULL,
    UNIQUE (embedder, key)
);
"""
# A rowid table, not WITHOUT ROWID: rows of 0.8-3 KB overflow a WITHOUT ROWID b-tree's
# pages (measured: 4.6 KB on disk per 384-dim float32 vector, against 1.7 KB here).


def encode_vector(vector: npt.NDArray[np.floating]) -> bytes:
    """Serialize a 1-D vector compactly: float16 when it fits, float32 otherwise."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    if np.all(np.isfinite(v)) and float(np.max(np.abs(v), initial=0.0)) < _F16_MAX:
        return b"h" + v.astype("<f2").tobytes()
    return b"f" + v.astype("<f4").tobytes()


def decode_vector(blob: bytes) -> npt.NDArray[np.float32]:
    """Inverse of :func:`encode_vector` (float32 out).

    Raises:
        ValueError: unknown tag or truncated data.
    """
    tag, body = blob[:1], blob[1:]
    if tag == b"h" and len(body) % 2 == 0:
        return np.frombuffer(body, dtype="<f2").astype(np.float32)
    if tag == b"f" and len(body) % 4 == 0:
        return np.frombuffer(body, dtype="<f4").astype(np.float32)
    raise ValueError(f"not an encoded vector (tag {tag!r}, {len(body)} bytes)")


class EmbeddingCache:
    """Vectors keyed by (embedder id, chunk content hash), shared by every index on the machine.

    Thread-safe (one connection behind a lock) and safe for several processes.
    """

    def __init__(self, path: Path) -> None:
        """Open or create the cache file.

        Raises:
            StoreError: the file cannot be created or is not a SQLite database.
        """
        self.path = path
        self._lock = threading.Lock()
        self._ids: dict[str, int] = {}
        self._conn: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE for writes).
            self._conn = sqlite3.connect(
                str(path), timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA busy_timeout = 30000")
            use_wal(self._conn)
            self._conn.execute("PRAGMA synchronous = NORMAL")
            with self._write() as conn:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version not in (0, SCHEMA_VERSION):
                    # A cache from another format: it only holds recomputable data.
                    logger.warning("embedding cache %s has format %s; starting it afresh", path, version)
                    conn.execute("DROP TABLE IF EXISTS vectors")
                    conn.execute("DROP TABLE IF EXISTS embedders")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (OSError, sqlite3.Error) as exc:
            self.close()
            raise StoreError(
                f"cannot open the embedding cache {path}: {exc} (it is only a cache: deleting it is safe)"
            ) from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the embedding cache is closed")
        return self._conn

    def _embedder_id(self, name: str, create: bool) -> int | None:
        if name in self._ids:
            return self._ids[name]
        conn = self._connection()
        row = conn.execute("SELECT id FROM embedders WHERE name = ?", (name,)).fetchone()
        if row is None and create:
            with self._write() as wconn:
                wconn.execute("INSERT OR IGNORE INTO embedders(name) VALUES (?)", (name,))
                row = wconn.execute("SELECT id FROM embedders WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        self._ids[name] = int(row[0])
        return self._ids[name]

    def get_many(self, embedder_id: str, keys: Sequence[str]) -> dict[str, npt.NDArray[np.float32]]:
        """Return the cached vectors among ``keys`` (missing keys are absent from the dict).

        Raises:
            StoreError: the database failed.
        """
        out: dict[str, npt.NDArray[np.float32]] = {}
        unique = list(dict.fromkeys(keys))
        if not unique:
            return out
        with self._lock:
            try:
                eid = self._embedder_id(embedder_id, create=False)
                if eid is None:
                    return out
                conn = self._connection()
                for start in range(0, len(unique), _SQL_CHUNK):
                    part = unique[start : start + _SQL_CHUNK]
                    marks = ",".join("?" * len(part))
                    rows = conn.execute(
                        f"SELECT key, vec FROM vectors WHERE embedder = ? AND key IN ({marks})", (eid, *part)
                    )
                    for key, blob in rows:
                        try:
                            out[key] = decode_vector(blob)
                        except ValueError:
                            logger.warning("embedding cache: unreadable vector for %s; re-embedding it", key)
            except sqlite3.Error as exc:
                raise StoreError(f"embedding cache read failed ({self.path}): {exc}") from exc
        return out

    def put_many(self, embedder_id: str, items: Mapping[str, npt.NDArray[np.float32]]) -> None:
        """Store vectors; a key already present keeps its vector.

        Raises:
            StoreError: the database failed.
        """
        if not items:
            return
        rows = [(key, encode_vector(vec)) for key, vec in items.items()]
        with self._lock:
            try:
                eid = self._embedder_id(embedder_id, create=True)
                with self._write() as conn:
                    conn.executemany(
                        "INSERT OR IGNORE INTO vectors(embedder, key, vec) VALUES (?, ?, ?)",
                        [(eid, key, blob) for key, blob in rows],
                    )
            except sqlite3.Error as exc:
                raise StoreError(f"embedding cache write failed ({self.path}): {exc}") from exc

    def count(self, embedder_id: str | None = None) -> int:
        """How many vectors are cached (for one embedder, or in all)."""
        with self._lock:
            conn = self._connection()
            if embedder_id is None:
                return int(conn.execute("SELECT count(*) FROM vectors").fetchone()[0])
            row = conn.execute(
                "SELECT count(*) FROM vectors JOIN embedders ON embedders.id = vectors.embedder "
                "WHERE embedders.name = ?",
                (embedder_id,),
            ).fetchone()
            return int(row[0])

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def embed_with_cache(
    embedder: Embedder,
    cache: EmbeddingCache | None,
    keyed_texts: Sequence[tuple[str, str]],
    on_progress: Callable[[int], None] | None = None,
) -> npt.NDArray[np.float32]:
    """Embed ``[(content_hash, text)]``, asking the model only for keys the cache lacks.

    Keys the cache lacks are looked up again by the model's truncated input when
    the embedder is :class:`InputKeyed`. Equal inputs are embedded once. New
    vectors are written to the cache slice by slice, so an interrupted run keeps
    what it computed. ``on_progress(n)`` receives the running count of texts the
    model embedded in this call.

    Returns:
        ``(len(keyed_texts), embedder.dim)`` float32, L2-normalised, in input order.

    Raises:
        EmbeddingError: the model failed. A failing cache only logs a warning:
            the vectors are then computed without it.
    """
    if not keyed_texts:
        return empty(embedder.dim)
    first_text: dict[str, str] = {}
    for key, text in keyed_texts:
        first_text.setdefault(key, text)
    keys = list(first_text)
    alias = {k: k for k in keys}  # content key -> the key its vector is found or computed under
    found: dict[str, npt.NDArray[np.float32]] = {}

    def lookup(wanted: list[str]) -> dict[str, npt.NDArray[np.float32]]:
        nonlocal cache
        if cache is None or not wanted:
            return {}
        try:
            got = cache.get_many(embedder.id, wanted)
        except StoreError as exc:
            _warn_cache_failure(exc, cache.path, "embedding without the cache")
            cache = None
            return {}
        return {k: v for k, v in got.items() if v.shape == (embedder.dim,)}

    def store(items: dict[str, npt.NDArray[np.float32]]) -> None:
        nonlocal cache
        if cache is None or not items:
            return
        try:
            cache.put_many(embedder.id, items)
        except StoreError as exc:
            _warn_cache_failure(exc, cache.path, "going on without the cache")
            cache = None

    had_cache = cache is not None
    found = lookup(keys)
    missing = [k for k in keys if k not in found]
    # Second chance, keyed by what the model sees: an edit past the truncation point
    # leaves the model's input, and so the vector, unchanged. Vectors found this way
    # are stored under their content key too, so the next run hits at the first lookup.
    if missing and isinstance(embedder, InputKeyed):
        try:
            model_keys = embedder.input_keys([first_text[k] for k in missing])
        except EmbeddingError as exc:
            logger.warning("%s; keying the cache by content only", exc)
        else:
            by_input = lookup(list(dict.fromkeys(model_keys)))
            aliased: dict[str, npt.NDArray[np.float32]] = {}
            for ck, mk in zip(missing, model_keys, strict=True):
                alias[ck] = mk
                if mk in by_input:
                    found[mk] = aliased[ck] = by_input[mk]
            store(aliased)
            missing = [ck for ck in missing if alias[ck] not in found]
    if had_cache:  # per distinct content key: found at either lookup, or left to the model
        record_cache_lookups(len(keys) - len(missing), len(missing))

    # Equal model inputs are embedded once.
    to_embed = list(dict.fromkeys(alias[ck] for ck in missing))
    text_of = {alias[ck]: first_text[ck] for ck in reversed(missing)}
    also_under: dict[str, list[str]] = {}  # model key -> content keys to store its new vector under
    for ck in missing:
        if alias[ck] != ck:
            also_under.setdefault(alias[ck], []).append(ck)
    done = 0
    kind = embedder_kind(embedder)
    for start in range(0, len(to_embed), _EMBED_SLICE):
        part = to_embed[start : start + _EMBED_SLICE]
        started = time.perf_counter()
        vectors = embedder.embed_documents([text_of[k] for k in part])
        record_embedding(kind, len(part), time.perf_counter() - started)
        fresh = {k: vectors[i] for i, k in enumerate(part)}
        found.update(fresh)
        extra = {ck: fresh[mk] for mk in part for ck in also_under.get(mk, ())}
        store({**fresh, **extra})
        done += len(part)
        if on_progress is not None:
            on_progress(done)

    out = np.empty((len(keyed_texts), embedder.dim), dtype=np.float32)
    for row, (key, _text) in enumerate(keyed_texts):
        out[row] = found[alias[key]]
    # Cached rows come back from float16: renormalise so every row is unit length to float32 precision.
    return l2_normalize(out)
