"""The SQLite schema of an index and its migrations.

``FORMAT_VERSION`` names the layout of the files on disk: a store refuses a
file of a newer format. ``SCHEMA_VERSION`` counts additive migrations (new
columns, new meta keys) that older Conexus versions can still read.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conexus.errors import IndexIncompatibleError
from conexus.store.sqlite import contents
from conexus.tokens import TOKENIZER_VERSION

#: Format of the files on disk. A store refuses files of a newer format.
FORMAT_VERSION = 1
SCHEMA_VERSION = 4

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS files (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        language TEXT NOT NULL,
        n_lines INTEGER NOT NULL,
        n_chunks INTEGER NOT NULL,
        invalid_utf8 INTEGER NOT NULL DEFAULT 0,
        indexed_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS chunks (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        start_line INTEGER NOT NULL,
        end_line INTEGER NOT NULL,
        kind TEXT NOT NULL,
        symbol TEXT,
        parent TEXT,
        signature TEXT,
        docstring TEXT,
        header TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id);
    CREATE INDEX IF NOT EXISTS chunks_symbol ON chunks(symbol COLLATE NOCASE);
    CREATE TABLE IF NOT EXISTS vectors (chunk_id INTEGER PRIMARY KEY, vec BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS chunk_names (name TEXT NOT NULL COLLATE NOCASE, chunk_id INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS chunk_names_name ON chunk_names(name COLLATE NOCASE);
    CREATE INDEX IF NOT EXISTS chunk_names_chunk ON chunk_names(chunk_id);
    CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
        name, path, body, content='', tokenize="unicode61 tokenchars '_' remove_diacritics 2"
    );
    CREATE VIRTUAL TABLE IF NOT EXISTS fts_vocab USING fts5vocab(chunks_fts, 'row');
    CREATE TABLE IF NOT EXISTS skips (path TEXT PRIMARY KEY, reason TEXT NOT NULL, detail TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY,
        started_at REAL NOT NULL,
        finished_at REAL,
        status TEXT NOT NULL,
        stats TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # Runs record the process running them, so a run killed mid-way reads as interrupted, and
    # the meta says whether the first build finished. An index built before this migration
    # that saw a complete run is complete.
    2: """
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    ALTER TABLE runs ADD COLUMN host TEXT;
    INSERT OR IGNORE INTO meta(key, value)
        SELECT 'complete', '1' WHERE EXISTS (SELECT 1 FROM runs WHERE status = 'complete');
    """,
    # File texts and imports by content hash, for replicas without a checkout (issue #14). An
    # index built before holds none: the next index run stores them (Store.unstored_files).
    4: contents.MIGRATION,
}


def migrate(conn: sqlite3.Connection, db_path: Path) -> None:
    """Bring the schema of ``conn``'s database up to :data:`SCHEMA_VERSION`, one transaction per step.

    Raises:
        IndexIncompatibleError: the file has a newer format than this Conexus understands.
        sqlite3.DatabaseError: the file is not a SQLite database (the store translates it).
    """
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
    current = 0
    if has_meta:
        current = _schema_version(conn)
        fmt = conn.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
        if fmt and int(fmt[0]) > FORMAT_VERSION:
            raise IndexIncompatibleError(
                f"index at {db_path} has format {fmt[0]}, newer than this Conexus "
                f"understands ({FORMAT_VERSION}); upgrade Conexus or rebuild the index"
            )
    for version in sorted(MIGRATIONS):
        if version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated since the version was read (ALTER TABLE is not idempotent).
            if _schema_version(conn) >= version:
                conn.execute("COMMIT")
                continue
            for stmt in MIGRATIONS[version].split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(version),)
            )
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('format_version', ?)", (str(FORMAT_VERSION),)
            )
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('tokenizer_version', ?)", (TOKENIZER_VERSION,)
            )
            conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', '0')")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _schema_version(conn: sqlite3.Connection) -> int:
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else 0
