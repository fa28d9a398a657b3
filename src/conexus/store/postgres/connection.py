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

An unreachable server (stopped, restarting, failing over, the network cut) is
noticed, not waited out (issue #14): the first request that cannot get a
connection or loses one marks the database *down*; while it is down, requests
fail at once with :class:`~conexus.errors.StoreUnavailableError` (503 with
Retry-After) instead of each waiting for the pool's timeout, and at most one of
them every :data:`PROBE_INTERVAL_S` tries a connection of its own (bounded by
:data:`PROBE_CONNECT_TIMEOUT`). The first probe that connects brings the
database back up with a fresh pool, so answers return within a second of the
server, instead of after the pool's reconnection backoff (which reached 28 s
after a 60 s outage). Every connection has TCP keepalives and a TCP user timeout, so
a statement on a route that died unnoticed fails in about 20 s rather than hangs,
and a statement timeout bounds any one statement.

Messages name the server (``postgresql://user@host:port/db``), never the password.
"""

from __future__ import annotations

import atexit
import logging
import re
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from pgvector.psycopg import register_vector
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from conexus.errors import ConfigError, IndexIncompatibleError, StoreError, StoreUnavailableError
from conexus.store.postgres.schema import SCHEMA, migrate, schema_version

#: Connections one process keeps to one database at most (searches, an index job, status).
POOL_MAX = 8
#: Seconds to wait for the server to answer a connection attempt.
CONNECT_TIMEOUT = 5
#: Seconds a caller waits for a free connection of the pool before its call fails.
POOL_TIMEOUT = 10.0
#: How long a statement waits for a lock another session holds before it fails (SQLite's
#: store waits as long for a locked database): a stuck writer elsewhere is an error, not a hang.
LOCK_TIMEOUT = "30s"
#: Longest one statement may run on the server: far above any search or index batch, a bound
#: on what a runaway one holds.
STATEMENT_TIMEOUT = "300s"
#: Seconds a pool connection has to answer the check made when it is taken: a connection on a
#: route that went silent would otherwise wait for the TCP timeouts (or forever, behind a proxy
#: that still acknowledges).
CHECK_TIMEOUT_S = 2.0
#: Seconds a caller waits for a pool connection before checking whether the server answers.
QUICK_WAIT_S = 1.0
#: While the database is down, at most one request per this many seconds tries to connect.
PROBE_INTERVAL_S = 0.5
#: Seconds that connection attempt may take (a dead route never answers).
PROBE_CONNECT_TIMEOUT = 2
#: libpq's TCP settings of every connection: keepalives find a peer that vanished (idle 10 s,
#: then 3 probes 5 s apart), the user timeout fails a statement whose bytes go unacknowledged
#: for 20 s. Unix sockets ignore them.
TCP_SETTINGS: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 20_000,
}
#: SQLSTATEs that mean the server went away (not that a statement was wrong): the server
#: shutting down or crashing (57P01-57P03) or a connection exception (class 08).
_GONE_STATES = ("57P01", "57P02", "57P03")

_pools: dict[str, Database] = {}
_pools_lock = threading.Lock()
logger = logging.getLogger(__name__)


def unreachable(exc: BaseException) -> bool:
    """Whether a driver error means the server cannot be reached (rather than a failed statement)."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _GONE_STATES


def store_error(message: str, exc: BaseException) -> StoreError:
    """The error to raise for a driver error: :class:`StoreUnavailableError` when the server is
    unreachable (clients retry), else :class:`StoreError`."""
    return StoreUnavailableError(message) if unreachable(exc) else StoreError(message)


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
    """One database's shared pool, what its connections were configured with, and whether the
    server is reachable (see the module's docstring)."""

    url: str
    server: str
    pool: ConnectionPool
    search_path: str
    #: A hot standby (``pg_is_in_recovery()``): it answers reads and refuses every write.
    read_only: bool = False
    #: When the server was found unreachable (epoch seconds), None while it answers.
    down_since: float | None = None
    down_reason: str = ""
    _last_probe: float = 0.0
    _state: threading.Lock = field(default_factory=threading.Lock)
    _probing: threading.Lock = field(default_factory=threading.Lock)

    def connect(self, connect_timeout: float = CONNECT_TIMEOUT) -> psycopg.Connection[Any]:
        """A connection of its own (not from the pool), configured like the pool's, in autocommit.

        Raises:
            psycopg.Error: the server cannot be reached.
        """
        conn = psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=max(1, round(connect_timeout)),
            prepare_threshold=None,
            **TCP_SETTINGS,
        )
        try:
            _configure(conn, self.search_path)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pool connection for the block; fails at once while the server is known to be down.

        Raises:
            psycopg.OperationalError: the server is unreachable (``unreachable()`` is true of it).
            psycopg.Error: a statement of the block failed.
        """
        if self.down_since is not None:
            self._probe()
        pool = self.pool
        try:
            try:
                conn = pool.getconn(timeout=QUICK_WAIT_S)
            except PoolTimeout as exc:
                # Saturated, or unable to connect? A connection of our own tells at once; the
                # pool alone would wait its whole timeout on a server that refuses.
                try:
                    self.connect(PROBE_CONNECT_TIMEOUT).close()
                except psycopg.Error as probe:
                    raise probe from exc
                conn = pool.getconn(timeout=max(0.0, POOL_TIMEOUT - QUICK_WAIT_S))
            try:
                yield conn
            finally:
                pool.putconn(conn)  # rolls back or discards a connection left in a bad state
        except psycopg.Error as exc:
            if unreachable(exc):
                self._mark_down(exc)
            raise

    def _mark_down(self, exc: BaseException) -> None:
        with self._state:
            if self.down_since is None:
                self.down_since = time.time()
                logger.warning("%s is unreachable: %s", self.server, error_text(exc, self.url))
            self.down_reason = error_text(exc, self.url)

    def _probe(self) -> None:
        """While down: one caller per interval tries to connect; the others fail at once.

        Raises:
            psycopg.OperationalError: the server is still unreachable.
        """
        now = time.monotonic()
        if now - self._last_probe < PROBE_INTERVAL_S or not self._probing.acquire(blocking=False):
            raise self._still_down()
        try:
            self._last_probe = now
            try:
                self.connect(PROBE_CONNECT_TIMEOUT).close()
            except psycopg.Error as exc:
                self._mark_down(exc)
                raise self._still_down() from exc
            # Back: a fresh pool connects at once, where the old one waits out its backoff.
            with _pools_lock:
                old, self.pool = self.pool, _new_pool(self.url, self.server, self.search_path)
            with self._state:
                down = time.time() - (self.down_since or time.time())
                self.down_since = None
                self.down_reason = ""
            logger.warning("%s is reachable again after %.1f s", self.server, down)
            threading.Thread(target=old.close, name="conexus-old-pool", daemon=True).start()
        finally:
            self._probing.release()

    def _still_down(self) -> psycopg.OperationalError:
        since = time.strftime("%H:%M:%S", time.gmtime(self.down_since or time.time()))
        return psycopg.OperationalError(
            f"{self.server} is unreachable (since {since} UTC: {self.down_reason}); retrying"
        )


def _configure(conn: psycopg.Connection[Any], search_path: str) -> None:
    conn.execute("SELECT set_config('search_path', %s, false)", (search_path,))
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (LOCK_TIMEOUT,))
    conn.execute("SELECT set_config('statement_timeout', %s, false)", (STATEMENT_TIMEOUT,))
    register_vector(conn)


def check_connection(conn: psycopg.Connection[Any]) -> None:
    """The pool's check of a connection it hands out: an empty query answered within
    :data:`CHECK_TIMEOUT_S` (psycopg_pool's own check has no time limit).

    Raises:
        psycopg.OperationalError: the connection is closed, broken, or did not answer in time
            (it is then closed, and the pool replaces it).
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    pg = conn.pgconn
    deadline = time.monotonic() + CHECK_TIMEOUT_S
    pg.nonblocking = 1
    try:
        pg.send_query(b"")
        while pg.flush():
            if not select.select([], [pg.socket], [], max(0.0, deadline - time.monotonic()))[1]:
                break
        while True:
            pg.consume_input()
            if not pg.is_busy():
                while (result := pg.get_result()) is not None:
                    if result.status == psycopg.pq.ExecStatus.FATAL_ERROR:
                        raise psycopg.OperationalError(result.error_message.decode(errors="replace"))
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([pg.socket], [], [], remaining)[0]:
                conn.close()
                raise psycopg.OperationalError(f"the connection did not answer within {CHECK_TIMEOUT_S:g} s")
    finally:
        if not conn.closed:
            pg.nonblocking = 0


def _new_pool(url: str, server: str, search_path: str) -> ConnectionPool:
    return ConnectionPool(
        url,
        min_size=1,
        max_size=POOL_MAX,
        # Autocommit: a read is one round trip; writes and multi-statement reads open a
        # transaction of their own (conn.transaction()).
        kwargs={
            "connect_timeout": CONNECT_TIMEOUT,
            "prepare_threshold": None,
            "autocommit": True,
            **TCP_SETTINGS,
        },
        configure=lambda c: _configure(c, search_path),
        check=check_connection,
        timeout=POOL_TIMEOUT,
        name=f"conexus {server}",
        open=True,
    )


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
                url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, prepare_threshold=None, **TCP_SETTINGS
            ) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                read_only = bool(row and row[0])
                ext_schema = check_standby_schema(conn, server) if read_only else migrate(conn, server)
        except psycopg.Error as exc:
            raise store_error(
                f"cannot open the Conexus schema on {server}: {error_text(exc, url)}", exc
            ) from exc
        search_path = ", ".join(dict.fromkeys([SCHEMA, ext_schema, "public"]))
        db = Database(url, server, _new_pool(url, server, search_path), search_path, read_only=read_only)
        _pools[url] = db
        return db


