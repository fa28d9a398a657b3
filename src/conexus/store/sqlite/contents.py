"""The SQLite half of stored contents: file texts and imports by content hash (schema step 4).

Tables: ``contents`` (``hash``, ``language``, the compressed ``text``, the
``imports`` as JSON; see :mod:`conexus.store.contents`) and ``import_terms``
(one row per index term a content's imports spell), joined to ``files`` on
``(hash, language)``. The store's methods run these functions on its connections.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from conexus.models import ImportRef
from conexus.store.base import FileContent
from conexus.store.contents import pack_imports, pack_text, unpack_imports, unpack_text

#: Schema step 4 (:data:`conexus.store.sqlite.schema.MIGRATIONS`).
MIGRATION = """
    CREATE TABLE IF NOT EXISTS contents (
        hash TEXT NOT NULL,
        language TEXT NOT NULL,
        text BLOB NOT NULL,
        imports TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (hash, language)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS import_terms (
        term TEXT NOT NULL,
        hash TEXT NOT NULL,
        language TEXT NOT NULL,
        PRIMARY KEY (term, hash, language)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS import_terms_content ON import_terms(hash, language);
    CREATE INDEX IF NOT EXISTS files_content ON files(hash, language);
"""

_JOIN = "JOIN contents c ON c.hash = f.hash AND c.language = f.language"


def put(tx: sqlite3.Connection, contents: Sequence[FileContent]) -> None:
    """Insert the contents not stored yet, with their import terms."""
    for content in contents:
        cur = tx.execute(
            "INSERT OR IGNORE INTO contents(hash, language, text, imports) VALUES (?, ?, ?, ?)",
            (content.hash, content.language, pack_text(content.text), pack_imports(content.imports)),
        )
        if cur.rowcount:
            tx.executemany(
                "INSERT OR IGNORE INTO import_terms(term, hash, language) VALUES (?, ?, ?)",
                [(t, content.hash, content.language) for t in sorted(content.import_terms)],
            )


def prune(tx: sqlite3.Connection) -> None:
    """Delete the contents (and their terms) that no file row holds."""
    orphan = "NOT EXISTS (SELECT 1 FROM files f WHERE f.hash = {t}.hash AND f.language = {t}.language)"
    tx.execute("DELETE FROM import_terms WHERE " + orphan.format(t="import_terms"))
    tx.execute("DELETE FROM contents WHERE " + orphan.format(t="contents"))


def clear(tx: sqlite3.Connection) -> None:
    """Delete every stored content."""
    tx.execute("DELETE FROM import_terms")
    tx.execute("DELETE FROM contents")


def file_text(conn: sqlite3.Connection, tree_id: int, path: str) -> str | None:
    row = conn.execute(
        f"SELECT c.text FROM files f {_JOIN} WHERE f.tree_id = ? AND f.path = ?", (tree_id, path)
    ).fetchone()
    return unpack_text(row[0]) if row else None


def file_imports(
    conn: sqlite3.Connection, tree_id: int, paths: Sequence[str]
) -> dict[str, tuple[ImportRef, ...]]:
    if not paths:
        return {}
    rows = conn.execute(
        f"SELECT f.path, c.imports FROM files f {_JOIN} "
        "WHERE f.tree_id = ? AND f.path IN (SELECT value FROM json_each(?))",
        (tree_id, json.dumps(list(paths))),
    )
    return {str(path): unpack_imports(imports) for path, imports in rows}


def importing_files(conn: sqlite3.Connection, tree_id: int, terms: Sequence[str]) -> list[str]:
    wanted = sorted(set(terms))
    if not wanted:
        return []
    rows = conn.execute(
        "SELECT f.path FROM import_terms t JOIN files f ON f.hash = t.hash AND f.language = t.language "
        "WHERE f.tree_id = ? AND t.term IN (SELECT value FROM json_each(?)) GROUP BY f.path "
        "HAVING count(DISTINCT t.term) = ? ORDER BY f.path",
        (tree_id, json.dumps(wanted), len(wanted)),
    )
    return [str(r[0]) for r in rows]


def unstored_files(conn: sqlite3.Connection, tree_id: int) -> list[str]:
    rows = conn.execute(
        "SELECT f.path FROM files f WHERE f.tree_id = ? AND NOT EXISTS "
        "(SELECT 1 FROM contents c WHERE c.hash = f.hash AND c.language = f.language) ORDER BY f.path",
        (tree_id,),
    )
    return [str(r[0]) for r in rows]
