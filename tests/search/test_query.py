import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conexus.search.query import analyze
from conexus.store.sqlite.sql import match_expression


def _fts() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize=\"unicode61 tokenchars '_'\")")
    conn.execute("INSERT INTO t(body) VALUES ('parse_header_links parse header links value')")
    return conn


CONN = _fts()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_any_string_builds_terms_whose_fts_expression_sqlite_accepts(query: str) -> None:
    expr = match_expression(analyze(query).lexical_terms())
    if expr:
        CONN.execute("SELECT rowid FROM t WHERE t MATCH ?", (expr,)).fetchall()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(list("\"*():^-+{}[]NEAR AND OR NOT \\/'`~!@#$%&|<>.,;\x00\n\t")), max_size=400)
)
def test_fts_operators_and_punctuation_never_reach_fts_syntax(chars: list[str]) -> None:
    expr = match_expression(analyze("".join(chars) + " parse").lexical_terms())
    CONN.execute("SELECT rowid FROM t WHERE t MATCH ?", (expr,)).fetchall()


def test_ten_kilobyte_punctuation_heavy_query_is_analyzed() -> None:
    query = ('"); DROP TABLE x; -- (*) ^^ NEAR/3 "unbalanced AND OR NOT {col}: ' * 200)[:10_240]
    plan = analyze(query)
    expr = match_expression(plan.lexical_terms())
    assert expr
    CONN.execute("SELECT rowid FROM t WHERE t MATCH ?", (expr,)).fetchall()


def test_issue_text_yields_paths_identifiers_and_error_lines() -> None:
    issue = """Redirects lose the header

    Traceback (most recent call last):
      File "/usr/lib/python3/site-packages/httpkit/sessions.py", line 42, in resolve_redirects
        request.headers.pop("Authorization")
    KeyError: 'Authorization'

    Calling `Session.request()` with `allow_redirects=True` fails in httpkit/utils.py too.
    """
    plan = analyze(issue)
    assert plan.is_long
    assert "resolve_redirects" in plan.identifiers
    assert "allow_redirects" in plan.identifiers
    assert any(p.endswith("httpkit/sessions.py") for p in plan.paths)
    assert "httpkit/utils.py" in plan.paths
    assert any(line.startswith("KeyError") for line in plan.error_lines)
    assert plan.terms["resolve_redirects"] > plan.terms.get("lose", 0)


def test_stopwords_are_not_search_terms() -> None:
    plan = analyze("where are the redirects followed")
    assert "the" not in plan.terms and "where" not in plan.terms
    # Terms arrive stemmed, as the index stores them; a stop word's stem does not drop a real word.
    assert "redirect" in plan.terms and "follow" in plan.terms


def test_document_frequencies_drop_unknown_terms_and_cap_the_terms() -> None:
    plan = analyze(" ".join(f"word{i}" for i in range(200)))
    df = {f"word{i}": 1 for i in range(100)}
    terms = plan.lexical_terms(df, n_docs=1000)
    assert len(terms) <= 48
    assert all(int(t[4:]) < 100 for t in terms)


def test_very_common_terms_are_dropped_while_rarer_ones_remain() -> None:
    plan = analyze("def __init__(self, timeout)")
    df = {"def": 900, "__init__": 400, "self": 950, "timeout": 12}
    assert plan.lexical_terms(df, n_docs=1000) == ["timeout"]


def test_a_query_of_only_common_terms_keeps_its_two_rarest() -> None:
    plan = analyze("def self return")
    df = {"def": 900, "self": 950, "return": 800}
    assert set(plan.lexical_terms(df, n_docs=1000)) == {"return", "def"}


def test_a_very_large_index_keeps_the_rarest_terms_within_the_postings_budget() -> None:
    from conexus.search import query as q

    plan = analyze("read a file and decode utf-8")
    df = {"read": 45_000, "file": 40_000, "decod": 20_000, "utf": 13_000}
    small = plan.lexical_terms(df, 240_000)
    large = plan.lexical_terms(df, 1_000_000)
    assert set(small) == {"read", "file", "decod", "utf"}
    assert large == ["utf"]  # 13K fits; adding decod's 20K would not
    only_common = analyze("file").lexical_terms({"file": 110_000}, 1_000_000)
    assert only_common == ["file"] and q.POSTINGS_BUDGET < 110_000  # the rarest term is always kept


def test_compound_identifiers_become_exact_tokens_and_single_words_do_not() -> None:
    plan = analyze("TimeoutSauce and parse_header_links, not Session")
    assert plan.exact == ("timeoutsauce", "parse_header_links")


def test_rare_exact_tokens_are_those_in_a_few_chunks_rarest_first() -> None:
    plan = analyze("TimeoutSauce parse_header_links get_adapter")
    df = {"timeoutsauce": 2, "parse_header_links": 1, "get_adapter": 500}
    assert plan.rare_exact(df, max_df=20) == ["parse_header_links", "timeoutsauce"]


def test_a_short_code_fragment_is_a_phrase_of_its_index_tokens_in_order() -> None:
    plan = analyze("TimeoutSauce(connect=connect, read=read)")
    assert plan.phrase == ("timeoutsauce", "timeout", "sauc", "connect", "connect", "read", "read")
    assert analyze("from urllib3.exceptions import InvalidHeader as _InvalidHeader").phrase


@pytest.mark.parametrize("query", ["Session.send", "where are redirects followed", "foo(bar"])
def test_dotted_names_plain_words_and_tiny_fragments_are_no_phrase(query: str) -> None:
    assert analyze(query).phrase == ()


def test_an_issue_text_is_never_matched_as_a_phrase() -> None:
    assert analyze("x = compute(a, b)\n" * 10).phrase == ()
