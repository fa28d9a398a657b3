"""Where a root's index lives, and the one place that picks its backend: :func:`index_location`.

The engine asks its :class:`IndexLocation` whether the index exists, opens,
deletes and measures it, and never touches files or connections itself:

* :class:`SqliteLocation` (``store_url`` empty, the default): the folder of the
  root under ``$CONEXUS_HOME/indexes/`` holding ``index.sqlite3`` and its HNSW file.
* :class:`conexus.store.postgres.location.PostgresLocation` (``store_url`` a
  ``postgresql://`` URL): the index named by that folder's name in the database;
  the folder keeps only ``root.json`` (what ``conexus status --all`` lists).

The PostgreSQL backend is imported only when a URL is configured; without the
``postgres`` extra installed that is a :class:`~conexus.errors.ConfigError`.
"""

from __future__ import annotations

import os
import shutil
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from conexus.errors import ConfigError
from conexus.layout import INDEX_DB
from conexus.store.base import Store, StoreBackup
from conexus.store.joblock import FileJobLock

#: The distributions the PostgreSQL backend needs (the ``postgres`` extra).
POSTGRES_MODULES = ("psycopg", "psycopg_pool", "pgvector")


class IndexLocation(Protocol):
    """Where one root's index lives: what the engine needs instead of paths or connections."""

    #: True when the index is files under the data home (``conexus backup`` copies those).
    local: bool

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
    """An embedded index: one folder of files under the data home."""

    local = True

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def exists(self) -> bool:
        return (self.directory / INDEX_DB).exists()

    def open(self, dim: int, *, create: bool) -> Store:
        from conexus.store.sqlite import SqliteStore

        return SqliteStore(self.directory, dim)

    def delete(self) -> None:
        if self.directory.exists():
            shutil.rmtree(self.directory)

    def size_bytes(self) -> int:
        """Bytes on disk of the folder's files (database, WAL, vectors, side files)."""
        try:
            return sum(p.stat().st_size for p in self.directory.iterdir() if p.is_file())
        except OSError:  # no index yet, or a file removed while listing
            return 0

    def describe(self) -> str:
        return str(self.directory)

    def backup(self, dest: Path) -> StoreBackup:
        from conexus.store.sqlite.backup import backup_index

        return backup_index(self.directory, dest)

    def _job_lock(self) -> FileJobLock:
        # Beside the folder, not in it: a rebuild or clear deletes the folder.
        return FileJobLock(
            self.directory.with_name(self.directory.name + ".lock"), f"the index at {self.directory}"
        )

    def job_lock(self, wait_s: float) -> AbstractContextManager[None]:
        return self._job_lock().hold(wait_s)

    def job_holder(self) -> dict[str, Any] | None:
        return self._job_lock().holder()

    def incarnation(self) -> object | None:
        try:
            st = os.stat(self.directory / INDEX_DB)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)  # a clear deletes the file; a new index is a new inode


def index_location(store_url: str, index_dir: Path) -> IndexLocation:
    """The location of the index whose SQLite folder would be ``index_dir``, for the ``store_url`` setting.

    Raises:
        ConfigError: a URL is set but the ``postgres`` extra is not installed.
    """
    if not store_url:
        return SqliteLocation(index_dir)
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