def check_standby_schema(conn: psycopg.Connection[Any], server: str) -> str:
    """On a read-only standby, which cannot be migrated: check its schema is this Conexus's; the
    schema of pgvector.

    Raises:
        IndexIncompatibleError: the standby's schema is older or newer than this Conexus's, or
            holds no Conexus schema.
        psycopg.Error: the server failed.
    """
    found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.schema_migrations",)).fetchone()
    newest = 0
    if found and found[0]:
        row = conn.execute(f"SELECT coalesce(max(version), 0) FROM {SCHEMA}.schema_migrations").fetchone()
        newest = int(row[0]) if row else 0
    if newest != schema_version():
        raise IndexIncompatibleError(
            f"{server} is a read-only standby whose Conexus schema is at version {newest}, and this "
            f"Conexus needs {schema_version()}: open the primary with this Conexus first (it migrates "
            "the schema; the standby replays it), or run the Conexus version the schema is at"
        )
    row = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'vector'"
    ).fetchone()
    if row is None:
        raise IndexIncompatibleError(f"the pgvector extension is not installed on {server}")
    return str(row[0])


def close_pools(url: str | None = None) -> None:
    """Close the pool of ``url`` (every pool without one); stores opened on it stop working."""
    with _pools_lock:
        urls = [url] if url is not None else list(_pools)
        for u in urls:
            db = _pools.pop(u, None)
            if db is not None:
                db.pool.close()


atexit.register(close_pools)
