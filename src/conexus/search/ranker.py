"""The learned file ranker: a linear model over the signals localization already computes.

The hand-tuned file ranking (:func:`~conexus.search.localize.rank_files`, then
:func:`~conexus.search.localize.apply_history`) adds its signals with fixed
weights. The learned ranker re-orders its first :data:`CANDIDATES` files by a
logistic model over those same signals taken apart (:data:`FEATURES`): the hits'
aggregate and the best rank of each of the file's chunks in every retriever's
list, the import share and centrality, the history votes, what kind of file it
is, and whether the issue names the file or its symbols. Files past the
candidates keep their order below.

The weights (a few hundred bytes, ``ranker_model.json`` beside this module)
were fitted by ``python -m bench.train_ranker`` on the training set of
SWE-bench issues only; the file records the data it saw. Everything here is
pure: features from evidence, a score from features.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from conexus.indexing.languages import detect_language
from conexus.models import Hit
from conexus.paths import is_test_path
from conexus.search.fusion import is_code_language
from conexus.search.history import FileHistory
from conexus.search.localize import (
    FileGraph,
    Reranker,
    co_change_scores,
    file_signals,
    is_entry_file,
    location_of,
)

#: Files of the hand-tuned ranking the model re-orders.
CANDIDATES = 30
#: The retrievers whose per-chunk ranks (``Hit.signals``) become features.
RETRIEVERS = ("bm25", "vector", "symbol", "exact", "path")
#: The model's inputs, in order (``ranker_model.json`` names them; a mismatch refuses the file).
FEATURES = (
    "hand_score",  # the hand-tuned score divided by the best
    "hand_rank",  # log(1 + rank - 1) in the hand-tuned ranking
    "hits",  # the hits' aggregate divided by the best aggregate
    "imported",  # the import share received, divided by the best aggregate
    "centrality",
    "similar",  # the similar-commit vote
    "co_change",
    *(f"{name}_rank" for name in RETRIEVERS),  # 1 / log2(1 + best rank of the file's chunks), 0 when absent
    "chunks",  # how many of the hits are the file's, log-scaled
    "test",
    "entry",
    "code",
    "path_named",  # 1: the issue names the path (or dotted module); 0.5: its file name only
    "symbols_named",  # log(1 + distinct symbols of the file's hits that the issue names)
)
MODEL_PATH = Path(__file__).with_name("ranker_model.json")

_PATHLIKE = re.compile(r"[\w.\-/\\]*[/\\.][\w.\-/\\]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_FILE_NAME = re.compile(r"(?<![\w/\\.\-])[\w\-]+\.[A-Za-z]\w*(?![\w/\\])")  # "query.py", not ".../query.py"
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


@dataclass(frozen=True)
class ChunkEvidence:
    """What file ranking reads of one chunk hit: its file, fused score, per-retriever ranks and symbol."""

    path: str
    score: float
    signals: Mapping[str, float]
    symbol: str = ""  # "Class.method", "function", or "" for module-level code

    @classmethod
    def of(cls, hit: Hit) -> ChunkEvidence:
        return cls(hit.path, hit.score, hit.signals, location_of(hit).symbol)


@dataclass(frozen=True)
class QueryMentions:
    """What an issue text names: path-like tokens, dotted names and identifiers."""

    paths: frozenset[str]
    dotted: frozenset[str]
    identifiers: frozenset[str]
    file_names: frozenset[str]

    @classmethod
    def of(cls, text: str) -> QueryMentions:
        paths = frozenset(
            t.replace("\\", "/").strip("./") for t in _PATHLIKE.findall(text) if "/" in t or "\\" in t
        )
        return cls(
            paths,
            frozenset(_DOTTED.findall(text)),
            frozenset(_IDENT.findall(text)),
            frozenset(_FILE_NAME.findall(text)),
        )

    def names_path(self, path: str) -> float:
        """1 when a path-like token or dotted name holds the file's last two path parts (or the
        whole path), 0.5 when its file name occurs on its own (not as the end of another path), else 0."""
        parts = path.split("/")
        tail = "/".join(parts[-2:])
        for token in self.paths:
            if f"/{token}/".find(f"/{tail}/") >= 0:
                return 1.0
        code = is_code_language(detect_language(path) or "")
        module = (path.rsplit(".", 1)[0] if code and "." in parts[-1] else path).split("/")
        if module and module[-1] in ("__init__", "index", "mod", "lib"):
            module = module[:-1]
        if len(module) >= 2:
            dotted_tail = ".".join(module[-2:])
            if any(f".{d}.".find(f".{dotted_tail}.") >= 0 for d in self.dotted):
                return 1.0
        return 0.5 if parts[-1] in self.file_names else 0.0


def _rank_feature(rank: float | None) -> float:
    return 0.0 if rank is None or rank < 1 else 1.0 / math.log2(1.0 + rank)


def file_features(
    query: str,
    hits: Sequence[ChunkEvidence],
    ranked: Sequence[tuple[str, float]],
    graph: FileGraph | None = None,
    history: FileHistory | None = None,
    *,
    candidates: int = CANDIDATES,
) -> list[tuple[str, list[float]]]:
    """The feature vector (:data:`FEATURES`) of each of the first ``candidates`` files of the
    hand-tuned ranking ``ranked``, computed from the first stage's hits, the graph and the history
    that ranking used."""
    signals = file_signals([(h.path, h.score) for h in hits], graph)
    best_hits = max((s.hits for s in signals.values()), default=0.0) or 1.0
    best_hand = (ranked[0][1] if ranked else 0.0) or 1.0
    coupled = co_change_scores(ranked, history)
    similar = history.similar if history is not None else {}
    best_rank: dict[str, dict[str, float]] = {}
    count: dict[str, int] = {}
    symbols: dict[str, set[str]] = {}
    for h in hits:
        ranks = best_rank.setdefault(h.path, {})
        for name, rank in h.signals.items():
            if name in RETRIEVERS and (name not in ranks or rank < ranks[name]):
                ranks[name] = rank
        count[h.path] = count.get(h.path, 0) + 1
        if h.symbol:
            names = symbols.setdefault(h.path, set())
            names.add(h.symbol)
            names.update(h.symbol.split("."))
    mentions = QueryMentions.of(query)
    names_in_query = mentions.identifiers | mentions.dotted
    out = []
    for position, (path, score) in enumerate(ranked[:candidates]):
        sig = signals.get(path)
        ranks = best_rank.get(path, {})
        language = detect_language(path) or ""
        vector = [
            score / best_hand,
            math.log1p(position),
            (sig.hits if sig else 0.0) / best_hits,
            (sig.imported if sig else 0.0) / best_hits,
            sig.centrality if sig else 0.0,
            similar.get(path, 0.0),
            coupled.get(path, 0.0),
            *(_rank_feature(ranks.get(name)) for name in RETRIEVERS),
            math.log1p(count.get(path, 0)),
            float(is_test_path(path)),
            float(is_entry_file(path)),
            float(is_code_language(language)),
            mentions.names_path(path),
            math.log1p(len(symbols.get(path, set()) & names_in_query)),
        ]
        out.append((path, vector))
    return out


@dataclass(frozen=True)
class LinearRanker:
    """``sigmoid(bias + Σ weight·(feature − mean)/scale)``: the probability a file is one to change."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    trained_on: Mapping[str, Any]

    def score(self, vector: Sequence[float]) -> float:
        z = self.bias + sum(
            w * (x - m) / s for w, x, m, s in zip(self.weights, vector, self.mean, self.scale, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "logistic",
            "features": list(self.features),
            "mean": [round(v, 8) for v in self.mean],
            "scale": [round(v, 8) for v in self.scale],
            "weights": [round(v, 8) for v in self.weights],
            "bias": round(self.bias, 8),
            "trained_on": dict(self.trained_on),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearRanker:
        """Raises ValueError when the file is not a logistic model over :data:`FEATURES`."""
        if data.get("kind") != "logistic" or tuple(data.get("features", ())) != FEATURES:
            raise ValueError(
                "ranker model does not match this version's features; retrain with bench.train_ranker"
            )
        n = len(FEATURES)
        mean, scale, weights = (tuple(float(v) for v in data[k]) for k in ("mean", "scale", "weights"))
        if not len(mean) == len(scale) == len(weights) == n or any(s <= 0 for s in scale):
            raise ValueError("ranker model: mean, scale and weights must have one positive entry per feature")
        return cls(FEATURES, mean, scale, weights, float(data["bias"]), dict(data.get("trained_on", {})))


@cache
def bundled_ranker() -> LinearRanker:
    """The model shipped with this version (``ranker_model.json``)."""
    return LinearRanker.from_dict(json.loads(MODEL_PATH.read_text(encoding="utf-8")))


def rerank_files(
    ranked: Sequence[tuple[str, float]],
    features: Iterable[tuple[str, Sequence[float]]],
    model: LinearRanker,
) -> list[tuple[str, float]]:
    """``ranked`` re-ordered: the files with features by the model's probability, then the rest in
    their order, with scores below the last candidate's (so a downstream normalisation by the best
    file still works)."""
    scored = sorted(((path, model.score(vec)) for path, vec in features), key=lambda x: (-x[1], x[0]))
    done = {path for path, _ in scored}
    rest = [(path, score) for path, score in ranked if path not in done]
    if not rest:
        return scored
    floor = min((score for _, score in scored), default=1.0)
    top_rest = max(rest[0][1], 1e-12)
    return scored + [(path, floor * 0.5 * max(score, 0.0) / top_rest) for path, score in rest]


def reranker(model: LinearRanker | None = None) -> Reranker:
    """The :data:`~conexus.search.localize.Reranker` that :func:`~conexus.search.localize.localize`
    calls: ``model`` (default :func:`bundled_ranker`) over :func:`file_features`."""
    chosen = model if model is not None else bundled_ranker()

    def rerank(
        query: str,
        hits: Sequence[Hit],
        files: Sequence[tuple[str, float]],
        graph: FileGraph | None,
        history: FileHistory | None,
    ) -> list[tuple[str, float]]:
        evidence = [ChunkEvidence.of(h) for h in hits]
        return rerank_files(files, file_features(query, evidence, files, graph, history), chosen)

    return rerank
