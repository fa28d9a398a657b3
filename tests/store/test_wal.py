"""Turning a database to WAL while another process holds a lock on it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from conexus.store.wal import use_wal


def _locked(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("CREATE TABLE t(x)")
    return holder


def test_waits_for_a_lock_held_elsewhere_then_switches_to_wal(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    holder = _locked(path)
    conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        conn.execute("PRAGMA journal_mode=WAL")  # what plain opening did: fail at once
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    use_wal(conn, timeout_s=10)
    release.join()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_gives_up_after_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    holder = _locked(path)
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(conn, timeout_s=0.2)
    holder.execute("ROLLBACK")
