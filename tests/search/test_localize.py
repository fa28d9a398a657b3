"""Two-stage localization: the pure location ranking, and both stages on a real index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from conexus.engine import Engine
from conexus.search.localize import (
    LENGTH_CAP_LINES,
    Location,
    exact_path_glob,
    length_prior,
    localize,
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
    result, first, second, graph = localize(engine.search, ISSUE, graph=engine.file_graph)
    assert result.files[0][0] == "httpkit/retry.py"
    keys = [x.key for x in result.locations[:3]]
    assert "httpkit/retry.py::Retry.should_retry" in keys, keys
    assert {h.path for h in second} <= {p for p, _ in result.files[:5]}  # stage two stays in the focus
    assert len(first) >= len({h.path for h in first})


def test_the_engine_facade_localizes_too(golden_repo: Path, make_engine: Callable[..., Engine]) -> None:
    engine = make_engine(golden_repo, embedder="bundled")
    engine.index()
    result = engine.localize(ISSUE, focus_files=2)
    assert result.files[0][0] == "httpkit/retry.py"
    assert result.locations[0].path in {p for p, _ in result.files[:2]}
