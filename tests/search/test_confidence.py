"""The confidence of a search: the pure scoring function, its labels and the sentence it says."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conexus.models import ConfidenceSignals
from conexus.search.confidence import (
    COEFFICIENTS,
    FEATURES,
    GOOD_MATCH,
    assess,
    features,
    gather,
    label_of,
    probability,
)

N_DOCS = 1000


def _signals(**changes: object) -> ConfidenceSignals:
    base: dict[str, object] = {
        "coverage": 0.5,
        "absent": 0.0,
        "cosine": 0.4,
        "exact": False,
        "agree": False,
        "gap": 0.3,
        "long_query": False,
        "n_terms": 2,
        "covered_terms": 1,
    }
    base.update(changes)
    return ConfidenceSignals(**base)  # type: ignore[arg-type]


def test_the_model_has_an_intercept_and_one_weight_per_feature() -> None:
    assert len(COEFFICIENTS) == len(FEATURES) + 1
    assert len(features(_signals())) == len(FEATURES)


def test_a_query_whose_main_word_no_chunk_holds_is_no_good_match_and_the_reason_names_it() -> None:
    s = gather(
        terms={"websocket": 1.0, "support": 1.0},
        doc_freq={"support": 12},
        n_docs=N_DOCS,
        hit_tokens=[{"support", "doc"}, {"support"}],
        hit_signals=[{"bm25": 1, "vector": 2}, {"bm25": 2}],
        fused=[0.03, 0.029, 0.028, 0.027, 0.026, 0.025, 0.024, 0.023, 0.022, 0.021],
        best_cosine=0.33,
        long_query=False,
    )
    assert s.missing_terms == ("websocket",) and s.n_terms == 2 and s.covered_terms == 1
    assert 0.5 < s.absent < 1 and 0 < s.coverage < 0.5
    c = assess(s)
    assert c.no_good_match and c.label in {"low", "none"} and c.score < GOOD_MATCH
    assert c.reason.startswith("No strong match: the best hit covers 1 of 2 query terms")
    assert "'websocket' occurs nowhere in the index" in c.reason


def test_an_exact_identifier_match_on_top_covering_every_term_is_high_confidence() -> None:
    s = gather(
        terms={"timeoutsauce": 2.0, "timeout": 1.0, "sauc": 1.0},
        doc_freq={"timeoutsauce": 2, "timeout": 80, "sauc": 2},
        n_docs=N_DOCS,
        hit_tokens=[{"timeoutsauce", "timeout", "sauc", "send"}],
        hit_signals=[{"bm25": 1, "exact": 1, "vector": 40}],
        fused=[0.09, 0.06, 0.03, 0.03, 0.03, 0.03, 0.03, 0.02, 0.02, 0.02],
        best_cosine=0.45,
        long_query=False,
    )
    assert s.exact and s.coverage == 1.0 and s.absent == 0.0
    c = assess(s)
    assert not c.no_good_match and c.label == "high"
    assert c.reason.startswith("Good match: an exact name, fragment or path match is on top")


def test_coverage_counts_the_best_of_the_first_hits_not_only_the_first() -> None:
    s = gather(
        terms={"proxy": 1.0, "auth": 1.0},
        doc_freq={"proxy": 5, "auth": 5},
        n_docs=N_DOCS,
        hit_tokens=[{"proxy"}, {"proxy", "auth"}],
        hit_signals=[{"bm25": 1}],
        fused=[0.03],
        best_cosine=None,
        long_query=False,
    )
    assert s.coverage == 1.0 and s.covered_terms == 2 and s.gap == 0.0


def test_a_query_with_nothing_searchable_matches_nothing_well() -> None:
    c = assess(_signals(n_terms=0, covered_terms=0, coverage=0.0))
    assert c.score == 0.0 and c.label == "none" and c.no_good_match


def test_without_a_vector_side_the_neutral_cosine_is_used() -> None:
    assert assess(_signals(cosine=None)).signals.cosine is None
    assert 0 < assess(_signals(cosine=None)).score < 1


@pytest.mark.parametrize(
    ("score", "label"), [(0.95, "high"), (0.8, "high"), (0.6, "medium"), (0.3, "low"), (0.05, "none")]
)
def test_labels_follow_the_score(score: float, label: str) -> None:
    assert label_of(score) == label


@given(st.floats(0, 1), st.floats(0, 1))
def test_more_coverage_never_lowers_and_more_absent_terms_never_raise_the_score(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert assess(_signals(coverage=lo)).score <= assess(_signals(coverage=hi)).score
    assert assess(_signals(absent=lo)).score >= assess(_signals(absent=hi)).score


def test_the_logistic_model_is_bounded_and_does_not_overflow() -> None:
    assert probability([0.0] * len(FEATURES), [-1000.0] + [0.0] * len(FEATURES)) == 0.0
    assert probability([0.0] * len(FEATURES), [1000.0] + [0.0] * len(FEATURES)) == 1.0


def test_the_json_form_carries_score_label_flag_reason_and_signals() -> None:
    data = assess(_signals(missing_terms=("kafka",), absent=0.6)).to_dict()
    assert set(data) == {"score", "label", "no_good_match", "reason", "signals"}
    assert data["signals"]["missing_terms"] == ["kafka"]  # type: ignore[index]
