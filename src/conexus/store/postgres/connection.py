"""Connections to one PostgreSQL database: a pool per database URL per process, shared by every root.

The first store opened on a URL in a process migrates the database's schema
(:mod:`conexus.store.postgres.schema`, under an advisory lock) on a connection of
its own, then opens a :class:`psycopg_pool.ConnectionPool` whose connections
find the ``conexus`` schema and pgvector's types on their ``search_path`` and
have pgvector's adapters registered. Every later store on that URL shares the
pool. Connections are checked when taken from the pool, so a server restart
costs a reconnect, not a failed request; they never prepare statements on the
server (``prepare_threshold=None``), so a transaction-mode PgBouncer in front
works.

Messages name the server (``postgresql://user@host:port/db``), never the password.
"""

from __future__ import annotations

import atexit
import re
import threading
from dataclasses import dataclass
from typing import Any

import psycopg
from pgvector.psycopg import register_vector
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from conexus.errors import ConfigError, StoreError
from conexus.store.postgres.schema import SCHEMA, migrate

#: Connections one process keeps to one database at most (searches, an index job, status).
POOL_MAX = 8
#: Seconds to wait for the server to answer a connection attempt.
CONNECT_TIMEOUT = 10
#: Seconds a caller waits for a free connection of the pool before its call fails.
POOL_TIMEOUT = 30.0
#: How long a statement waits for a lock another session holds before it fails (SQLite's
#: store waits as long for a locked database): a stuck writer elsewhere is an error, not a hang.
LOCK_TIMEOUT = "30s"

_pools: dict[str, Database] = {}
_pools_lock = threading.Lock()


def describe(url: str) -> str:
    """``postgresql://user@host:port/dbname`` of a database URL: what messages call the server.

    Raises:
        ConfigError: the URL cannot be parsed.
    """
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"store_url is not a valid PostgreSQL URL: {scrub(str(exc), url)}") from exc
    host = str(params.get("host") or "localhost")
    if host.startswith("/"):
        host = f"[{host}]"  # a Unix socket folder
    port = params.get("port")
    user = params.get("user")
    where = f"{user}@{host}" if user else host
    if port:
        where += f":{port}"
    return f"postgresql://{where}/{params.get('dbname') or user or ''}"


def scrub(message: str, url: str) -> str:
    """``message`` with the URL's password (if it shows) replaced by ``***``."""
    try:
        password = conninfo_to_dict(url).get("password")
    except psycopg.ProgrammingError:
        password = None
    if password:
        message = message.replace(str(password), "***")
    return re.sub(r"(://[^/@:\s]*):[^/@\s]*@", r"\1:***@", message)


def error_text(exc: BaseException, url: str) -> str:
    """A driver error as one line for a :class:`StoreError`: its message, password scrubbed."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return scrub(text, url)


@dataclass
class Database:
    """One database's shared pool and what its connections were configured with."""

    url: str
    server: str
    pool: ConnectionPool
    search_path: str

    def connect(self) -> psycopg.Connection[Any]:
        """A connection of its own (not from the pool), configured like the pool's, in autocommit.

        Raises:
            psycopg.Error: the server cannot be reached.
        """
        conn = psycopg.connect(
            self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, prepare_threshold=None
        )
        try:
            _configure(conn, self.search_path)
        except BaseException:
            conn.close()
            raise
        return conn


def _configure(conn: psycopg.Connection[Any], search_path: str) -> None:
    conn.execute("SELECT set_config('search_path', %s, false)", (search_path,))
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (LOCK_TIMEOUT,))
    register_vector(conn)


def database(url: str) -> Database:
    """The process's pool for ``url``, created (and the schema migrated) on first use.

    Raises:
        StoreError: the server cannot be reached, or refuses the migration.
        IndexIncompatibleError: the database's schema is newer than this Conexus.
    """
    with _pools_lock:
        db = _pools.get(url)
        if db is not None and not db.pool.closed:
            return db
        server = describe(url)
        try:
            with psycopg.connect(
                url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, prepare_threshold=None
            ) as conn:
                ext_schema = migrate(conn, server)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the Conexus schema on {server}: {error_text(exc, url)}") from exc
        search_path = ", ".join(dict.fromkeys([SCHEMA, ext_schema, "public"]))
        pool: ConnectionPool = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_MAX,
            # Autocommit: a read is one round trip; writes and multi-statement reads open a
            # transaction of their own (conn.transaction()).
            kwargs={"connect_timeout": CONNECT_TIMEOUT, "prepare_threshold": None, "autocommit": True},
            configure=lambda c: _configure(c, search_path),
            check=ConnectionPool.check_connection,
            timeout=POOL_TIMEOUT,
            name=f"conexus {server}",
            open=True,
        )
        db = Database(url, server, pool, search_path)
        _pools[url] = db
        return db


def close_pools(url: str | None = None) -> None:
    """Close the pool of ``url`` (every pool without one); stores opened on it stop working."""
    with _pools_lock:
        urls = [url] if url is not None else list(_pools)
        for u in urls:
            db = _pools.pop(u, None)
            if db is not None:
                db.pool.close()


atexit.register(close_pools)
