"""Pure builders of the SQL the PostgreSQL store runs, and of the rows it writes: testable without a server.

No caller text reaches SQL syntax: terms, names, paths and ids are bound
parameters (``%(name)s``); what is formatted into the text is only numbers
(limits, dimensions, weights) and fixed column names.

Lexical retrieval is FTS5's ``bm25()`` recomputed over the ``postings`` table
(see :mod:`conexus.store.lexicon` for the tokens, weights and constants):

    score(chunk) = Σ_phrases idf · f·(k1 + 1) / (f + k1·(1 − b + b·dl/avgdl))

where ``f`` is the phrase's count in the chunk, each instance weighted by its
field (name 4, path 2, body 1; 0 outside ``fields``), ``dl`` the chunk's
length in tokens over every field, ``avgdl`` the mean over the index, and
``idf = max(ln((N − n + 0.5)/(n + 0.5)), 1e-6)`` with ``n`` the chunks holding
the phrase (in ``fields``) and ``N`` the chunks of the index — FTS5's formula,
so the scores of the two backends are on one scale.

An index is a tree listing contents (``migrations/0002_shared_content.sql``):
every query is restricted to the contents the manifest of ``%(ix)s`` lists, and
``N``, ``avgdl`` and ``n`` are the tree's own (the SQLite backend's are those of
its database, which for one tree are the same).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conexus.models import Chunk
from conexus.store.base import LEXICAL_FIELDS, ChunkFilter
from conexus.store.lexicon import BM25_B, BM25_K1, FIELD_WEIGHTS, check_fields, field_tokens

#: Bits of a position that hold the offset inside its field (the field number is above them).
FIELD_SHIFT = 24
_MAX_OFFSET = (1 << FIELD_SHIFT) - 1
_TF_COLUMNS = ("tf_name", "tf_path", "tf_body")


def clean_text(text: str) -> str:
    """``text`` as PostgreSQL can store it: a NUL (which ``text`` cannot hold) becomes U+FFFD."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def clean_optional(text: str | None) -> str | None:
    return None if text is None else clean_text(text)


# -- rows ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChunkTerms:
    """The lexical rows of one chunk: per term its counts per field and positions; its length."""

    length: int
    terms: dict[str, tuple[int, int, int, list[int]]]


def chunk_terms(path: str, chunk: Chunk) -> ChunkTerms:
    """What the ``postings`` table holds for a chunk: the tokens FTS5 would index, with positions."""
    counts: dict[str, list[Any]] = {}
    length = 0
    for field_no, tokens in enumerate(field_tokens(path, chunk)):
        length += len(tokens)
        base = field_no << FIELD_SHIFT
        for offset, token in enumerate(tokens):
            entry = counts.get(token)
            if entry is None:
                entry = counts[token] = [0, 0, 0, []]
            entry[field_no] += 1
            entry[3].append(base | min(offset, _MAX_OFFSET))
    return ChunkTerms(length, {t: (e[0], e[1], e[2], e[3]) for t, e in counts.items()})


# -- filters ---------------------------------------------------------------------------------------
def in_tree(alias: str) -> str:
    """The condition that the row ``alias`` (with a ``unit_id``) belongs to the tree ``%(ix)s``."""
    return f"{alias}.unit_id IN (SELECT unit_id FROM files WHERE index_id = %(ix)s)"


def filter_clause(where: ChunkFilter, params: dict[str, Any], alias: str) -> str:
    """``AND ...`` conditions of ``where`` on a table ``alias`` with ``unit_id`` and ``kind`` columns.

    File ids are manifest entries (``files.id``): a row passes when its content is one of theirs.
    """
    sql = ""
    if where.sorted_file_ids is not None:
        sql += f" AND {alias}.unit_id IN (SELECT unit_id FROM files WHERE id = ANY(%(file_ids)s::bigint[]))"
        params["file_ids"] = list(where.sorted_file_ids)
    if where.sorted_kinds is not None:
        sql += f" AND {alias}.kind = ANY(%(kinds)s::text[])"
        params["kinds"] = list(where.sorted_kinds)
    return sql


# -- lexical ---------------------------------------------------------------------------------------
def _field_weights(fields: Sequence[str] | None) -> tuple[float, float, float]:
    w = [
        weight if fields is None or name in fields else 0.0
        for name, weight in zip(LEXICAL_FIELDS, FIELD_WEIGHTS, strict=True)
    ]
    return w[0], w[1], w[2]


