"""Hybrid search: BM25 + vectors + exact symbol and path signals, fused, boosted, diversified.

The searcher runs the retrievers against a :class:`~conexus.store.base.Store`
(lexical terms, vector nearest neighbours, symbol names, mentioned paths), each
with the request's filter applied inside the store's query (see
:mod:`conexus.search.filters`), and hands the ranked lists to the pure
functions in :mod:`conexus.search.fusion`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

import numpy as np

from conexus.config import Settings
from conexus.embedding import Embedder
from conexus.errors import EmbeddingError, QueryError
from conexus.models import Hit, SearchResult
from conexus.observability.instrument import count_search_without_vectors, search_stage
from conexus.search.confidence import COVERAGE_HITS, assess, gather
from conexus.search.filters import chunk_filter, filter_files
from conexus.search.freshness import FreshnessChecker
from conexus.search.fusion import RankedList, apply_boosts, diversify, file_prior, is_test_path, rank, rrf
from conexus.search.query import QueryPlan, analyze
from conexus.search.tree import FreshnessSource
from conexus.store.base import ChunkFilter, ChunkMeta, ChunkRow, FileRow, Store
from conexus.tokens import index_form, path_tokens, token_string

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_OFFSET",
    "MAX_TOP_K",
    "EmbedderHealth",
    "HybridSearcher",
    "SearchRequest",
    "WorkContext",
    "filter_files",
]

MAX_TOP_K = 100
MAX_OFFSET = 10_000  # deepest page a search serves (offset + top_k candidates are ranked)
#: A query's identifier or fragment is "rare" in at most this many chunks, or this share of a
#: large index's chunks: few enough that every chunk holding it deserves a look.
RARE_MIN_CHUNKS = 20
RARE_CHUNK_SHARE = 0.002
#: Rare identifiers of one query looked up together (the rarest first).
MAX_EXACT_TERMS = 16
#: A fragment is looked up as a phrase only when its rarest word is in at most this many times
#: the rare limit of chunks (a bound on what FTS5 reads for it).
PHRASE_DF_FACTOR = 5
#: In an issue-length query the exact lists vote with this share of ``exact_weight``.
LONG_QUERY_EXACT_SHARE = 0.25
#: A search waits at most this long for its query's embedding, then answers without meaning search.
QUERY_EMBED_TIMEOUT_S = 10.0
#: After the embedder failed or timed out on a query, searches skip it for this long: a provider
#: that is down or stalled is asked again once per period, not by every query (each result says so).
EMBEDDER_RETRY_S = 30.0


class EmbedderHealth:
    """Whether an engine's embedder answered its last query, and if not, why and since when.

    A search asks :meth:`unavailable` before embedding its query: while the last failure is
    recent (:data:`EMBEDDER_RETRY_S`) it gets the reason back and searches without vectors.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failed_at = 0.0
        self._reason: str | None = None

    def unavailable(self) -> str | None:
        """The reason of a recent failure, or None when the embedder should be asked."""
        with self._lock:
            if self._reason is not None and time.monotonic() - self._failed_at < EMBEDDER_RETRY_S:
                return self._reason
            return None

    @property
    def last_failure(self) -> str | None:
        """Why the embedder failed last, until it answers again (what status reports)."""
        with self._lock:
            return self._reason

    def failed(self, reason: str) -> None:
        with self._lock:
            self._failed_at = time.monotonic()
            self._reason = reason

    def answered(self) -> None:
        with self._lock:
            self._reason = None


def lexical_notice(reason: str) -> str:
    """The notice of a result searched without vectors: why, and what it means for the hits."""
    return (
        f"Meaning search is unavailable ({reason}): these hits come from keywords, names and paths "
        "only, so code described in other words than the query's may be missing."
    )


@dataclass
class _Evidence:
    """What the retrievers saw beyond their ranked ids: document frequencies, the best cosine."""

    doc_freq: dict[str, int] = field(default_factory=dict)
    best_cosine: float | None = None
    vector_unavailable: str | None = None  # why the vector retriever could not run


def _row_tokens(row: ChunkRow) -> set[str]:
    """Every index token of a chunk, in any column (name, path, body): what its terms can match."""
    tokens = set(token_string([row.symbol or "", row.parent or "", row.signature or "", row.text]).split())
    tokens.update(path_tokens(row.path).split())
    return tokens


def rare_limit(n_chunks: int) -> int:
    """How many chunks may hold a name or fragment for it to count as rare in an index of ``n_chunks``."""
    return max(RARE_MIN_CHUNKS, int(n_chunks * RARE_CHUNK_SHARE))


