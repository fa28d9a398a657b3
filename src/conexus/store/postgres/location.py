"""A root's index in a PostgreSQL database: the :class:`~conexus.store.location.IndexLocation` of a URL."""

from __future__ import annotations

import shutil
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import psycopg

from conexus.errors import ConfigError, StoreError
from conexus.store.base import Store, StoreBackup
from conexus.store.postgres.connection import database, describe, error_text, store_error
from conexus.store.postgres.joblock import AdvisoryJobLock
from conexus.store.postgres.store import PostgresStore, backup_refusal, delete_rows


class PostgresLocation:
    """The index named ``index_dir.name`` in the database at ``url``.

    ``index_dir`` (the folder the SQLite layout would use) keeps only ``root.json``,
    so ``conexus status --all`` and the CLI's search for the root of the current
    folder find PostgreSQL-backed roots too.
    """

    local = False
    shared = False

    def __init__(self, url: str, index_dir: Path) -> None:
        self.url = url
        self.index_dir = index_dir
        self.key = index_dir.name
        self.server = describe(url)

    def describe(self) -> str:
        return f"{self.server} (index {self.key})"

    def _fail(self, action: str, exc: psycopg.Error) -> StoreError:
        return store_error(
            f"index {self.server}#{self.key}: {action} failed: {error_text(exc, self.url)}", exc
        )

    def exists(self) -> bool:
        return self.incarnation() is not None

    def incarnation(self) -> object | None:
        """The index's row id: a clear deletes the row, a new index gets a new id."""
        try:
            with database(self.url).connection() as conn:
                row = conn.execute("SELECT id FROM indexes WHERE key = %s", (self.key,)).fetchone()
        except psycopg.Error as exc:
            raise self._fail("looking the index up", exc) from exc
        return None if row is None else int(row[0])

    def _job_lock(self) -> AdvisoryJobLock:
        return AdvisoryJobLock(self.url, self.key, f"index {self.server}#{self.key}")

    def job_lock(self, wait_s: float) -> AbstractContextManager[None]:
        return self._job_lock().hold(wait_s)

    def job_holder(self) -> dict[str, Any] | None:
        return self._job_lock().holder()

    def open(self, dim: int, *, create: bool) -> Store:
        if create:
            self.index_dir.mkdir(parents=True, exist_ok=True)
        return PostgresStore(self.url, self.key, dim, create=create)

    def delete(self) -> None:
        """Delete every row of the index (one transaction), then its local folder."""
        try:
            with database(self.url).connection() as conn, conn.transaction():
                cur = conn.cursor()
                row = cur.execute("SELECT id FROM indexes WHERE key = %s FOR UPDATE", (self.key,)).fetchone()
                if row is not None:
                    delete_rows(cur, int(row[0]))
                    cur.execute("DELETE FROM indexes WHERE id = %s", (row[0],))
        except psycopg.Error as exc:
            raise self._fail("deleting the index", exc) from exc
        if self.index_dir.exists():
            shutil.rmtree(self.index_dir)

    def size_bytes(self) -> int:
        """An estimate: the Conexus tables' size on the server times this index's share of the chunks.

        Exact sizes would read every row; this is one catalog query, cheap enough for a
        metrics scrape.
        """
        try:
            with database(self.url).connection() as conn:
                row = conn.execute(
                    "SELECT (SELECT n_chunks FROM indexes WHERE key = %s), "
                    "(SELECT coalesce(sum(n_chunks), 0) FROM indexes), "
                    "(SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relkind = 'r')",
                    (self.key,),
                ).fetchone()
        except psycopg.Error as exc:
            raise self._fail("measuring the index", exc) from exc
        if row is None or row[0] is None:
            return 0
        mine, total, size = int(row[0]), int(row[1]), int(row[2])
        return 0 if total == 0 else size * mine // total

    def backup(self, dest: Path) -> StoreBackup:
        raise ConfigError(backup_refusal(self.server))
