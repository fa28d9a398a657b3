"""The SQLite schema of an index and its migrations.

``FORMAT_VERSION`` names the layout of the files on disk: a store refuses a
file of another format (a newer one: upgrade Conexus; an older one: ``conexus
index`` rebuilds it). ``SCHEMA_VERSION`` counts migrations (new columns, new
meta keys, new tables).

Format 2 (schema 3) keeps many trees in one database (issue #14, "many
repositories, many branches, one copy"): ``trees`` names each tree (a root,
optionally with a ref) and ``tree_meta`` holds its own meta (identity,
completeness, root); ``files`` is each tree's *manifest* (path, content hash,
its own size/mtime stamps, language, line count) pointing at a ``units``
row; ``units`` is one indexed unit of file content, keyed by the content
hash, the path (a chunk's indexed text and its embedding input both start
with its path) and ``variant`` (a digest of the tree's identity: embedder,
chunker, tokenizer and indexing options); ``chunks`` and everything keyed by a
chunk id (``vectors``, ``chunk_names``, ``chunks_fts``) belong to a content
row, stored once however many trees list it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conexus.errors import IndexIncompatibleError
from conexus.store.sqlite import contents
from conexus.tokens import TOKENIZER_VERSION

#: Format of the files on disk. A store refuses files of a newer format.
FORMAT_VERSION = 2
SCHEMA_VERSION = 4

#: Meta keys of the database itself; every other key belongs to one tree (``tree_meta``).
DATABASE_KEYS = frozenset(
    {"format_version", "schema_version", "tokenizer_version", "generation", "vector_generation", "vector_dim"}
)

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
    # Format 2: trees, manifests and content stored once (see the module docstring). Only ever
    # applied to a new database (an index of format 1 is refused before, and rebuilt), so the
    # tables of step 1 that change shape are empty and are recreated.
    3: """
    CREATE TABLE trees (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, created_at REAL NOT NULL);
    CREATE TABLE tree_meta (
        tree_id INTEGER NOT NULL REFERENCES trees(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (tree_id, key)
    );
    CREATE TABLE units (
        id INTEGER PRIMARY KEY,
        hash TEXT NOT NULL,
        path TEXT NOT NULL,
        variant TEXT NOT NULL,
        n_chunks INTEGER NOT NULL,
        UNIQUE (hash, path, variant)
    );
    DROP TABLE chunks;
    DROP TABLE files;
    DROP TABLE skips;
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        tree_id INTEGER NOT NULL REFERENCES trees(id),
        path TEXT NOT NULL,
        hash TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        language TEXT NOT NULL,
        n_lines INTEGER NOT NULL,
        n_chunks INTEGER NOT NULL,
        invalid_utf8 INTEGER NOT NULL DEFAULT 0,
        indexed_at REAL NOT NULL,
        unit_id INTEGER NOT NULL REFERENCES units(id),
        UNIQUE (tree_id, path)
    );
    CREATE INDEX files_unit ON files(unit_id, tree_id);
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        unit_id INTEGER NOT NULL REFERENCES units(id),
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
    CREATE INDEX chunks_unit ON chunks(unit_id);
    CREATE INDEX chunks_symbol ON chunks(symbol COLLATE NOCASE);
    CREATE TABLE skips (
        tree_id INTEGER NOT NULL REFERENCES trees(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (tree_id, path)
    );
    ALTER TABLE runs ADD COLUMN tree_id INTEGER;
    CREATE INDEX runs_tree ON runs(tree_id, id);
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
        if fmt and int(fmt[0]) < FORMAT_VERSION:
            # Format 1 held one tree per file, chunks per path; its rows cannot be shared.
            raise IndexIncompatibleError(
                f"index at {db_path} has format {fmt[0]}, older than this Conexus "
                f"({FORMAT_VERSION}, one copy of content shared by worktrees); "
                "run `conexus index` to rebuild it"
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


def merged_meta(conn: sqlite3.Connection, tree_id: int | None = None) -> dict[str, str]:
    """The database's meta with the meta of tree ``tree_id`` over it.

    Without ``tree_id``: the meta of the only tree when the database holds exactly
    one (what a backup of a root's own index records), else the database's alone.
    """
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if tree_id is None:
        has_trees = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='trees'").fetchone()
        if not has_trees:
            return meta
        ids = conn.execute("SELECT id FROM trees LIMIT 2").fetchall()
        if len(ids) != 1:
            return meta
        tree_id = int(ids[0][0])
    meta.update(conn.execute("SELECT key, value FROM tree_meta WHERE tree_id=?", (tree_id,)).fetchall())
    return meta
