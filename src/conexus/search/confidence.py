"""Search confidence: how likely a result holds what was asked for. Pure, no I/O.

A ranking always has a first hit, and it looks the same whether it is the function asked for
or the least bad of ten unrelated ones. An assistant that cannot tell them apart spends turns
reading noise (issue #12, part 3: "websocket support" in psf/requests returns ten confident-
looking hits). :func:`gather` reduces what a search already knows — which query terms the
index holds at all, which of them the best hits contain, the best vector similarity, whether
an exact symbol, identifier, fragment or path match is on top, whether keywords and meaning
agree on it, how far the first hit stands out — to a few numbers; :func:`assess` maps them
with a logistic model to a probability-like ``score`` in [0, 1], a ``label`` and a
``no_good_match`` flag, with one sentence that says why.

The model's coefficients (:data:`COEFFICIENTS`) were fitted by ``python -m bench.confidence
--fit`` on queries over the training repositories only (the trees of
``swebench-train.jsonl``'s psf/requests, pallets/flask and pytest-dev/pytest instances and
packages installed in the development environment): the issue texts, their titles, the
names and docstring lines of the functions their fixes changed (positives, labelled by
whether a gold file is among the first five hits), and constructed queries for features
those trees do not have, checked absent by a text search of the tree (negatives). The
development sets never saw the fit; docs/retrieval.md reports them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from conexus.models import Confidence, ConfidenceSignals

__all__ = [
    "COEFFICIENTS",
    "FEATURES",
    "Confidence",
    "ConfidenceSignals",
    "assess",
    "features",
    "gather",
    "label_of",
]

#: The feature names, in the order of :func:`features` and :data:`COEFFICIENTS`.
FEATURES = (
    "coverage",  # idf-weighted share of the query's terms that the best of the first hits contains
    "absent",  # idf-weighted share of the query's terms that no chunk of the index contains
    "cosine",  # the best vector similarity (cosine) of any chunk to the query
    "exact",  # 1 when the first hit matches a symbol, identifier, fragment or path the query names
    "agree",  # 1 when keywords and meaning both rank the first hit among their first ten
    "gap",  # how far the first fused score stands above the tenth, relative to the first
    "long",  # 1 for an issue-length query
    # An issue text holds many words no code does (names, URLs, prose): for it, coverage and
    # absent terms mean less, so they carry their own weights.
    "coverage_long",
    "absent_long",
)

#: Intercept, then one weight per feature of :data:`FEATURES` (see the module docstring).
COEFFICIENTS: tuple[float, ...] = (-5.169, 3.392, -2.915, 2.547, 1.853, 1.247, 1.895, 1.589, 0.072, 0.297)

#: The cosine a search without a vector side is assumed to have (the training queries' median).
NEUTRAL_COSINE = 0.34
#: Hits whose terms count towards coverage: the answer is often the second or third hit.
COVERAGE_HITS = 3
#: Labels by score, highest first; ``no_good_match`` is set below :data:`GOOD_MATCH`.
LABELS: tuple[tuple[float, str], ...] = ((0.8, "high"), (0.5, "medium"), (0.2, "low"), (0.0, "none"))
GOOD_MATCH = 0.5
#: Query terms named in the sentence about what is missing.
MAX_NAMED_TERMS = 3
#: Retrievers whose vote on the first hit is exact evidence (not keywords or meaning alone).
EXACT_SIGNALS = frozenset({"symbol", "exact", "phrase", "path"})


def _idf(df: int, n_docs: int) -> float:
    """BM25's idf; a term no chunk holds gets the idf of a term held by one (the most telling)."""
    df = max(df, 1)
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))


