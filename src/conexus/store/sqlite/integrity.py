"""Corruption is detected when an index is opened, not answered from.

SQLite has no page checksums: a damaged page (a disk error, a copy cut short,
bytes written over by accident) is noticed only where a query happens to trip
over its structure, and a damaged page of data or of the full-text index can
instead give *different answers* with no error at all (10 of 108 random page
corruptions of a small index changed search results; 7 of them fail ``PRAGMA
quick_check``, the other 3 only FTS5's own ``integrity-check``: ``python -m
bench.hostile_input page-damage``). :func:`verify` runs both checks when a store opens and
raises ``IndexIncompatibleError``, which every door reports and which a run of
``conexus index`` answers by rebuilding.

Checking costs about a second per 150 MB of index (``python -m bench.integrity``),
so it runs once per version of the files: the files' identity (inode, size,
modification time of the database and its WAL) is kept in ``verified.json`` after
a clean check, and an open whose files are unchanged since skips it. A
long-running server opens each index once. An index another process is
writing is not checked (FTS5's check needs the write lock) and is checked at
a later open.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path

from conexus.errors import IndexIncompatibleError

logger = logging.getLogger(__name__)

VERIFIED_FILE = "verified.json"
BUSY_TIMEOUT_MS = 30_000  # the store's connections' busy timeout, restored after the check


def fingerprint(db_path: Path) -> list[list[int]]:
    """(inode, size, mtime_ns) of the database file and of its WAL.

    An empty or missing WAL counts as zeros: every connection recreates an empty
    one, which changes nothing in the index.
    """
    out: list[list[int]] = []
    for path in (db_path, Path(f"{db_path}-wal")):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            out.append([0, 0, 0])
            continue
        out.append([st.st_ino, st.st_size, st.st_mtime_ns] if st.st_size else [0, 0, 0])
    return out


def problems(conn: sqlite3.Connection) -> list[str]:
    """What SQLite's structural check and FTS5's own check find wrong (empty: nothing)."""
    found = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall() if row[0] != "ok"]
    if not found:
        try:
            conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
        except sqlite3.OperationalError:
            raise  # locked or busy: says nothing about the index (see verify)
        except sqlite3.DatabaseError as exc:
            found.append(f"full-text index: {exc}")
    return found


def verify(conn: sqlite3.Connection, db_path: Path) -> None:
    """Check the index at ``db_path`` unless its files are unchanged since their last clean check.

    Raises:
        IndexIncompatibleError: the index is damaged (with the first problems found).
    """
    record = db_path.parent / VERIFIED_FILE
    before = fingerprint(db_path)
    try:
        if json.loads(record.read_text(encoding="utf-8")) == before:
            return
    except (OSError, ValueError):
        pass
    # FTS5's check is a write statement: it must not wait for (or be failed by) a writer.
    conn.execute("PRAGMA busy_timeout=0")
    try:
        found = problems(conn)
    except sqlite3.OperationalError as exc:  # locked, busy, an I/O error: checked at a later open
        logger.info("index %s not checked now: %s", db_path, exc)
        return
    except sqlite3.DatabaseError as exc:
        found = [str(exc)]
    finally:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if found:
        record.unlink(missing_ok=True)
        logger.error("index %s is damaged: %s", db_path, "; ".join(found[:5]))
        raise IndexIncompatibleError(
            f"index at {db_path} is damaged ({'; '.join(found[:3])}); "
            "run `conexus index --rebuild` to recreate it"
        )
    try:
        record.write_text(json.dumps(fingerprint(db_path)), encoding="utf-8")
    except OSError:  # a read-only index is checked again next time
        logger.debug("cannot record the check of %s", db_path, exc_info=True)
