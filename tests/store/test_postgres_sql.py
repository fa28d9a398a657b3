"""The PostgreSQL store's pure parts, without a server: the SQL builders, the rows a chunk
becomes, how query terms are read, and how URLs are named and masked."""

from __future__ import annotations

import pytest

from conexus.config import mask_url
from conexus.errors import ConfigError, QueryError
from conexus.models import Chunk
from conexus.store.base import ChunkFilter
from conexus.store.lexicon import fts_split, query_phrases
from tests import postgres

postgres.require_extra()

from conexus.store.postgres import sql  # noqa: E402
from conexus.store.postgres.connection import describe, scrub  # noqa: E402


def test_query_terms_are_read_as_fts5_reads_a_quoted_string() -> None:
    assert query_phrases(["header", "parse_header", "a OR b", "*", "", "Café"]) == [
        ("header",),
        ("parse_header",),
        ("a", "or", "b"),
        (),
        ("cafe",),
    ]
    assert fts_split("body : x") == ["body", "x"]


def test_lexical_sql_binds_every_term_and_matches_nothing_when_nothing_can_match() -> None:
    params: dict[str, object] = {"ix": 1}
    text = sql.lexical_sql(query_phrases(["x'); DROP TABLE chunks; --", "header"]), 10, ChunkFilter(), params)
    assert text is not None and "DROP" not in text and "header" not in text
    assert params["terms"] == ["header"] and "drop" in params.values()
    assert sql.lexical_sql([], 10, ChunkFilter(), {}) is None
    assert sql.lexical_sql([()], 10, ChunkFilter(), {}) is None
    assert sql.lexical_sql([("a",), ()], 10, ChunkFilter(), {}, require_all=True) is None
    assert sql.lexical_sql([("a",)], 10, ChunkFilter(file_ids=frozenset()), {}) is None
    with pytest.raises(QueryError, match="unknown lexical fields"):
        sql.lexical_sql([("a",)], 10, ChunkFilter(), {}, fields=("nope",))


def test_filters_are_bound_arrays_inside_each_query() -> None:
    where = ChunkFilter(file_ids=frozenset({3, 1}), kinds=frozenset({"function"}))
    params: dict[str, object] = {"ix": 1}
    text = sql.nearest_sql(384, 20, where, params, exact=False)
    assert "WHERE id = ANY(%(file_ids)s::bigint[])" in text and "v.kind = ANY(%(kinds)s::text[])" in text
    assert "v.unit_id IN (SELECT unit_id FROM files WHERE index_id = %(ix)s)" in text
    assert "embedding::halfvec(384)" in text and "dim = 384" in text
    assert params["file_ids"] == [1, 3] and params["kinds"] == ["function"]
    exact = sql.nearest_sql(384, 20, where, {}, exact=True)
    assert "halfvec(384)" not in exact  # an expression the HNSW index does not serve: exact


def test_a_chunk_becomes_postings_with_counts_per_field_and_positions() -> None:
    chunk = Chunk(
        "src/parse_header.py",
        1,
        2,
        "python",
        "function",
        "def parse_header(v):\n    header = v",
        "parse_header",
    )
    terms = sql.chunk_terms(chunk.path, chunk)
    name_n, path_n, body_n, positions = terms.terms["parse_header"]
    assert (name_n, path_n, body_n) == (1, 1, 1)
    fields = sorted(p >> sql.FIELD_SHIFT for p in positions)
    assert fields == [0, 1, 2]
    assert terms.terms["header"][2] == 2  # "parse_header" and "header" in the body
    assert terms.length == sum(sum(t[:3]) for t in terms.terms.values())


def test_text_postgresql_cannot_store_is_replaced() -> None:
    assert sql.clean_text("a\x00b") == "a\ufffdb" and sql.clean_optional(None) is None


def test_urls_are_named_without_their_password() -> None:
    assert describe("postgresql://conexus:pw@db.example:6432/idx?sslmode=require") == (
        "postgresql://conexus@db.example:6432/idx"
    )
    assert (
        describe("postgresql://postgres:@/postgres?host=/tmp/pg")
        == "postgresql://postgres@[/tmp/pg]/postgres"
    )
    assert (
        scrub('failed for "u" with pw hunter2', "postgresql://u:hunter2@h/db") == 'failed for "u" with pw ***'
    )
    assert mask_url("postgresql://u:hunter2@h/db") == "postgresql://u:***@h/db"
    assert (
        mask_url("postgresql://h/db?password=hunter2&sslmode=x") == "postgresql://h/db?password=***&sslmode=x"
    )
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(ConfigError, match="not a valid PostgreSQL URL"):
        describe("postgresql://h:notaport:5/db?sslmode")
