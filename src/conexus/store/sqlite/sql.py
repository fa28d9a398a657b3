"""Pure builders of the SQL and FTS5 text the SQLite store runs: testable without a database.

This module and :mod:`conexus.store.sqlite.store` are the only places FTS5
syntax exists. Callers above the store pass plain index terms; every term is
double-quoted here (a quote inside is doubled), so no caller text can reach
FTS5's query syntax (operators, column filters, unbalanced quotes).

What the contentless ``chunks_fts`` table holds for a chunk is
:func:`conexus.store.lexicon.fts_columns` (shared with the PostgreSQL backend),
which deletes must reproduce exactly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from conexus.store.base import ChunkFilter
from conexus.store.lexicon import FIELD_WEIGHTS, check_fields, defined_names, fts_columns

__all__ = [
    "FTS_WEIGHTS",
    "chunk_ids_sql",
    "defined_names",
    "filter_clause",
    "filter_params",
    "first_chunks_sql",
    "fts_columns",
    "lexical_sql",
    "match_expression",
    "quote_term",
    "scope_clause",
    "symbol_sql",
    "unreferenced_sql",
]

# FTS5 column weights for bm25(): the shared field weights (conexus.store.lexicon).
FTS_WEIGHTS = FIELD_WEIGHTS


def quote_term(term: str) -> str:
    """One FTS5 string token: the term in double quotes, inner quotes doubled."""
    return '"' + term.replace('"', '""') + '"'


def match_expression(
    terms: Sequence[str], *, require_all: bool = False, fields: Sequence[str] | None = None
) -> str:
    """The FTS5 MATCH expression of plain terms: OR-ed (AND-ed with ``require_all``), each
    restricted to ``fields`` when given. Empty when there is no term.

    Raises:
        QueryError: a field that is not one of :data:`conexus.store.base.LEXICAL_FIELDS`.
    """
    check_fields(fields)
    prefix = ""
    if fields:
        prefix = f"{fields[0]} : " if len(fields) == 1 else "{" + " ".join(fields) + "} : "
    joiner = " AND " if require_all else " OR "
    return joiner.join(prefix + quote_term(t) for t in terms if t)


def filter_params(where: ChunkFilter) -> dict[str, str]:
    """The JSON parameters of ``where`` (``:file_ids``, ``:kinds``) for ``json_each``."""
    params: dict[str, str] = {}
    if where.sorted_file_ids is not None:
        params["file_ids"] = json.dumps(list(where.sorted_file_ids))
    if where.sorted_kinds is not None:
        params["kinds"] = json.dumps(list(where.sorted_kinds))
    return params


def scope_clause(scoped: bool, alias: str = "c") -> str:
    """``AND ...``: the chunks table ``alias`` restricted to the content the tree ``:tree`` lists.

    Empty when not ``scoped``: a database holding one tree holds only its content
    (what no manifest lists is collected in the same transaction), so the
    restriction would cost a lookup per match and remove nothing.
    """
    if not scoped:
        return ""
    return f" AND {alias}.unit_id IN (SELECT unit_id FROM files WHERE tree_id = :tree)"


def filter_clause(where: ChunkFilter, params: dict[str, Any], alias: str = "c") -> str:
    """``AND ...`` conditions on the chunks table ``alias`` for ``where`` (adds their parameters).

    File ids are manifest entries (``files.id``) of one tree: a chunk passes when its
    content is what one of them lists.
    """
    sql = ""
    if where.file_ids is not None:
        sql += (
            f" AND {alias}.unit_id IN (SELECT unit_id FROM files "
            "WHERE id IN (SELECT value FROM json_each(:file_ids)))"
        )
    if where.kinds is not None:
        sql += f" AND {alias}.kind IN (SELECT value FROM json_each(:kinds))"
    params.update(filter_params(where))
    return sql


def lexical_sql(limit: int, where: ChunkFilter, params: dict[str, Any], *, scoped: bool = False) -> str:
    """SQL for BM25 candidates of the MATCH expression ``:match``, best first (bm25 is negative:
    lower is better), restricted to ``where`` (its parameters are added to ``params``) and, when
    ``scoped``, to the tree ``:tree``."""
    w = ", ".join(str(x) for x in FTS_WEIGHTS)
    if where.is_empty and not scoped:
        # No join: looking up every match in ``chunks`` before the sort doubled the cost at 100K chunks.
        return (
            f"SELECT rowid, bm25(chunks_fts, {w}) AS score FROM chunks_fts "
            f"WHERE chunks_fts MATCH :match ORDER BY score LIMIT {int(limit)}"
        )
    return (
        f"SELECT chunks_fts.rowid, bm25(chunks_fts, {w}) AS score FROM chunks_fts "
        "JOIN chunks c ON c.id = chunks_fts.rowid WHERE chunks_fts MATCH :match"
        f"{filter_clause(where, params)}{scope_clause(scoped)} ORDER BY score LIMIT {int(limit)}"
    )


def symbol_sql(limit: int, where: ChunkFilter, params: dict[str, Any], *, scoped: bool = False) -> str:
    """SQL for ``(chunk_id, name)`` of chunks defining one of the JSON list ``:names``."""
    if where.is_empty and not scoped:
        sql = (
            "SELECT n.chunk_id, n.name FROM chunk_names n "
            "WHERE n.name COLLATE NOCASE IN (SELECT value FROM json_each(:names))"
        )
    else:
        sql = (
            "SELECT n.chunk_id, n.name FROM chunk_names n JOIN chunks c ON c.id = n.chunk_id "
            "WHERE n.name COLLATE NOCASE IN (SELECT value FROM json_each(:names))"
            f"{filter_clause(where, params)}{scope_clause(scoped)}"
        )
    return sql + f" LIMIT {int(limit)}"


def chunk_ids_sql(where: ChunkFilter, params: dict[str, Any]) -> str:
    """SQL for the ids of every chunk of the tree ``:tree`` that ``where`` allows."""
    return (
        "SELECT c.id FROM files f JOIN chunks c ON c.unit_id = f.unit_id WHERE f.tree_id = :tree"
        + filter_clause(where, params)
    )


def first_chunks_sql(where: ChunkFilter, params: dict[str, Any]) -> str:
    """SQL for one chunk id (the lowest) per file of the JSON list ``:files`` (manifest entries of
    the tree ``:tree``) among those ``where`` allows."""
    return (
        "SELECT MIN(c.id) FROM files f JOIN chunks c ON c.unit_id = f.unit_id "
        "WHERE f.tree_id = :tree AND f.id IN (SELECT value FROM json_each(:files))"
        f"{filter_clause(where, params)} GROUP BY f.id"
    )


def unreferenced_sql() -> str:
    """SQL for the content rows among the JSON list ``:ids`` that no manifest lists any more."""
    return (
        "SELECT id, path FROM units WHERE id IN (SELECT value FROM json_each(:ids)) "
        "AND NOT EXISTS (SELECT 1 FROM files WHERE files.unit_id = units.id)"
    )
