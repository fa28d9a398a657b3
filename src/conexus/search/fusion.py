"""Scoring and fusion: pure functions over ranked id lists. No SQL, no model calls.

The engine produces several ranked candidate lists for one query (BM25,
vectors, exact symbol matches, mentioned paths) and fuses them here with
weighted reciprocal-rank fusion, then applies work-context boosts and file
diversity.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from conexus.paths import is_test_path as is_test_path  # the one rule; re-exported for callers here


@dataclass(frozen=True)
class RankedList:
    """One retriever's candidates, best first, with the weight its votes carry."""

    name: str
    ids: Sequence[int]
    weight: float = 1.0


def rrf(lists: Sequence[RankedList], k: int = 60) -> tuple[dict[int, float], dict[int, dict[str, float]]]:
    """Weighted reciprocal-rank fusion.

    Returns ``(scores, signals)``: the fused score per id, and per id the
    contribution of each list (for explanations and debugging).
    """
    scores: dict[int, float] = defaultdict(float)
    signals: dict[int, dict[str, float]] = defaultdict(dict)
    for lst in lists:
        if lst.weight <= 0:
            continue
        seen: set[int] = set()
        rank = 0
        for cid in lst.ids:
            if cid in seen:
                continue
            seen.add(cid)
            rank += 1
            contrib = lst.weight / (k + rank)
            scores[cid] += contrib
            signals[cid][lst.name] = rank
    return dict(scores), {cid: dict(s) for cid, s in signals.items()}


def apply_boosts(scores: Mapping[int, float], factors: Mapping[int, float]) -> dict[int, float]:
    """Multiply scores by per-id factors (work-context boosts); ids without a factor keep their score."""
    return {cid: s * factors.get(cid, 1.0) for cid, s in scores.items()}


def diversify(
    ranked: Sequence[int],
    group_of: Callable[[int], str],
    max_per_group: int,
) -> list[int]:
    """Reorder so no group (file) has more than ``max_per_group`` ids before every other id has had its turn.

    Over-quota ids are not dropped: they follow, in their original order, so
    pagination still reaches them.
    """
    if max_per_group <= 0:
        return list(ranked)
    counts: dict[str, int] = defaultdict(int)
    head: list[int] = []
    tail: list[int] = []
    for cid in ranked:
        g = group_of(cid)
        if counts[g] < max_per_group:
            counts[g] += 1
            head.append(cid)
        else:
            tail.append(cid)
    return head + tail


def rank(scores: Mapping[int, float]) -> list[int]:
    """Ids by descending score, ties broken by id for determinism."""
    return sorted(scores, key=lambda cid: (-scores[cid], cid))


def aggregate_files(
    ranked: Sequence[int],
    scores: Mapping[int, float],
    file_of: Callable[[int], str],
    decay: float = 0.5,
    depth: int = 3,
) -> list[tuple[str, float]]:
    """Rank files from ranked chunks: best chunk score plus a decaying share of the next ones.

    A file with several matching chunks outranks one with a single match of
    equal strength. Returns ``[(path, score)]`` best first.
    """
    per_file: dict[str, list[float]] = defaultdict(list)
    for cid in ranked:
        lst = per_file[file_of(cid)]
        if len(lst) < depth:
            lst.append(scores[cid])
    out = []
    for path, vals in per_file.items():
        vals.sort(reverse=True)
        total = sum(v * (decay**i) for i, v in enumerate(vals))
        out.append((path, total))
    out.sort(key=lambda x: (-x[1], x[0]))
    return out


_CHANGELOG_NAMES = ("changelog", "changes", "history", "news", "releasenotes", "release-notes", "whatsnew")
_PROSE_LANGUAGES = frozenset({"markdown", "rst", "text", "asciidoc"})
_CODE_LANGUAGES = frozenset(
    {
        "python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp", "csharp", "ruby",
        "php", "kotlin", "swift", "scala", "bash",
    }
)  # fmt: skip
_AUXILIARY_DIRS = frozenset({"examples", "example", "docs", "doc", "benchmarks", "benchmark", "asv_bench"})


def is_changelog_path(path: str) -> bool:
    """True for release notes and changelogs: prose that mentions everything and explains nothing current."""
    p = path.lower()
    name = p.rsplit("/", 1)[-1].rsplit(".", 1)[0].replace("_", "").replace(" ", "")
    return name.startswith(_CHANGELOG_NAMES) or "/whatsnew/" in p or "/changelog" in p or "/releases/" in p


def is_code_language(language: str) -> bool:
    """True for programming languages (the files a fix changes), False for prose, data and config."""
    return language in _CODE_LANGUAGES


def is_auxiliary_path(path: str) -> bool:
    """True for examples, documentation sources and benchmarks: code that illustrates, not code that runs."""
    parts = path.lower().split("/")[:-1]
    return any(d in _AUXILIARY_DIRS for d in parts)


@functools.lru_cache(maxsize=1 << 16)
def file_prior(
    path: str, language: str, *, wants_tests: bool, wants_docs: bool, long_query: bool = False
) -> float:
    """A multiplicative prior on a chunk's fused score from what kind of file holds it.

    Code is what an assistant asks for; prose, changelogs, data files and tests
    match many queries by vocabulary alone, so they are damped unless the query
    asks for them. Long queries (pasted issues) are damped harder: an issue text
    shares words with every changelog entry and test about the same feature,
    and names test files or docs explicitly when those are what it is about.
    """
    factor = 1.0
    if is_changelog_path(path):
        factor *= 0.8 if wants_docs else (0.3 if long_query else 0.5)
    if language in _PROSE_LANGUAGES:
        if not wants_docs:
            factor *= 0.6 if long_query else 0.75
    elif language not in _CODE_LANGUAGES:
        factor *= 0.6 if long_query else 0.9
    if is_test_path(path):
        if long_query:
            factor *= 0.85 if wants_tests else 0.6
        elif not wants_tests:
            factor *= 0.8
    elif long_query and not wants_docs and is_auxiliary_path(path):
        factor *= 0.7
    return factor
