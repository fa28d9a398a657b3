"""Switching a SQLite connection to write-ahead logging, safely when several processes open at once."""

from __future__ import annotations

import sqlite3
import time


def use_wal(conn: sqlite3.Connection, timeout_s: float = 30.0) -> None:
    """Put ``conn``'s database in WAL mode, waiting out other processes doing the same.

    Turning a new database file to WAL takes an exclusive lock, and SQLite answers
    "database is locked" at once (its busy handler is not called there) when another
    process holds a lock at that moment: two Conexus processes opening a shared
    embedding cache together hit this. Retries with a short backoff until ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.01
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            message = str(exc).lower()
            if ("locked" not in message and "busy" not in message) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
