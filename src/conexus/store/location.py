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

import shutil
from pathlib import Path
from typing import Protocol

from conexus.errors import ConfigError
from conexus.layout import INDEX_DB
from conexus.store.base import Store, StoreBackup

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