def gather(
    *,
    terms: Mapping[str, float],
    doc_freq: Mapping[str, int],
    n_docs: int,
    hit_tokens: Sequence[Iterable[str]],
    hit_signals: Sequence[Mapping[str, float]],
    fused: Sequence[float],
    best_cosine: float | None,
    long_query: bool,
) -> ConfidenceSignals:
    """Measure one search: its query ``terms`` (token -> weight) and their ``doc_freq`` in an index of
    ``n_docs`` chunks, the tokens and per-retriever ranks of its first hits, the fused scores of its
    first ten or more hits, the best cosine of the vector side (None without one)."""
    weights = {t: w * _idf(doc_freq.get(t, 0), max(n_docs, 1)) for t, w in terms.items() if w > 0}
    total = sum(weights.values())
    missing = sorted((t for t in weights if doc_freq.get(t, 0) == 0), key=lambda t: (-weights[t], t))
    absent = sum(weights[t] for t in missing) / total if total else 0.0
    coverage, covered = 0.0, 0
    for tokens in hit_tokens[:COVERAGE_HITS]:
        have = set(tokens)
        got = [t for t in weights if t in have]
        share = sum(weights[t] for t in got) / total if total else 0.0
        if share > coverage:
            coverage, covered = share, len(got)
    top = hit_signals[0] if hit_signals else {}
    exact = any(name in top for name in EXACT_SIGNALS)
    agree = top.get("bm25", math.inf) <= 10 and top.get("vector", math.inf) <= 10
    gap = 0.0
    if fused and fused[0] > 0:
        gap = (fused[0] - fused[min(9, len(fused) - 1)]) / fused[0]
    return ConfidenceSignals(
        coverage=coverage,
        absent=absent,
        cosine=best_cosine,
        exact=exact,
        agree=agree,
        gap=gap,
        long_query=long_query,
        n_terms=len(weights),
        covered_terms=covered,
        missing_terms=tuple(missing),
    )


def features(s: ConfidenceSignals) -> list[float]:
    """The model's inputs, in the order of :data:`FEATURES`."""
    return [
        s.coverage,
        s.absent,
        NEUTRAL_COSINE if s.cosine is None else s.cosine,
        float(s.exact),
        float(s.agree),
        s.gap,
        float(s.long_query),
        s.coverage * s.long_query,
        s.absent * s.long_query,
    ]


def label_of(score: float) -> str:
    """``high``, ``medium``, ``low`` or ``none`` for a confidence score."""
    for bound, name in LABELS:
        if score >= bound:
            return name
    return "none"


def probability(values: Sequence[float], coefficients: Sequence[float] = COEFFICIENTS) -> float:
    """The logistic model: ``1 / (1 + exp(-(b0 + sum(b_i x_i))))``."""
    z = coefficients[0] + sum(b * x for b, x in zip(coefficients[1:], values, strict=True))
    if z < -40:
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))


def _reason(s: ConfidenceSignals, score: float) -> str:
    named = ", ".join(f"'{t}'" for t in s.missing_terms[:MAX_NAMED_TERMS])
    more = len(s.missing_terms) - MAX_NAMED_TERMS
    verb = "occurs" if len(s.missing_terms) == 1 else "occur"
    others = f" and {more} more" if more > 0 else ""
    absent = f"; {named}{others} {verb} nowhere in the index" if named else ""
    cosine = f", best meaning similarity {s.cosine:.2f}" if s.cosine is not None else ""
    covers = f"the best hit covers {s.covered_terms} of {s.n_terms} query terms"
    if score >= GOOD_MATCH:
        how = "an exact name, fragment or path match is on top" if s.exact else covers
        return f"Good match: {how}{cosine}."
    return f"No strong match: {covers}{absent}{cosine}. What was asked for may not exist here."


def assess(s: ConfidenceSignals, coefficients: Sequence[float] = COEFFICIENTS) -> Confidence:
    """The :class:`Confidence` of a search from its :class:`ConfidenceSignals`."""
    score = probability(features(s), coefficients)
    if s.n_terms == 0 and not s.exact:
        score = 0.0  # nothing searchable was asked: no hit can be a good match
    return Confidence(
        score=score,
        label=label_of(score),
        no_good_match=score < GOOD_MATCH,
        reason=_reason(s, score),
        signals=s,
    )