@dataclass(frozen=True)
class WorkContext:
    """Where the user is working: hits in these files are boosted."""

    active_file: str | None = None
    open_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchRequest:
    """One search, with every option the adapters expose."""

    query: str
    top_k: int = 10
    offset: int = 0
    paths: tuple[str, ...] = ()  # gitignore-style globs; a leading "!" excludes
    languages: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    work_context: WorkContext = field(default_factory=WorkContext)
    snippet_lines: int = 30
    max_chars: int | None = None  # budget for all snippets together

    def validate(self) -> None:
        """Raise QueryError for out-of-range options (any query text is valid)."""
        if not 1 <= self.top_k <= MAX_TOP_K:
            raise QueryError(f"top_k must be between 1 and {MAX_TOP_K}, got {self.top_k}")
        if self.offset < 0 or self.offset > MAX_OFFSET:
            raise QueryError(f"offset must be between 0 and {MAX_OFFSET}, got {self.offset}")
        if self.snippet_lines < 0:
            raise QueryError("snippet_lines must be >= 0")
        if self.max_chars is not None and self.max_chars < 0:
            raise QueryError("max_chars must be >= 0")


def make_snippet(text: str, max_lines: int) -> str:
    """The first ``max_lines`` lines of a chunk, with a marker when cut."""
    lines = text.split("\n")
    if max_lines == 0:
        return ""
    if len(lines) <= max_lines:
        return text
    return "\n".join(lines[:max_lines]) + f"\n… ({len(lines) - max_lines} more lines)"


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def query_pool() -> ThreadPoolExecutor:
    """Threads that embed queries beside the lexical retrieval (created on first use)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="conexus-query-embed")
        return _POOL


class HybridSearcher:
    """Runs one :class:`SearchRequest` against a store."""

    def __init__(
        self,
        root: str,
        store: Store,
        embedder: Embedder,
        settings: Settings,
        source: FreshnessSource | None = None,  # where freshness is checked; the files under root by default
        health: EmbedderHealth | None = None,  # the engine's memory of embedder failures
    ) -> None:
        self.root = root
        self.source = source
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.health = health or EmbedderHealth()

    def search(self, req: SearchRequest, index_state: str = "ready") -> SearchResult:
        req.validate()
        t0 = time.perf_counter()
        plan = analyze(req.query)
        files, n_chunks = self.store.snapshot()
        where = chunk_filter(files.values(), req.paths, req.languages, req.kinds)
        want = req.offset + req.top_k
        n_cand = max(self.settings.candidates, want * 3)

        evidence = _Evidence()
        lists = self._retrieve(plan, where, n_cand, files, n_chunks, evidence)
        with search_stage("fusion"):
            scores, signals, ranked = self._fuse(req, plan, lists)
        page = ranked[req.offset : req.offset + req.top_k]
        # The confidence reads the first hits of the whole ranking, whichever page is served.
        top = ranked[:COVERAGE_HITS]
        rows = self.store.get_chunks(list(dict.fromkeys([*page, *top])))
        confidence = assess(
            gather(
                terms=plan.terms,
                doc_freq=evidence.doc_freq,
                n_docs=n_chunks,
                hit_tokens=[_row_tokens(rows[cid]) for cid in top if cid in rows],
                hit_signals=[signals.get(cid, {}) for cid in top],
                fused=[scores[cid] for cid in ranked[:10]],
                best_cosine=evidence.best_cosine,
                long_query=plan.is_long,
            )
        )

        source = self.source
        checker = FreshnessChecker(source) if source is not None else FreshnessChecker.for_root(self.root)
        hits: list[Hit] = []
        budget = req.max_chars
        for cid in page:
            row = rows.get(cid)
            if row is None:  # deleted by a concurrent index run since ranking
                continue
            snippet = make_snippet(row.text, req.snippet_lines)
            if budget is not None:
                snippet = snippet[: max(0, budget)]
                budget -= len(snippet)
            # In a file modified since indexing, cite where the chunk's text is now (or say it changed).
            cited = checker.cite(
                row.path,
                row.start_line,
                row.end_line,
                row.text,
                row.file_hash,
                row.file_size,
                row.file_mtime_ns,
            )
            hits.append(
                Hit(
                    chunk_id=cid,
                    path=row.path,
                    start_line=cited.start_line,
                    end_line=cited.end_line,
                    language=row.language,
                    kind=row.kind,
                    symbol=row.symbol,
                    parent=row.parent,
                    signature=row.signature,
                    score=scores[cid],
                    snippet=snippet,
                    freshness=cited.freshness,
                    signals={k: float(v) for k, v in signals.get(cid, {}).items()},
                )
            )
        return SearchResult(
            query=req.query,
            hits=tuple(hits),
            total_candidates=len(ranked),
            took_ms=(time.perf_counter() - t0) * 1000,
            index_state=index_state if files else "empty",
            confidence=confidence,
            notice=lexical_notice(evidence.vector_unavailable) if evidence.vector_unavailable else None,
        )

    def _fuse(
        self, req: SearchRequest, plan: QueryPlan, lists: list[RankedList]
    ) -> tuple[dict[int, float], dict[int, dict[str, float]], list[int]]:
        """Fuse the retrievers' lists, apply the file priors and the work context, diversify.

        Returns the fused scores, each candidate's signals and the ranking.
        """
        scores, signals = rrf(lists, k=self.settings.rrf_k)
        # Ranking needs only where each candidate lives; full rows (with text) only for the page.
        # Every retriever applied the filter; a chunk without meta was deleted since.
        meta = self.store.chunk_meta(list(scores))
        scores = {cid: s for cid, s in scores.items() if cid in meta}
        # In a long issue text, test and doc words are everywhere (tracebacks, "pytest", "the docs
        # say"); only a test or documentation file the issue names makes it about tests or docs.
        wants_tests, wants_docs = plan.wants_tests, plan.wants_docs
        if plan.is_long:
            wants_tests = any(is_test_path(p) for p in plan.paths)
            wants_docs = any(p.lower().endswith((".md", ".rst", ".txt")) for p in plan.paths)
        priors = {
            cid: file_prior(
                meta[cid].path,
                meta[cid].language,
                wants_tests=wants_tests,
                wants_docs=wants_docs,
                long_query=plan.is_long,
            )
            for cid in scores
        }
        scores = apply_boosts(scores, priors)
        scores = apply_boosts(scores, self._context_factors(req.work_context, meta))
        ranked = diversify(rank(scores), lambda cid: meta[cid].path, self.settings.max_hits_per_file)
        return scores, signals, ranked

    # -- retrievers ----------------------------------------------------------------------------
    def _retrieve(
        self,
        plan: QueryPlan,
        where: ChunkFilter,
        n_cand: int,
        files: dict[str, FileRow],
        n_chunks: int,
        evidence: _Evidence,
    ) -> list[RankedList]:
        """The retrievers' ranked lists; what the confidence needs besides is left in ``evidence``."""
        lists: list[RankedList] = []
        if n_chunks == 0 or where.matches_nothing:
            return lists
        s = self.settings

        # The query embedding runs on a pool thread while SQLite ranks BM25 candidates here:
        # both release the GIL, so on two cores hybrid latency is about the slower of the two.
        pending: Future[np.ndarray] | None = None
        if s.vector_weight > 0 and plan.semantic_text.strip():
            evidence.vector_unavailable = self.health.unavailable()
            if evidence.vector_unavailable is None:
                pending = query_pool().submit(self.embedder.embed_query, plan.semantic_text)

        with search_stage("lexical"):
            # Always counted: the confidence needs to know which query terms the index holds at all.
            df = self.store.doc_frequencies(list(dict.fromkeys([*plan.terms, *plan.exact, *plan.phrase])))
            evidence.doc_freq = df
            if s.bm25_weight > 0:
                lex = self.store.lexical(plan.lexical_terms(df, n_chunks), n_cand, where)
                lists.append(RankedList("bm25", [cid for cid, _ in lex], s.bm25_weight))

        if pending is not None:
            # The query's embedding started beside the lexical stage: this stage waits for what
            # is left of it, then asks the vector index.
            with search_stage("vector"):
                qv = self._query_vector(pending, evidence)
                if qv is not None:
                    near = self.store.nearest(qv, n_cand, where)
                    if near:
                        evidence.best_cosine = max(sim for _, sim in near)
                    lists.append(RankedList("vector", [cid for cid, _ in near], s.vector_weight))
        if evidence.vector_unavailable is not None:
            count_search_without_vectors()

        with search_stage("exact"):
            lists += self._exact_lists(plan, df, n_chunks, n_cand, where, files)
        return lists

    def _query_vector(self, pending: Future[np.ndarray], evidence: _Evidence) -> np.ndarray | None:
        """The query's embedding, or None (the reason left in ``evidence``) when the embedder
        failed or did not answer in time: the search goes on with the other retrievers."""
        try:
            qv = pending.result(timeout=QUERY_EMBED_TIMEOUT_S)
        except FutureTimeout:
            reason = f"the embedder did not answer within {QUERY_EMBED_TIMEOUT_S:g} s"
        except EmbeddingError as exc:
            reason = f"the embedder failed: {exc}"
        else:
            self.health.answered()
            return qv
        pending.cancel()
        self.health.failed(reason)
        logger.warning("search without vectors: %s", reason)
        evidence.vector_unavailable = reason
        return None

    def _exact_lists(
        self,
        plan: QueryPlan,
        df: dict[str, int],
        n_chunks: int,
        n_cand: int,
        where: ChunkFilter,
        files: dict[str, FileRow],
    ) -> list[RankedList]:
        """The exact signals: symbols the query names, its rare names and fragments, files it mentions."""
        lists: list[RankedList] = []
        s = self.settings
        defined: set[str] = set()
        if plan.identifiers:
            names: list[str] = []
            for ident in plan.identifiers:
                for name in (ident, ident.split(".")[-1]):
                    if name not in names:
                        names.append(name)
            found = self.store.chunks_by_symbol(names, 500, where)
            order = {n.lower(): i for i, n in enumerate(names)}
            found.sort(key=lambda x: (order.get(x[1].lower(), len(order)), x[0]))
            if found:
                lists.append(RankedList("symbol", [cid for cid, _ in found], 1.0))
            defined = {index_form(name) for _, name in found}
        if s.exact_weight > 0:
            lists += self._exact(plan, df, n_chunks, n_cand, where, defined)

        if plan.paths:
            mentioned = self._mentioned_files(plan.paths, files, where.file_ids)
            if mentioned:
                ids = self.store.first_chunks_of_files(mentioned, ChunkFilter(kinds=where.kinds))
                lists.append(RankedList("path", ids, 1.0))
        return lists

    def _exact(
        self,
        plan: QueryPlan,
        df: dict[str, int],
        n_chunks: int,
        n_cand: int,
        where: ChunkFilter,
        defined: set[str],
    ) -> list[RankedList]:
        """The chunks holding a rare identifier the query names, and those holding its code fragment.

        BM25 alone lets a name that occurs in two chunks lose to its parts: ``TimeoutSauce`` is
        also ``timeout``, which every timeout test and exception shares, and the vector side
        knows nothing of an alias (issue #12, part 4). A rare name or fragment is the
        strongest evidence a short query carries, so these lists vote with ``exact_weight``.
        An issue text names many identifiers, most of them the API its author called: there
        they vote with a quarter of it (more cost localization Acc@3 on the development loop,
        docs/retrieval.md). A name the symbol list found defined is left to it: its definition
        is the answer, and voting for every use of it would bury the definition under the file
        that uses it most.
        """
        max_df = rare_limit(n_chunks)
        weight = self.settings.exact_weight * (LONG_QUERY_EXACT_SHARE if plan.is_long else 1.0)
        lists: list[RankedList] = []
        rare = [t for t in plan.rare_exact(df, max_df) if t not in defined][:MAX_EXACT_TERMS]
        if rare:
            found = self.store.lexical(rare, n_cand, where)
            if found:
                lists.append(RankedList("exact", [cid for cid, _ in found], weight))
        # A phrase of common words only (``self.x = x``) makes FTS5 walk their whole position
        # lists to find what is most likely too common to count: its rarest word bounds both.
        rarest = min((df.get(t, 0) for t in plan.phrase), default=0)
        if plan.phrase and 0 < rarest <= max_df * PHRASE_DF_FACTOR:
            # Matched as one FTS phrase: the store quotes the joined tokens as a single string.
            found = self.store.lexical([" ".join(plan.phrase)], max_df + 1, where)
            if 0 < len(found) <= max_df:
                lists.append(RankedList("phrase", [cid for cid, _ in found], weight))
        return lists

    @staticmethod
    def _mentioned_files(
        paths: Sequence[str], files: dict[str, FileRow], allowed_set: frozenset[int] | None
    ) -> list[int]:
        by_name: dict[str, list[FileRow]] = {}
        for path, row in files.items():
            by_name.setdefault(path.rsplit("/", 1)[-1], []).append(row)
        out: list[int] = []
        for raw in paths:
            p = raw.replace("\\", "/")
            while p.startswith(("./", "/")):
                p = p[1:] if p.startswith("/") else p[2:]
            if not p:
                continue
            for row in by_name.get(p.rsplit("/", 1)[-1], ()):
                same = row.path == p or row.path.endswith("/" + p) or p.endswith("/" + row.path)
                if same and (allowed_set is None or row.id in allowed_set) and row.id not in out:
                    out.append(row.id)
            if len(out) > 50:
                break
        return out

    @staticmethod
    def _context_factors(ctx: WorkContext, rows: Mapping[int, ChunkMeta]) -> dict[int, float]:
        if not ctx.active_file and not ctx.open_files:
            return {}
        active = (ctx.active_file or "").lstrip("./")
        active_dir = active.rsplit("/", 1)[0] if "/" in active else ""
        open_set = {p.lstrip("./") for p in ctx.open_files}
        factors: dict[int, float] = {}
        for cid, row in rows.items():
            f = 1.0
            if active and row.path == active:
                f = 1.3
            elif row.path in open_set:
                f = 1.15
            elif active_dir and row.path.startswith(active_dir + "/"):
                f = 1.05
            if f != 1.0:
                factors[cid] = f
        return factors
