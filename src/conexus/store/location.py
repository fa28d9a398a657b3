"""Where a root's index lives, and the one place that picks its backend: :func:`index_location`.

The engine asks its :class:`IndexLocation` whether the index exists, opens,
deletes and measures it, and never touches files or connections itself:

* :class:`SqliteLocation` (``store_url`` empty, the default): a folder under
  ``$CONEXUS_HOME/indexes/`` holding ``index.sqlite3`` and its HNSW file. A root
  outside git has its own (the root's folder, the tree ``""``); the worktrees of
  one git repository share their repository's (:func:`conexus.layout.repository_index_dir`),
  each a tree named by its path, so content they have in common is stored once.
* :class:`conexus.store.postgres.location.PostgresLocation` (``store_url`` a
  ``postgresql://`` URL): the index named by that folder's name in the database;
  the folder keeps only ``root.json`` (what ``conexus status --all`` lists).

The PostgreSQL backend is imported only when a URL is configured; without the
``postgres`` extra installed that is a :class:`~conexus.errors.ConfigError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from conexus.errors import ConfigError, IndexIncompatibleError, IndexNotFoundError, StoreError
from conexus.layout import INDEX_DB, repository_index_dir
from conexus.store.base import Store, StoreBackup
from conexus.store.joblock import FileJobLock

logger = logging.getLogger(__name__)

#: The tree of a database holding one root's index only (``conexus.store.sqlite.store.DEFAULT_TREE``).
OWN_TREE = ""
# What a format-1 index of a worktree left in its root's folder before worktrees shared a database.
_LEGACY_FILES = (
    INDEX_DB,
    f"{INDEX_DB}-wal",
    f"{INDEX_DB}-shm",
    "vectors.usearch",
    "index.lock",
    "verified.json",
)

#: The distributions the PostgreSQL backend needs (the ``postgres`` extra).
POSTGRES_MODULES = ("psycopg", "psycopg_pool", "pgvector")


class IndexLocation(Protocol):
    """Where one root's index lives: what the engine needs instead of paths or connections."""

    #: True when the index is files under the data home (``conexus backup`` copies those).
    local: bool
    #: True when the index is one tree of a database other roots' trees share.
    shared: bool

    def exists(self) -> bool:
        """Whether the index has been created."""
        ...

    def open(self, dim: int, *, create: bool) -> Store:
        """The index's store for vectors of ``dim`` dimensions (created when missing and ``create``)."""
        ...

    def delete(self) -> None:
        """Delete the index entirely (nothing of it is left; another one may be created)."""
        ...

    def size_bytes(self) -> int:
        """Bytes the index takes (0 when it does not exist)."""
        ...

    def describe(self) -> str:
        """Where the index is, for people: a folder, or a server and index name (no password)."""
        ...

    def backup(self, dest: Path) -> StoreBackup:
        """A consistent copy of the index into the empty folder ``dest``, without opening a store.

        Raises:
            ConfigError: the backend is backed up by other means (PostgreSQL).
            StoreError: the copy failed.
        """
        ...

    def job_lock(self, wait_s: float) -> AbstractContextManager[None]:
        """Hold the index's job lock (:mod:`conexus.store.joblock`) for a block: one job per index,
        across processes; waits up to ``wait_s`` seconds for another holder.

        Raises:
            IndexBusyError: another process held it throughout.
            StoreError: the lock cannot be taken (the server is unreachable).
        """
        ...

    def job_holder(self) -> dict[str, Any] | None:
        """Who holds the job lock (pid, host, since: whatever is known), or None when nobody does."""
        ...

    def incarnation(self) -> object | None:
        """What tells this index apart from another one created under the same name after a
        clear or rebuild (by any process), or None when there is none: a store opened on an
        older incarnation must be opened again."""
        ...


