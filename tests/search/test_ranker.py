"""The learned file ranker: its features, the shipped model, re-ordering, and the engine path."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from conexus.engine import Engine
from conexus.search.history import FileHistory
from conexus.search.localize import FileGraph, localize, rank_files
from conexus.search.ranker import (
    CANDIDATES,
    FEATURES,
    MODEL_PATH,
    ChunkEvidence,
    LinearRanker,
    QueryMentions,
    bundled_ranker,
    file_features,
    rerank_files,
    reranker,
)

ISSUE = "Retry.should_retry retries a POST after the server answered 503"


def feature(vector: list[float], name: str) -> float:
    return vector[FEATURES.index(name)]


def one_hot_model(name: str, weight: float = 5.0) -> LinearRanker:
    """A model that scores by one feature alone."""
    n = len(FEATURES)
    weights = tuple(weight if f == name else 0.0 for f in FEATURES)
    return LinearRanker(FEATURES, (0.0,) * n, (1.0,) * n, weights, 0.0, {"set": "test"})


@pytest.mark.parametrize(
    ("text", "path", "expected"),
    [
        (
            'File "/usr/lib/python3/site-packages/django/db/models/query.py", line 7',
            "django/db/models/query.py",
            1.0,
        ),
        ("see src\\flask\\app.py for the handler", "src/flask/app.py", 1.0),
        ("from django.db.models.query import QuerySet", "django/db/models/query.py", 1.0),
        ("the sympy.core package", "sympy/core/__init__.py", 1.0),
        ("something in query.py breaks", "django/db/models/query.py", 0.5),
        ("the query is slow", "django/db/models/query.py", 0.0),
        ("django/db/models/sql/query.py is fine", "django/db/models/query.py", 0.0),
        ("query.py, line 3", "django/db/models/query.py", 0.5),
    ],
)
def test_an_issue_names_a_file_by_its_path_its_dotted_module_or_its_file_name(
    text: str, path: str, expected: float
) -> None:
    assert QueryMentions.of(text).names_path(path) == expected


def test_features_take_the_signals_of_each_candidate_apart() -> None:
    hits = [
        ChunkEvidence("pkg/retry.py", 0.05, {"bm25": 1.0, "vector": 3.0}, "Retry.should_retry"),
        ChunkEvidence("pkg/retry.py", 0.03, {"vector": 1.0}, "Retry"),
        ChunkEvidence("tests/test_retry.py", 0.04, {"bm25": 2.0}, "test_post"),
    ]
    graph = FileGraph({"tests/test_retry.py": ("pkg/retry.py", "pkg/util.py")}, {"pkg/retry.py": 3})
    history = FileHistory({"pkg/util.py": 1.0}, {})
    ranked = rank_files([(h.path, h.score) for h in hits], graph)
    features = dict(file_features(ISSUE, hits, ranked, graph, history))
    assert set(features) == {"pkg/retry.py", "tests/test_retry.py", "pkg/util.py"}
    assert all(len(v) == len(FEATURES) for v in features.values())
    retry, test, util = features["pkg/retry.py"], features["tests/test_retry.py"], features["pkg/util.py"]
    assert feature(retry, "hand_rank") == 0.0 and feature(retry, "hand_score") == 1.0
    assert feature(retry, "bm25_rank") == 1.0 and feature(retry, "vector_rank") == 1.0  # best ranks: 1 and 1
    assert feature(test, "bm25_rank") == pytest.approx(1 / 1.584962500721156)  # 1 / log2(3)
    assert feature(retry, "exact_rank") == 0.0
    assert feature(retry, "symbols_named") > 0 and feature(test, "symbols_named") == 0.0
    assert feature(test, "test") == 1.0 and feature(retry, "test") == 0.0
    assert (
        feature(util, "hits") == 0.0 and feature(util, "imported") > 0
    )  # only the test's import brought it in
    assert feature(util, "similar") == 1.0 and feature(retry, "similar") == 0.0
    assert feature(retry, "centrality") > 0 and feature(retry, "code") == 1.0


def test_only_the_first_candidates_get_features() -> None:
    ranked = [(f"m{i}.py", 100.0 - i) for i in range(CANDIDATES + 10)]
    assert [p for p, _ in file_features("x", [], ranked)] == [p for p, _ in ranked[:CANDIDATES]]


def test_reranking_orders_candidates_by_the_model_and_keeps_the_rest_below_in_order() -> None:
    ranked = [("a.py", 3.0), ("b.py", 2.0), ("c.py", 1.0), ("d.py", 0.5)]
    n = len(FEATURES)
    features = [("a.py", [0.0] * n), ("b.py", [0.0] * n), ("c.py", [1.0] * n)]
    out = rerank_files(ranked, features, one_hot_model("hits"))
    assert [p for p, _ in out] == ["c.py", "a.py", "b.py", "d.py"]
    scores = [s for _, s in out]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0


def test_the_shipped_model_matches_the_features_and_was_fitted_on_the_training_set_only() -> None:
    model = bundled_ranker()
    assert model.features == FEATURES
    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    assert data["trained_on"]["set"] == "swebench-train.jsonl"
    assert MODEL_PATH.stat().st_size < 8192
    assert 0.0 < model.score([0.5] * len(FEATURES)) < 1.0


def test_a_model_for_other_features_is_refused_with_a_clear_message() -> None:
    data = bundled_ranker().to_dict()
    assert LinearRanker.from_dict(data) == bundled_ranker()
    with pytest.raises(ValueError, match=r"retrain with bench\.train_ranker"):
        LinearRanker.from_dict({**data, "features": data["features"][:-1]})
    with pytest.raises(ValueError, match="one positive entry per feature"):
        LinearRanker.from_dict({**data, "scale": [0.0] * len(FEATURES)})


def test_localize_hands_its_hand_tuned_ranking_to_the_reranker_before_choosing_focus_files(
    golden_repo: Path, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(golden_repo, embedder="bundled")
    engine.index()
    plain, *_ = localize(engine.search, ISSUE, graph=engine.file_graph)
    assert plain.files[0][0] == "httpkit/retry.py"
    # A model that prefers test files must put one first, and stage two then searches inside it.
    tests_first, _first, second, *_ = localize(
        engine.search, ISSUE, graph=engine.file_graph, rerank=reranker(one_hot_model("test"))
    )
    top = tests_first.files[0][0]
    assert "test" in top and top in {h.path for h in second}
    assert {p for p, _ in tests_first.files} == {p for p, _ in plain.files}


def test_the_engine_uses_the_shipped_ranker_unless_the_setting_turns_it_off(
    golden_repo: Path, make_engine: Callable[..., Engine]
) -> None:
    learned = make_engine(golden_repo, embedder="bundled")
    learned.index()
    hand = make_engine(golden_repo, embedder="bundled", learned_ranker=False)
    with_model = learned.localize(ISSUE)
    without = hand.localize(ISSUE)
    assert with_model.files[0][0] == without.files[0][0] == "httpkit/retry.py"
    expected, *_ = localize(learned.search, ISSUE, graph=learned.file_graph, history=learned.file_history)
    assert [p for p, _ in without.files] == [p for p, _ in expected.files]
    scores = [s for _, s in with_model.files]
    assert all(0.0 < s < 1.0 for s in scores[: min(CANDIDATES, len(scores))])  # probabilities
