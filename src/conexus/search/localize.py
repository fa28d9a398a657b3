"""Issue localization: from a bug report to the files, then the functions, that need changing.

Two stages, as a developer reads a report:

1. **Files.** One hybrid search over the whole index with the report as the
   query; chunk hits are aggregated into a file ranking
   (:func:`~conexus.search.fusion.aggregate_files`), which the import graph
   then adjusts (:func:`rank_files`): a matching test or module passes a share
   of its score to the repository files it imports, and files many others
   import get a small centrality lift.
2. **Functions.** A second hybrid search restricted to the best few files
   ranks every chunk inside them against the same report (BM25 statistics stay
   those of the whole index). A function deep inside the top file is rarely in
   the first stage's global candidates, which a few dozen strong chunks of other
   files crowd out; restricted to the focus files, it competes only with its
   neighbours. Locations are then ordered by :func:`rank_locations`.

The ranking functions here are pure; :func:`localize` drives a search callable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conexus.models import Confidence, Hit, SearchResult
from conexus.observability.instrument import search_stage
from conexus.priority import checkpoint
from conexus.search.fusion import aggregate_files, is_test_path
from conexus.search.history import FileHistory

#: Hits the first stage aggregates into the file ranking (two pages of the search tool).
FILE_STAGE_HITS = 200
#: Files the second stage searches inside.
FOCUS_FILES = 5
#: Chunk hits the second stage ranks into locations.
FOCUS_STAGE_HITS = 100
#: Weight of :func:`length_prior` in a location's score (chunk and file parts weigh up to 1 each).
LENGTH_WEIGHT = 0.25
#: Weight of a location's best whole-index (first-stage) score, normalised to that search's best.
FIRST_STAGE_WEIGHT = 0.25
#: Lines past which a longer symbol gets no further lift from :func:`length_prior`.
LENGTH_CAP_LINES = 200
#: Share of a matching test file's score passed to each repository file it imports.
TEST_IMPORT_SHARE = 0.4
#: Share of a matching non-test file's score passed to each repository file it imports.
CODE_IMPORT_SHARE = 0.2
#: Files importing more repository files than this pass nothing (aggregators, ``conftest.py``).
MAX_IMPORT_FANOUT = 50
#: Weight of :func:`centrality` in a file's score (a multiplier of 1 to 1 + this).
CENTRALITY_WEIGHT = 0.2
#: Importers past which a file gets no further lift from :func:`centrality`.
CENTRALITY_CAP = 20
#: Weight of the history prior's similar-commit vote (1 for the best file) beside a file's normalised score.
HISTORY_SIMILAR_WEIGHT = 0.3
#: Weight of co-change with the first-ranked files (1 for the most co-changed file). Off: on both
#: development sets it did not help beside the similar-commit vote (docs/retrieval.md); benchmark
#: records keep the co-change they saw, so ``--rescore --rank co_change_weight=0.1`` measures it.
HISTORY_CO_CHANGE_WEIGHT = 0.0
#: Files ranked first whose co-changed files are asked for.
HISTORY_TOP_FILES = 3
#: Package entry files: they re-export, so an import of one says little about which code is used.
_ENTRY_FILE_NAMES = frozenset(
    {
        "__init__.py",
        "__init__.pyi",
        *(f"index.{ext}" for ext in ("js", "jsx", "mjs", "cjs", "ts", "tsx")),
        "lib.rs",  # a Rust crate root: `use crate::Item` names it for whatever it re-exports
        "main.rs",
    }
)
_HEADER_EXTENSIONS = frozenset({".h", ".hh", ".hpp", ".hxx", ".h++", ".inl", ".ipp", ".tpp", ".cuh"})


@dataclass(frozen=True)
class FileGraph:
    """The part of a repository's import graph that file ranking reads.

    ``imports`` maps a file to the repository files it imports (resolved, not
    as written); ``in_degree`` counts the files that import a file. Both cover
    at least the files being ranked and their targets; a file missing from
    ``in_degree`` counts as imported by none (an empty mapping turns the
    centrality lift off, as for a tree too large to read whole).
    """

    imports: Mapping[str, Sequence[str]] = field(default_factory=dict)
    in_degree: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (benchmark records keep it, so a saved run ranks again exactly)."""
        return {"imports": {p: list(t) for p, t in self.imports.items()}, "in_degree": dict(self.in_degree)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileGraph:
        return cls(
            {str(p): tuple(t) for p, t in data.get("imports", {}).items()},
            {str(p): int(n) for p, n in data.get("in_degree", {}).items()},
        )


@dataclass(frozen=True)
class Location:
    """A place to change: a symbol (or a file's module-level code) with its line range."""

    path: str
    symbol: str  # "Class.method", "function", or "" for module-level code
    start_line: int
    end_line: int
    score: float

    @property
    def key(self) -> str:
        """``path::symbol``, or ``path::imports`` for module-level code (how benchmarks name spans)."""
        return f"{self.path}::{self.symbol or 'imports'}"


@dataclass(frozen=True)
class Localization:
    """Files best first with their scores, then locations best first, and how well the issue
    matched the code at all (the confidence of the first, whole-index search)."""

    files: list[tuple[str, float]]
    locations: list[Location]
    confidence: Confidence | None = None
    notice: str | None = None  # a search of it ran without vectors: why (SearchResult.notice)

    def to_dict(
        self, freshness: Callable[[str], str], *, max_files: int, max_locations: int
    ) -> dict[str, Any]:
        """The JSON shape every adapter returns: ranked files, then cited locations.

        ``freshness(path)`` is asked once per file (``fresh``, ``modified``,
        ``deleted``, ``unindexed``): a location's line range is only trustworthy
        while its file is unchanged since indexing.
        """
        fresh: dict[str, str] = {}

        def state(path: str) -> str:
            if path not in fresh:
                fresh[path] = freshness(path)
            return fresh[path]

        return {
            "files": [
                {"path": path, "rank": rank, "score": round(score, 6), "freshness": state(path)}
                for rank, (path, score) in enumerate(self.files[:max_files], start=1)
            ],
            "locations": [
                {
                    "path": loc.path,
                    "symbol": loc.symbol,
                    "start_line": loc.start_line,
                    "end_line": loc.end_line,
                    "citation": f"{loc.path}:{loc.start_line}-{loc.end_line}",
                    "rank": rank,
                    "score": round(loc.score, 6),
                    "freshness": state(loc.path),
                }
                for rank, loc in enumerate(self.locations[:max_locations], start=1)
            ],
            "files_considered": len(self.files),
            "confidence": self.confidence.to_dict() if self.confidence is not None else None,
            "notice": self.notice,
        }


def location_of(hit: Hit, score: float | None = None) -> Location:
    """The location a chunk hit stands for (parts of one split function share their symbol)."""
    symbol = "" if hit.kind == "module" or not hit.symbol else hit.symbol
    if symbol and hit.parent:
        symbol = f"{hit.parent}.{symbol}"
    return Location(hit.path, symbol, hit.start_line, hit.end_line, hit.score if score is None else score)


def length_prior(lines: int, cap: int = LENGTH_CAP_LINES) -> float:
    """How much a symbol's size alone says it is the one to change: log-scaled into [0, 1].

    Fixes land in the functions that hold the logic: on the SWE-bench-derived set a
    located symbol of over 40 lines is the gold one 4-5x as often as one of at
    most 5 lines (accessors, one-line properties, class headers), at every rank.
    Returns 0 for one line and 1 from ``cap`` lines on.
    """
    if cap <= 1:
        return 0.0
    return math.log(min(max(lines, 1), cap)) / math.log(cap)


def rank_locations(
    files: Sequence[tuple[str, float]],
    focused: Sequence[Location],
    fallback: Sequence[Location],
    *,
    file_weight: float = 1.0,
    length_weight: float = LENGTH_WEIGHT,
    first_weight: float = FIRST_STAGE_WEIGHT,
) -> list[Location]:
    """Order locations by their own score plus shares of their file's score, their size and their
    whole-index score.

    ``focused`` are the second stage's locations (inside the focus files),
    ``fallback`` the first stage's (anywhere). Each score is normalised by the
    best of its list, so ``file_weight`` = 1 makes the best file as strong as the
    best chunk; ``length_weight`` scales :func:`length_prior` of the symbol's
    span (all its chunks in either list together: a long function is split into
    several); ``first_weight`` scales the symbol's best score in ``fallback``
    (0 when the whole-index search did not find it): a symbol that stands out
    against the whole repository, not only against its neighbours, is more
    likely the one to change. Fallback locations follow the focused ones. A
    symbol appears once, at its best.
    """
    file_score = dict(files)
    top_file = max(file_score.values(), default=1.0) or 1.0
    top_chunk = max((loc.score for loc in focused), default=1.0) or 1.0
    top_first = max((loc.score for loc in fallback), default=1.0) or 1.0
    span: dict[str, tuple[int, int]] = {}
    for loc in (*focused, *fallback):
        start, end = span.get(loc.key, (loc.start_line, loc.end_line))
        span[loc.key] = (min(start, loc.start_line), max(end, loc.end_line))
    first_best: dict[str, float] = {}
    for loc in fallback:
        first_best[loc.key] = max(first_best.get(loc.key, 0.0), loc.score / top_first)
    best: dict[str, Location] = {}
    for loc in focused:
        start, end = span[loc.key]
        value = (
            loc.score / top_chunk
            + file_weight * file_score.get(loc.path, 0.0) / top_file
            + length_weight * length_prior(end - start + 1)
            + first_weight * first_best.get(loc.key, 0.0)
        )
        current = best.get(loc.key)
        if current is None or value > current.score:
            best[loc.key] = Location(loc.path, loc.symbol, loc.start_line, loc.end_line, value)
    ranked = sorted(best.values(), key=lambda loc: (-loc.score, loc.path, loc.start_line))
    seen = set(best)
    for loc in fallback:
        if loc.key not in seen:
            seen.add(loc.key)
            ranked.append(loc)
    return ranked


def centrality(in_degree: int, cap: int = CENTRALITY_CAP) -> float:
    """How central a file is from how many files import it: log-scaled into [0, 1], 1 from ``cap`` on.

    Bug fixes land in the modules the rest of the code is built on more often
    than their share of matching chunks says (a query set, a compiler, a
    field base class); the lift is small and saturates early, so it orders
    near-ties rather than overriding the text match.
    """
    if cap <= 0:
        return 0.0
    return math.log1p(min(max(in_degree, 0), cap)) / math.log1p(cap)


def _stem(path: str) -> str:
    return path.rsplit("/", 1)[-1].split(".", 1)[0]


def _is_own_header(importer: str, target: str) -> bool:
    """``zdict.h`` for ``zdict.c``: a C/C++ file's own declarations, which match wherever it does."""
    dot = target.rfind(".")
    return dot > 0 and target[dot:].lower() in _HEADER_EXTENSIONS and _stem(target) == _stem(importer)


def is_entry_file(path: str) -> bool:
    """True for package entry files (``__init__.py``, ``index.ts``, ``lib.rs``, ...)."""
    return path.rsplit("/", 1)[-1] in _ENTRY_FILE_NAMES


def _import_targets(importer: str, imports: Sequence[str], *, own_headers: bool = False) -> list[str]:
    """Where a file's score may flow: imported repository files, minus tests, package entry files
    and (unless ``own_headers``) the importer's own header."""
    out = []
    for target in imports:
        if is_entry_file(target) or is_test_path(target):
            continue
        if not own_headers and _is_own_header(importer, target):
            continue
        out.append(target)
    return out


@dataclass(frozen=True)
class FileSignals:
    """What the hits and the import graph say of one file, before they are combined.

    ``hits`` is the :func:`~conexus.search.fusion.aggregate_files` score (0 for
    a file only the graph brought in), ``imported`` the largest import share a
    ranked file passed to it, ``centrality`` :func:`centrality` of its
    importers (0 without a graph).
    """

    hits: float
    imported: float = 0.0
    centrality: float = 0.0


def file_signals(
    hits: Sequence[tuple[str, float]],
    graph: FileGraph | None = None,
    *,
    test_share: float = TEST_IMPORT_SHARE,
    code_share: float = CODE_IMPORT_SHARE,
    max_fanout: int = MAX_IMPORT_FANOUT,
    own_headers: bool = False,
) -> dict[str, FileSignals]:
    """Per file, the hits' aggregate and what the import graph adds (see :func:`rank_files`)."""
    files = aggregate_files(range(len(hits)), {i: h[1] for i, h in enumerate(hits)}, lambda i: hits[i][0])
    if graph is None:
        return {path: FileSignals(score) for path, score in files}
    scores = dict(files)
    extra: dict[str, float] = {}
    for path, score in files:
        share = test_share if is_test_path(path) else code_share
        targets = _import_targets(path, graph.imports.get(path, ()), own_headers=own_headers)
        if share <= 0 or not targets or len(targets) > max_fanout:
            continue
        for target in targets:
            extra[target] = max(extra.get(target, 0.0), share * score)
    return {
        path: FileSignals(
            scores.get(path, 0.0), extra.get(path, 0.0), centrality(graph.in_degree.get(path, 0))
        )
        for path in scores.keys() | extra.keys()
    }


def rank_files(
    hits: Sequence[tuple[str, float]],
    graph: FileGraph | None = None,
    *,
    test_share: float = TEST_IMPORT_SHARE,
    code_share: float = CODE_IMPORT_SHARE,
    max_fanout: int = MAX_IMPORT_FANOUT,
    centrality_weight: float = CENTRALITY_WEIGHT,
    own_headers: bool = False,
    entry_centrality: bool = True,
) -> list[tuple[str, float]]:
    """Rank files from chunk hits ``(path, score)`` (best first), then adjust by the import graph.

    1. :func:`~conexus.search.fusion.aggregate_files`: best chunk plus a
       decaying share of the next two.
    2. Import propagation: every ranked file passes ``test_share`` (a test) or
       ``code_share`` (other code) of its score to each repository file it
       imports; a target keeps the largest share offered, added to its own
       score, and may enter the ranking this way. An issue's words often match
       the test that exercises the broken code, or a caller, better than the
       code itself; the import says which code that is. Tests and package entry
       files receive nothing, and files importing over ``max_fanout`` files
       pass nothing.
    3. Centrality: each score is multiplied by ``1 + centrality_weight *
       centrality(in_degree)``.

    Without a graph this is step 1 alone.
    """
    signals = file_signals(
        hits,
        graph,
        test_share=test_share,
        code_share=code_share,
        max_fanout=max_fanout,
        own_headers=own_headers,
    )
    out = []
    for path, sig in signals.items():
        score = sig.hits + sig.imported
        if graph is not None and (entry_centrality or not is_entry_file(path)):
            score *= 1.0 + centrality_weight * sig.centrality
        out.append((path, score))
    out.sort(key=lambda x: (-x[1], x[0]))
    return out


def co_change_scores(files: Sequence[tuple[str, float]], history: FileHistory | None) -> dict[str, float]:
    """Per file, its co-change with the files ``history`` was asked about, each weighted by that
    file's score normalised to the best, the sum scaled so the most co-changed file has 1."""
    if history is None or not files:
        return {}
    top = max(score for _, score in files) or 1.0
    scores = {path: score / top for path, score in files}
    coupled: dict[str, float] = {}
    for anchor, partners in history.co_change.items():
        weight = scores.get(anchor, 0.0)
        for path, value in partners.items():
            coupled[path] = coupled.get(path, 0.0) + weight * value
    top_coupled = max(coupled.values(), default=0.0) or 1.0
    return {path: value / top_coupled for path, value in coupled.items()}


def apply_history(
    files: Sequence[tuple[str, float]],
    history: FileHistory | None,
    *,
    similar_weight: float = HISTORY_SIMILAR_WEIGHT,
    co_change_weight: float = HISTORY_CO_CHANGE_WEIGHT,
) -> list[tuple[str, float]]:
    """Adjust a file ranking by the repository's history (:mod:`conexus.search.history`).

    Each score is divided by the best one, then gains ``similar_weight`` times
    the file's similar-commit vote and ``co_change_weight`` times its
    co-change with the files ``history`` was asked about, each of those
    weighted by its own normalised score (the sum scaled so the most co-changed
    file has 1). A file the history names but the hits missed enters the
    ranking this way. Without history (no repository, or nothing matched) the
    ranking is returned unchanged.
    """
    if history is None or history.empty or not files:
        return list(files)
    top = max(score for _, score in files) or 1.0
    scores = {path: score / top for path, score in files}
    coupled = co_change_scores(files, history)
    out = []
    for path in scores.keys() | history.similar.keys() | coupled.keys():
        score = (
            scores.get(path, 0.0)
            + similar_weight * history.similar.get(path, 0.0)
            + co_change_weight * coupled.get(path, 0.0)
        )
        out.append((path, score))
    out.sort(key=lambda x: (-x[1], x[0]))
    return out


#: Re-orders a file ranking: ``(query, first-stage hits, files, graph, history) -> files``.
Reranker = Callable[
    [str, Sequence[Hit], Sequence[tuple[str, float]], FileGraph | None, FileHistory | None],
    list[tuple[str, float]],
]


def exact_path_glob(path: str) -> str:
    """A gitignore-style pattern that matches exactly ``path`` (glob characters escaped)."""
    escaped = "".join("\\" + ch if ch in "*?[]!\\" else ch for ch in path)
    return "/" + escaped


def _hits(
    search: Callable[..., SearchResult], query: str, n: int, **options: Any
) -> tuple[list[Hit], Confidence | None, str | None]:
    """The first ``n`` hits of a search, fetched in pages of the search tool's maximum (100), the
    first page's confidence, and the notice of any page searched without vectors."""
    out: list[Hit] = []
    confidence = None
    notice = None
    for offset in range(0, n, 100):
        want = min(100, n - offset)
        page = search(query, top_k=want, offset=offset, snippet_lines=0, **options)
        if offset == 0:
            confidence = page.confidence
        notice = notice or page.notice
        out.extend(page.hits)
        if len(page.hits) < want:
            break
    return out, confidence, notice


def localize(
    search: Callable[..., SearchResult],
    query: str,
    *,
    file_hits: int = FILE_STAGE_HITS,
    focus_files: int = FOCUS_FILES,
    focus_hits: int = FOCUS_STAGE_HITS,
    graph: Callable[[Sequence[str]], FileGraph] | None = None,
    history: Callable[[str, Sequence[str]], FileHistory | None] | None = None,
    rerank: Reranker | None = None,
) -> tuple[Localization, list[Hit], list[Hit], FileGraph | None, FileHistory | None]:
    """Run both stages with ``search`` (``Engine.search``'s signature).

    ``graph(paths)`` returns the import graph around the first stage's files
    (see :func:`rank_files`); without it files are ranked from the hits alone.
    ``history(query, paths)`` returns the history prior for the query and the
    first :data:`HISTORY_TOP_FILES` files so far (see :func:`apply_history`).
    ``rerank(query, hits, files, graph, history)`` re-orders that hand-tuned file
    ranking (the learned ranker, :func:`conexus.search.ranker.reranker`) before
    the focus files are chosen. Returns the localization, the raw hits of each stage, the graph and the
    history used (for inspection and benchmarks).
    """
    first, confidence, notice = _hits(search, query, file_hits)
    checkpoint()  # background work: searches in flight go first (conexus.priority)
    file_graph = graph(list(dict.fromkeys(h.path for h in first))) if graph is not None and first else None
    files = rank_files([(h.path, h.score) for h in first], file_graph)
    file_history = None
    if history is not None and files:
        checkpoint()
        file_history = history(query, [p for p, _ in files[:HISTORY_TOP_FILES]])
        files = apply_history(files, file_history)
    if rerank is not None and files:
        with search_stage("rerank"):
            files = rerank(query, first, files, file_graph, file_history)
    focus = [p for p, _ in files[:focus_files]]
    second: list[Hit] = []
    if focus:
        second, _, second_notice = _hits(
            search, query, focus_hits, paths=tuple(exact_path_glob(p) for p in focus)
        )
        notice = notice or second_notice
    locations = rank_locations(files, [location_of(h) for h in second], [location_of(h) for h in first])
    return Localization(files, locations, confidence, notice), first, second, file_graph, file_history