class SqliteLocation:
    """An embedded index: one tree of a database in a folder under the data home.

    ``directory`` holds the database; ``root_dir`` is the root's own folder (its
    ``root.json``), the same folder unless the database is its repository's.
    """

    local = True

    def __init__(self, directory: Path, tree: str = OWN_TREE, root_dir: Path | None = None) -> None:
        self.directory = directory
        self.tree = tree
        self.root_dir = root_dir if root_dir is not None else directory
        self.shared = tree != OWN_TREE
        self._readers = threading.local()  # per thread: the connection _tree_id asks on
        self._last_incarnation: tuple[int, int, int] | None = None

    def exists(self) -> bool:
        db = self.directory / INDEX_DB
        try:
            st = os.stat(db)
        except OSError:
            return False
        if not self.shared:
            return True
        try:
            return self._tree_id(db, st) is not None
        except sqlite3.Error:
            return True  # opening it says what is wrong (a damaged or old database)

    def _tree_id(self, db: Path, st: os.stat_result) -> int | None:
        """This tree's row id in the shared database ``db`` (None: no such tree), asked on a
        read-only connection kept per thread for the database file's inode.

        Every request asks (``exists``, ``incarnation``); opening a connection for each
        question cost about 0.3 ms of CPU and several waits for the interpreter lock.
        A database deleted and created again is a new inode, so a new connection.
        """
        key = (st.st_dev, st.st_ino)
        held: tuple[tuple[int, int], sqlite3.Connection] | None = getattr(self._readers, "conn", None)
        if held is None or held[0] != key:
            if held is not None:
                held[1].close()
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None, timeout=30.0)
            held = (key, conn)
            self._readers.conn = held
        try:
            # fetchall, not fetchone: the statement runs to its end, so no read transaction
            # stays open on the kept connection (which would hold back WAL checkpoints).
            rows = held[1].execute("SELECT id FROM trees WHERE key = ?", (self.tree,)).fetchall()
        except sqlite3.Error:
            held[1].close()
            self._readers.conn = None
            raise
        return int(rows[0][0]) if rows else None

    def open(self, dim: int, *, create: bool) -> Store:
        from conexus.store.sqlite import SqliteStore

        if self.shared and create:
            self.root_dir.mkdir(parents=True, exist_ok=True)
            for name in _LEGACY_FILES:  # this worktree's index from before it shared the database
                (self.root_dir / name).unlink(missing_ok=True)
        return SqliteStore(self.directory, dim, self.tree, create=create)

    def delete(self) -> None:
        """Delete the index: its folder, or its tree of a shared database (content no other tree
        lists goes with it, in one transaction; the database goes with its last tree)."""
        if self.shared:
            self._drop_tree()
            target = self.root_dir
        else:
            target = self.directory
        if target.exists():
            shutil.rmtree(target)

    def _drop_tree(self) -> None:
        from conexus.store.sqlite.store import SqliteStore, stored_dim

        if not self.exists():
            return
        dim = stored_dim(self.directory)
        left = 0
        if dim is not None:
            try:
                left = SqliteStore(self.directory, dim, self.tree, create=False).drop_tree()
            except IndexNotFoundError:
                return
            except (IndexIncompatibleError, StoreError, sqlite3.Error) as exc:
                # A damaged or old database cannot be edited; every tree of it is rebuilt.
                logger.warning("deleting the shared index %s: %s", self.directory, exc)
        if left == 0 and self.directory.exists():
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(self.directory)

    def size_bytes(self) -> int:
        """Bytes on disk of the folder's files (database, WAL, vectors, side files): of the whole
        database when it is shared (every tree's, content stored once)."""
        try:
            return sum(p.stat().st_size for p in self.directory.iterdir() if p.is_file())
        except OSError:  # no index yet, or a file removed while listing
            return 0

    def describe(self) -> str:
        """The database's folder (for a worktree: its repository's, shared with its other worktrees)."""
        return str(self.directory)

    def backup(self, dest: Path) -> StoreBackup:
        from conexus.store.sqlite.backup import backup_index

        return backup_index(self.directory, dest)

    def _job_lock(self) -> FileJobLock:
        # Beside the root's folder, not in it (a rebuild or clear deletes the folder), and per
        # root: worktrees sharing one database index one after the other anyway (one writer),
        # but the job of one must not wait for the lock of another.
        return FileJobLock(
            self.root_dir.with_name(self.root_dir.name + ".lock"), f"the index at {self.root_dir}"
        )

    def job_lock(self, wait_s: float) -> AbstractContextManager[None]:
        return self._job_lock().hold(wait_s)

    def job_holder(self) -> dict[str, Any] | None:
        return self._job_lock().holder()

    def incarnation(self) -> object | None:
        db = self.directory / INDEX_DB
        try:
            st = os.stat(db)
        except OSError:
            return None
        if not self.shared:
            return (st.st_dev, st.st_ino)  # a clear deletes the file; a new index is a new inode
        try:  # a worktree's tree of a shared database: a tree dropped and created again is a new row
            tree_id = self._tree_id(db, st)
        except sqlite3.Error:
            # A read that failed now (busy, interrupted) says nothing new: the last answer for
            # this file stands. Answering another value would make every engine reopen its
            # store (and check and load the whole index) for a passing error.
            last = self._last_incarnation
            if last is not None and last[:2] == (st.st_dev, st.st_ino):
                return last
            return (st.st_dev, st.st_ino)
        current = None if tree_id is None else (st.st_dev, st.st_ino, tree_id)
        self._last_incarnation = current
        return current


def index_location(
    store_url: str, index_dir: Path, root: Path | None = None, home: Path | None = None
) -> IndexLocation:
    """The location of the index of the root whose own folder is ``index_dir``, for the ``store_url``
    setting: with ``root`` and ``home`` given and ``root`` in a git work tree, a tree of its
    repository's SQLite database.

    Raises:
        ConfigError: a URL is set but the ``postgres`` extra is not installed.
    """
    if not store_url:
        shared = repository_index_dir(root, home) if root is not None and home is not None else None
        if shared is None:
            return SqliteLocation(index_dir)
        return SqliteLocation(shared, str(root), index_dir)
    try:
        from conexus.store.postgres.location import PostgresLocation
    except ImportError as exc:
        # psycopg without a libpq binding raises an ImportError naming no module.
        missing = (exc.name or "").split(".")[0]
        if exc.name is not None and missing not in POSTGRES_MODULES:
            raise
        raise ConfigError(
            f"store_url names a PostgreSQL database but {missing or exc} is not installed; "
            "install the PostgreSQL backend with `pip install 'conexus[postgres]'`, "
            "or unset CONEXUS_STORE_URL to use the embedded index"
        ) from exc
    return PostgresLocation(store_url, index_dir)
