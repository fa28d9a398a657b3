"""Two-stage localization: the pure location ranking, and both stages on a real index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conexus.engine import Engine
from conexus.search.fusion import aggregate_files
from conexus.search.localize import (
    CENTRALITY_CAP,
    CODE_IMPORT_SHARE,
    LENGTH_CAP_LINES,
    MAX_IMPORT_FANOUT,
    FileGraph,
    Location,
    centrality,
    exact_path_glob,
    length_prior,
    localize,
    rank_files,
    rank_locations,
)


def loc(path: str, symbol: str, score: float, start: int = 1) -> Location:
    return Location(path, symbol, start, start + 5, score)


def test_a_weaker_chunk_in_a_much_better_file_outranks_a_stronger_one_in_a_weak_file() -> None:
    files = [("a.py", 10.0), ("b.py", 1.0)]
    focused = [loc("b.py", "strong", 1.0), loc("a.py", "weaker", 0.8)]
    ranked = rank_locations(files, focused, [])
    assert [x.symbol for x in ranked] == ["weaker", "strong"]


def test_without_file_weight_the_chunk_scores_alone_decide() -> None:
    files = [("a.py", 10.0), ("b.py", 1.0)]
    focused = [loc("b.py", "strong", 1.0), loc("a.py", "weaker", 0.8)]
    ranked = rank_locations(files, focused, [], file_weight=0.0)
    assert [x.symbol for x in ranked] == ["strong", "weaker"]


def test_split_parts_of_one_symbol_appear_once_and_fallbacks_follow() -> None:
    files = [("a.py", 1.0)]
    focused = [loc("a.py", "big", 0.9, 1), loc("a.py", "big", 0.5, 100), loc("a.py", "", 0.4)]
    fallback = [loc("a.py", "big", 9.0), loc("z.py", "elsewhere", 5.0)]
    ranked = rank_locations(files, focused, fallback)
    assert [x.key for x in ranked] == ["a.py::big", "a.py::imports", "z.py::elsewhere"]
    assert ranked[0].start_line == 1  # the best part stands for the symbol


def test_of_two_equally_matching_symbols_the_longer_one_ranks_first() -> None:
    files = [("a.py", 1.0)]
    focused = [
        Location("a.py", "C.getter", 10, 12, 1.0),
        Location("a.py", "C.logic", 20, 80, 1.0),
    ]
    ranked = rank_locations(files, focused, [])
    assert [x.symbol for x in ranked] == ["C.logic", "C.getter"]
    unweighted = rank_locations(files, focused, [], length_weight=0.0)
    assert [x.symbol for x in unweighted] == ["C.getter", "C.logic"]


def test_a_symbol_the_whole_index_search_also_found_ranks_first_among_equals() -> None:
    files = [("a.py", 1.0)]
    focused = [Location("a.py", "f", 1, 20, 1.0), Location("a.py", "g", 30, 49, 1.0)]
    fallback = [Location("a.py", "g", 30, 49, 0.02), Location("z.py", "best", 1, 9, 0.04)]
    assert [x.symbol for x in rank_locations(files, focused, fallback)][:2] == ["g", "f"]
    ranked = rank_locations(files, focused, fallback, first_weight=0.0)
    assert [x.symbol for x in ranked][:2] == ["f", "g"]  # ties broken by position
    # The lift is the symbol's whole-index score relative to that search's best: 0.25 x 0.02/0.04.
    by_symbol = {x.symbol: x.score for x in rank_locations(files, focused, fallback)}
    assert by_symbol["g"] - by_symbol["f"] == pytest.approx(0.25 * 0.5)


def test_a_split_symbol_is_as_long_as_all_its_parts() -> None:
    files = [("a.py", 1.0)]
    # "big" is found as two 10-line parts 100 lines apart; "mid" is one 40-line chunk.
    focused = [
        Location("a.py", "mid", 300, 339, 1.0),
        Location("a.py", "big", 1, 10, 1.0),
        Location("a.py", "big", 100, 109, 0.5),
    ]
    assert [x.symbol for x in rank_locations(files, focused, [])] == ["big", "mid"]


@given(st.integers(-5, 10_000), st.integers(-5, 10_000))
def test_the_length_prior_grows_with_length_within_zero_and_one(a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    assert 0.0 <= length_prior(lo) <= length_prior(hi) <= 1.0
    assert length_prior(1) == 0.0
    assert length_prior(LENGTH_CAP_LINES) == length_prior(10 * LENGTH_CAP_LINES) == 1.0


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a.py", "b.py", "c.py"]), st.sampled_from(["f", "g", "C.m", ""]), st.floats(0, 1)
        ),
        max_size=30,
    )
)
def test_every_symbol_is_ranked_exactly_once(items: list[tuple[str, str, float]]) -> None:
    focused = [loc(p, s, sc) for p, s, sc in items]
    files = [("a.py", 3.0), ("b.py", 2.0), ("c.py", 1.0)]
    ranked = rank_locations(files, focused, focused[::-1])
    keys = [x.key for x in ranked]
    assert len(keys) == len(set(keys)) == len({x.key for x in focused})


def test_without_a_graph_files_rank_as_their_chunks_add_up() -> None:
    hits = [("a.py", 1.0), ("b.py", 0.9), ("a.py", 0.5), ("c.py", 0.2)]
    expected = aggregate_files(range(4), {i: h[1] for i, h in enumerate(hits)}, lambda i: hits[i][0])
    assert rank_files(hits) == expected
    assert rank_files(hits, FileGraph()) == expected  # an empty graph changes nothing


def test_a_matching_test_lifts_the_module_it_imports_over_a_slightly_better_match() -> None:
    # The issue's words match the test of the broken module best; the module itself barely.
    hits = [("tests/test_parser.py", 1.0), ("pkg/lexer.py", 0.5), ("pkg/parser.py", 0.3)]
    imported = ("pkg/parser.py", "tests/helpers.py", "pkg/__init__.py", "web/index.ts", "pkg/mod.py")
    graph = FileGraph({"tests/test_parser.py": imported})
    ranked = dict(rank_files(hits, graph))
    assert ranked["pkg/parser.py"] > ranked["pkg/lexer.py"]
    assert ranked["pkg/parser.py"] == 0.3 + 0.4 * 1.0
    # Tests and package entry files receive nothing, and nothing enters the ranking through them;
    # a module merely named like an entry file elsewhere (mod.py) is an ordinary module.
    assert not {"tests/helpers.py", "pkg/__init__.py", "web/index.ts"} & ranked.keys()
    assert ranked["pkg/mod.py"] == 0.4
    assert [p for p, _ in rank_files(hits)][:2] == ["tests/test_parser.py", "pkg/lexer.py"]


def test_code_passes_less_than_a_test_and_a_target_keeps_the_largest_offer() -> None:
    hits = [("pkg/api.py", 1.0), ("tests/test_api.py", 1.0)]
    graph = FileGraph({"pkg/api.py": ("pkg/core.py",), "tests/test_api.py": ("pkg/core.py", "pkg/api.py")})
    ranked = dict(rank_files(hits, graph))
    assert ranked["pkg/core.py"] == 0.4  # max(0.2 from api.py, 0.4 from the test), not the sum
    only_code = dict(rank_files(hits[:1], graph))
    assert only_code["pkg/core.py"] == 0.2


def test_a_file_importing_too_many_files_passes_nothing() -> None:
    many = tuple(f"pkg/m{i}.py" for i in range(MAX_IMPORT_FANOUT + 1))
    ranked = rank_files([("tests/conftest.py", 1.0)], FileGraph({"tests/conftest.py": many}))
    assert [p for p, _ in ranked] == ["tests/conftest.py"]
    ranked = rank_files([("tests/conftest.py", 1.0)], FileGraph({"tests/conftest.py": many[:-1]}))
    assert len(ranked) == 1 + MAX_IMPORT_FANOUT


def test_centrality_orders_near_ties_but_not_clear_leads() -> None:
    graph = FileGraph(in_degree={"core.py": 40, "leaf.py": 0})
    assert [p for p, _ in rank_files([("leaf.py", 1.0), ("core.py", 0.95)], graph)] == ["core.py", "leaf.py"]
    assert [p for p, _ in rank_files([("leaf.py", 1.0), ("core.py", 0.7)], graph)] == ["leaf.py", "core.py"]


@given(st.integers(-5, 10_000), st.integers(-5, 10_000))
def test_centrality_grows_with_importers_within_zero_and_one(a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    assert 0.0 <= centrality(lo) <= centrality(hi) <= 1.0
    assert centrality(0) == 0.0
    assert centrality(CENTRALITY_CAP) == centrality(10 * CENTRALITY_CAP) == 1.0


@given(
    st.lists(st.tuples(st.sampled_from(["a.py", "b.py", "tests/test_a.py"]), st.floats(0, 1)), max_size=20),
    st.dictionaries(st.sampled_from(["a.py", "b.py", "c.py"]), st.integers(0, 100)),
)
def test_every_hit_file_is_ranked_once_and_graph_round_trips(
    hits: list[tuple[str, float]], in_degree: dict[str, int]
) -> None:
    graph = FileGraph({"tests/test_a.py": ("a.py", "c.py"), "a.py": ("b.py",)}, in_degree)
    ranked = rank_files(hits, graph)
    paths = [p for p, _ in ranked]
    assert len(paths) == len(set(paths))
    assert {p for p, _ in hits} <= set(paths)
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    assert FileGraph.from_dict(graph.to_dict()) == graph


def test_exact_path_globs_escape_glob_characters() -> None:
    assert exact_path_glob("pkg/[id]/page*.ts") == "/pkg/\\[id\\]/page\\*.ts"


ISSUE = (
    "Retry gives up one attempt too early.\n\n"
    "With Retry(total=3) a 503 response is retried only twice: the check of the remaining "
    "attempts looks off by one. Expected three retries of a retryable status, as the docs "
    "of the retry policy say. The backoff between attempts is fine."
)


def test_an_issue_finds_its_file_first_and_its_function_near_the_top(
    golden_repo: Path, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(golden_repo, embedder="bundled")
    engine.index()
    result, first, second, graph, _history = localize(engine.search, ISSUE, graph=engine.file_graph)
    assert result.files[0][0] == "httpkit/retry.py"
    keys = [x.key for x in result.locations[:3]]
    assert "httpkit/retry.py::Retry.should_retry" in keys, keys
    assert {h.path for h in second} <= {p for p, _ in result.files[:5]}  # stage two stays in the focus
    assert len(first) >= len({h.path for h in first})
    assert graph is not None and set(graph.imports) <= {h.path for h in first}


def test_the_engine_facade_localizes_too(golden_repo: Path, make_engine: Callable[..., Engine]) -> None:
    engine = make_engine(golden_repo, embedder="bundled")
    engine.index()
    result = engine.localize(ISSUE, focus_files=2)
    assert result.files[0][0] == "httpkit/retry.py"
    assert result.locations[0].path in {p for p, _ in result.files[:2]}


def test_a_c_file_passes_nothing_to_its_own_header_but_does_to_other_headers() -> None:
    graph = FileGraph(imports={"lib/zdict.c": ("lib/zdict.h", "lib/mem.h")}, in_degree={})
    ranked = dict(rank_files([("lib/zdict.c", 1.0), ("lib/zdict.h", 0.9), ("lib/mem.h", 0.1)], graph))
    assert ranked["lib/zdict.h"] == pytest.approx(0.9)  # its own score only
    assert ranked["lib/mem.h"] == pytest.approx(0.1 + CODE_IMPORT_SHARE * 1.0)
    assert max(ranked, key=ranked.__getitem__) == "lib/zdict.c"


def test_rust_crate_roots_are_entry_files_that_receive_no_share() -> None:
    graph = FileGraph(imports={"src/walk.rs": ("src/main.rs", "src/exec/mod.rs")}, in_degree={})
    ranked = dict(rank_files([("src/walk.rs", 1.0), ("src/main.rs", 0.5)], graph))
    assert ranked["src/main.rs"] == pytest.approx(0.5)
    assert ranked["src/exec/mod.rs"] == pytest.approx(CODE_IMPORT_SHARE)