def lexical_sql(
    phrases: Sequence[tuple[str, ...]],
    limit: int,
    where: ChunkFilter,
    params: dict[str, Any],
    *,
    require_all: bool = False,
    fields: Sequence[str] | None = None,
) -> str | None:
    """SQL for BM25 candidates ``(chunk_id, score)`` of ``phrases`` in the index ``%(ix)s``, best first,
    ``limit`` of those ``where`` allows; None when nothing can match.

    ``phrases`` are :func:`conexus.store.lexicon.query_phrases` of the caller's terms.

    Any phrase matches, or all with ``require_all``; an empty phrase matches nothing
    (so a query requiring one matches nothing); a repeated phrase counts as often as
    it is given, as in FTS5. Ties are broken by chunk id.

    Raises:
        QueryError: a field that is not one of :data:`conexus.store.base.LEXICAL_FIELDS`.
    """
    check_fields(fields)
    if where.matches_nothing or (require_all and any(not p for p in phrases)):
        return None
    multiplicity = Counter(p for p in phrases if p)
    if not multiplicity:
        return None
    weights = _field_weights(fields)
    singles = [p for p in multiplicity if len(p) == 1]
    multis = [p for p in multiplicity if len(p) > 1]
    f_expr = " + ".join(f"{w}*p.{col}" for w, col in zip(weights, _TF_COLUMNS, strict=True) if w)
    parts: list[str] = []
    if singles:
        params["terms"] = [p[0] for p in singles]
        cond = f" AND ({f_expr}) > 0" if fields is not None else ""
        parts.append(
            "SELECT array_position(%(terms)s::text[], p.term) AS q, p.chunk_id, "
            f"({f_expr})::float8 AS f, p.dl FROM postings p "
            f"WHERE p.term = ANY(%(terms)s::text[]) AND {in_tree('p')}{cond}"
        )
    for j, phrase in enumerate(multis):
        parts.append(_phrase_hits(j, len(singles) + 1 + j, phrase, weights, params))
    order = singles + multis
    mult = ""
    if any(multiplicity[p] > 1 for p in order):
        params["mult"] = [float(multiplicity[p]) for p in order]
        mult = "(%(mult)s::float8[])[h.q] * "
    filtered = not where.is_empty
    join = " JOIN chunks c ON c.id = h.chunk_id" if filtered else ""
    having = f" HAVING count(*) = {len(order)}" if require_all and len(order) > 1 else ""
    k1, b = BM25_K1, BM25_B
    return (
        "WITH hits AS MATERIALIZED (" + " UNION ALL ".join(parts) + "), "
        "df AS (SELECT q, count(*)::float8 AS n FROM hits GROUP BY q), "
        "st AS (SELECT n_chunks::float8 AS n, n_tokens::float8 / greatest(n_chunks, 1) AS avgdl "
        "FROM indexes WHERE id = %(ix)s) "
        f"SELECT h.chunk_id, sum({mult}greatest(ln((st.n - df.n + 0.5) / (df.n + 0.5)), 1e-6) "
        f"* h.f * {k1 + 1} / (h.f + {k1} * ({1 - b} + {b} * h.dl / greatest(st.avgdl, 1e-9)))) AS score "
        f"FROM hits h JOIN df ON df.q = h.q CROSS JOIN st{join} "
        f"WHERE TRUE{filter_clause(where, params, 'c') if filtered else ''} "
        f"GROUP BY h.chunk_id{having} ORDER BY score DESC, h.chunk_id LIMIT {int(limit)}"
    )


def _phrase_hits(
    j: int, q: int, phrase: tuple[str, ...], weights: tuple[float, float, float], params: dict[str, Any]
) -> str:
    """Hits ``(q, chunk_id, f, dl)`` of a phrase: its first token's positions followed by the others'."""
    joins = []
    conds = [f"p0.term = %(ph{j}_0)s", in_tree("p0")]
    params[f"ph{j}_0"] = phrase[0]
    for i, token in enumerate(phrase[1:], start=1):
        params[f"ph{j}_{i}"] = token
        joins.append(f" JOIN postings p{i} ON p{i}.term = %(ph{j}_{i})s AND p{i}.chunk_id = p0.chunk_id")
        conds.append(f"x.pos + {i} = ANY(p{i}.positions)")
    allowed = [str(n) for n, w in enumerate(weights) if w]
    if len(allowed) < len(weights):
        conds.append(f"(x.pos >> {FIELD_SHIFT}) IN ({', '.join(allowed)})")
    weight = (
        f"CASE x.pos >> {FIELD_SHIFT} WHEN 0 THEN {weights[0]} WHEN 1 THEN {weights[1]} ELSE {weights[2]} END"
    )
    return (
        f"SELECT {q} AS q, p0.chunk_id, sum({weight})::float8 AS f, min(p0.dl) AS dl "
        "FROM postings p0 CROSS JOIN LATERAL unnest(p0.positions) AS x(pos)"
        + "".join(joins)
        + " WHERE "
        + " AND ".join(conds)
        + " GROUP BY p0.chunk_id"
    )


