"""The PostgreSQL half of stored contents: file texts and imports by content hash (``0003_contents.sql``).

Contents are shared by every index of the database, so a content one index no
longer holds may be the one another index is writing right now. Writers of
contents hold :data:`CONTENT_LOCK` shared until their transaction ends; pruning
takes it exclusively, and only when it can have it at once
(``pg_try_advisory_xact_lock``): while any index is being written, orphans wait
for the next prune instead of racing a writer whose files are not committed yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from conexus.models import ImportRef
from conexus.store.base import FileContent
from conexus.store.contents import pack_imports, pack_text, unpack_imports, unpack_text

#: Advisory lock of the shared contents: "cxct".
CONTENT_LOCK = 0x63786374

_JOIN = "JOIN contents c ON c.hash = f.hash AND c.language = f.language"


def put(cur: psycopg.Cursor[Any], contents: Sequence[FileContent]) -> None:
    """Insert the contents not stored yet, with their import terms (in the caller's transaction)."""
    if not contents:
        return
    cur.execute("SELECT pg_advisory_xact_lock_shared(%s)", (CONTENT_LOCK,))
    unique = {(c.hash, c.language): c for c in contents}
    rows = [(c.hash, c.language, pack_text(c.text), pack_imports(c.imports)) for c in unique.values()]
    inserted = cur.execute(
        "INSERT INTO contents (hash, language, text, imports) "
        "SELECT * FROM unnest(%s::text[], %s::text[], %s::bytea[], %s::text[]) "
        "ON CONFLICT DO NOTHING RETURNING hash, language",
        ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]),
    ).fetchall()
    terms = [(t, h, lang) for h, lang in inserted for t in sorted(unique[(h, lang)].import_terms)]
    if terms:
        cur.execute(
            "INSERT INTO import_terms (term, hash, language) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]) ON CONFLICT DO NOTHING",
            ([t[0] for t in terms], [t[1] for t in terms], [t[2] for t in terms]),
        )


def prune(cur: psycopg.Cursor[Any]) -> bool:
    """Delete the contents no file of any index holds; False when a writer holds the lock (skipped)."""
    row = cur.execute("SELECT pg_try_advisory_xact_lock(%s)", (CONTENT_LOCK,)).fetchone()
    if not row or not row[0]:
        return False
    orphan = "NOT EXISTS (SELECT 1 FROM files f WHERE f.hash = {t}.hash AND f.language = {t}.language)"
    cur.execute("DELETE FROM import_terms WHERE " + orphan.format(t="import_terms"))
    cur.execute("DELETE FROM contents WHERE " + orphan.format(t="contents"))
    return True


def file_text(conn: psycopg.Connection[Any], index_id: int, path: str) -> str | None:
    row = conn.execute(
        f"SELECT c.text FROM files f {_JOIN} WHERE f.index_id = %s AND f.path = %s", (index_id, path)
    ).fetchone()
    return unpack_text(row[0]) if row else None


def file_imports(
    conn: psycopg.Connection[Any], index_id: int, paths: Sequence[str]
) -> dict[str, tuple[ImportRef, ...]]:
    if not paths:
        return {}
    rows = conn.execute(
        f"SELECT f.path, c.imports FROM files f {_JOIN} WHERE f.index_id = %s AND f.path = ANY(%s::text[])",
        (index_id, list(paths)),
    ).fetchall()
    return {str(path): unpack_imports(imports) for path, imports in rows}


def importing_files(conn: psycopg.Connection[Any], index_id: int, terms: Sequence[str]) -> list[str]:
    wanted = sorted(set(terms))
    if not wanted:
        return []
    rows = conn.execute(
        "SELECT f.path FROM import_terms t JOIN files f ON f.hash = t.hash AND f.language = t.language "
        "WHERE f.index_id = %s AND t.term = ANY(%s::text[]) GROUP BY f.path "
        "HAVING count(DISTINCT t.term) = %s",
        (index_id, wanted, len(wanted)),
    ).fetchall()
    return sorted(str(r[0]) for r in rows)  # by code point, as the SQLite store orders


def unstored_files(conn: psycopg.Connection[Any], index_id: int) -> list[str]:
    rows = conn.execute(
        "SELECT f.path FROM files f WHERE f.index_id = %s AND NOT EXISTS "
        "(SELECT 1 FROM contents c WHERE c.hash = f.hash AND c.language = f.language)",
        (index_id,),
    ).fetchall()
    return sorted(str(r[0]) for r in rows)
