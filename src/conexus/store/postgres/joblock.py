"""The job lock of a PostgreSQL index: a session advisory lock keyed by the index, on a connection of its own.

Why an advisory lock and not a job table with leases: the lock lives exactly as
long as the session that holds it. A replica killed mid-job (``kill -9``, a
crashed machine whose socket the server sees close) loses its session and its
lock at once, with no lease to expire and no clock to trust; the index rows it
wrote are whatever its committed transactions left (the last complete state),
and the next job on any replica takes the lock and resumes. The lock
connection is idle while the job runs, so it never holds a snapshot or blocks
vacuum; server-side TCP keepalives (set per session, below) end the session of a
replica cut off without a goodbye within about a minute.

The connection must reach the server itself or a session-mode pooler: a
transaction-mode PgBouncer would hand the session, and the lock, to someone
else (``docs/scale-out.md``).
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from conexus.errors import IndexBusyError, StoreError
from conexus.store.joblock import POLL_S, busy_message, this_process
from conexus.store.postgres.connection import database, error_text, store_error

logger = logging.getLogger(__name__)

#: Advisory lock space of index jobs (the index key's CRC is the second key): "cxjb".
JOB_LOCK_SPACE = 0x63786A62
#: Server-side keepalives of the lock's session: a silent peer is dropped after about 60 s.
_KEEPALIVES = {"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10", "tcp_keepalives_count": "3"}
_APP_PREFIX = "conexus index job"


def lock_key(index_key: str) -> int:
    """The second key (a non-negative int4) of an index's job lock: stable across processes."""
    return zlib.crc32(index_key.encode()) & 0x7FFFFFFF


class AdvisoryJobLock:
    """The job lock of the index ``index_key`` in the database at ``url``."""

    def __init__(self, url: str, index_key: str, what: str) -> None:
        self.url = url
        self.index_key = index_key
        self.what = what

    def _fail(self, action: str, exc: psycopg.Error) -> StoreError:
        server = database(self.url).server
        message = f"index {server}#{self.index_key}: {action} failed: {error_text(exc, self.url)}"
        return store_error(message, exc)

    @contextmanager
    def hold(self, wait_s: float) -> Iterator[None]:
        """Hold the lock for the block, waiting up to ``wait_s`` seconds for another holder.

        Raises:
            IndexBusyError: another session held it for all of ``wait_s``.
            StoreError: the server cannot be reached.
        """
        me = this_process()
        key = (JOB_LOCK_SPACE, lock_key(self.index_key))
        try:
            conn = database(self.url).connect()
        except psycopg.Error as exc:
            raise self._fail("taking the job lock", exc) from exc
        try:
            try:
                for name, value in {
                    **_KEEPALIVES,
                    # Who holds the lock, for the message of whoever waits (63 bytes at most).
                    "application_name": f"{_APP_PREFIX} {me['pid']}@{me['host']}"[:63],
                }.items():
                    conn.execute("SELECT set_config(%s, %s, false)", (name, value))
                started = time.monotonic()
                while True:
                    row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", key).fetchone()
                    if row and row[0]:
                        break
                    waited = time.monotonic() - started
                    if waited >= wait_s:
                        raise IndexBusyError(busy_message(self.what, self._holder(conn), waited))
                    time.sleep(POLL_S)  # pg_advisory_lock would wait past lock_timeout's control
            except psycopg.Error as exc:
                raise self._fail("taking the job lock", exc) from exc
            try:
                yield
            finally:
                try:
                    conn.execute("SELECT pg_advisory_unlock(%s, %s)", key)
                except psycopg.Error as exc:  # the session is gone, and its lock with it
                    logger.debug("releasing the job lock of %s: %s", self.index_key, exc)
        finally:
            conn.close()

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock now (pid, host, since), or None when no session does.

        Raises:
            StoreError: the server cannot be reached.
        """
        try:
            with database(self.url).connection() as conn:
                return self._holder(conn)
        except psycopg.Error as exc:
            raise self._fail("looking up the job lock", exc) from exc

    def _holder(self, conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
        row = conn.execute(
            "SELECT a.application_name, extract(epoch FROM a.query_start) FROM pg_locks l "
            "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid AND l.objsubid = 2",
            (JOB_LOCK_SPACE, lock_key(self.index_key)),
        ).fetchone()
        if row is None:
            return None
        app, since = (str(row[0] or ""), row[1])
        found: dict[str, Any] = {"since": float(since) if since is not None else None}
        if app.startswith(_APP_PREFIX):
            pid, _, host = app[len(_APP_PREFIX) :].strip().partition("@")
            found.update(pid=int(pid) if pid.isdigit() else None, host=host or None)
        return found