def doc_frequency_sql() -> str:
    """SQL for ``(term, chunks holding it)`` of the terms ``%(terms)s`` in the index ``%(ix)s``."""
    return (
        f"SELECT term, count(*) FROM postings p WHERE term = ANY(%(terms)s::text[]) AND {in_tree('p')} "
        "GROUP BY term"
    )


# -- vectors ---------------------------------------------------------------------------------------
def nearest_sql(dim: int, limit: int, where: ChunkFilter, params: dict[str, Any], *, exact: bool) -> str:
    """SQL for the ``limit`` chunks nearest ``%(q)s`` (a halfvec) by cosine in the index ``%(ix)s``,
    as ``(chunk_id, cosine)``, best first, ties by chunk id.

    ``exact`` compares every allowed vector (an expression the HNSW index does not
    serve); otherwise the ``dim``'s HNSW index is scanned (iteratively, when the
    caller set ``hnsw.iterative_scan``) and its rows re-ordered by exact distance,
    since a relaxed-order scan may return them slightly out of order.
    """
    d = int(dim)
    cond = f"v.dim = {d} AND {in_tree('v')}" + filter_clause(where, params, "v")
    if exact:
        return (
            "SELECT v.chunk_id, 1 - (v.embedding <=> %(q)s::halfvec) AS sim FROM vectors v "
            f"WHERE {cond} ORDER BY sim DESC, v.chunk_id LIMIT {int(limit)}"
        )
    distance = f"v.embedding::halfvec({d}) <=> %(q)s::halfvec({d})"
    return (
        f"WITH near AS MATERIALIZED (SELECT v.chunk_id, {distance} AS dist FROM vectors v "
        f"WHERE {cond} ORDER BY {distance} LIMIT {int(limit)}) "
        "SELECT chunk_id, 1 - dist AS sim FROM near ORDER BY dist, chunk_id"
    )


def allowed_vectors_sql(where: ChunkFilter, params: dict[str, Any]) -> str:
    """SQL for the number of vectors of the index ``%(ix)s`` that ``where`` allows."""
    return f"SELECT count(*) FROM vectors v WHERE {in_tree('v')}" + filter_clause(where, params, "v")


# -- symbols and chunks ----------------------------------------------------------------------------
def symbol_sql(limit: int, where: ChunkFilter, params: dict[str, Any]) -> str:
    """SQL for ``(chunk_id, name)`` of the chunks defining one of ``%(names)s`` (lower-cased), by name."""
    if where.is_empty:
        return (
            "SELECT n.chunk_id, n.name FROM chunk_names n WHERE lower(n.name) = ANY(%(names)s::text[]) "
            f"AND {in_tree('n')} ORDER BY lower(n.name), n.chunk_id LIMIT {int(limit)}"
        )
    return (
        "SELECT n.chunk_id, n.name FROM chunk_names n JOIN chunks c ON c.id = n.chunk_id "
        f"WHERE lower(n.name) = ANY(%(names)s::text[]) AND {in_tree('n')}"
        f"{filter_clause(where, params, 'c')} ORDER BY lower(n.name), n.chunk_id LIMIT {int(limit)}"
    )


def first_chunks_sql(where: ChunkFilter, params: dict[str, Any]) -> str:
    """SQL for the lowest chunk id of each file of ``%(files)s`` (entries of the tree ``%(ix)s``)
    among those ``where`` allows, by file."""
    return (
        "SELECT min(c.id) FROM files f JOIN chunks c ON c.unit_id = f.unit_id "
        "WHERE f.index_id = %(ix)s AND f.id = ANY(%(files)s::bigint[])"
        f"{filter_clause(where, params, 'c')} GROUP BY f.id ORDER BY f.id"
    )


def chunk_ids_sql(where: ChunkFilter, params: dict[str, Any]) -> str:
    """SQL for the ids of every chunk of the tree ``%(ix)s`` that ``where`` allows, ascending."""
    return (
        "SELECT c.id FROM files f JOIN chunks c ON c.unit_id = f.unit_id WHERE f.index_id = %(ix)s"
        + filter_clause(where, params, "c")
        + " ORDER BY c.id"
    )


def unreferenced_sql() -> str:
    """SQL locking the contents among ``%(ids)s`` that no manifest lists, skipping those another
    transaction is listing (it holds a lock on them: they are not collected)."""
    return (
        "SELECT c.id FROM units c WHERE c.id = ANY(%(ids)s::bigint[]) "
        "AND NOT EXISTS (SELECT 1 FROM files f WHERE f.unit_id = c.id) "
        "ORDER BY c.id FOR UPDATE SKIP LOCKED"
    )
