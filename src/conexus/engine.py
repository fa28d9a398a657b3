"""The engine facade: the only thing the adapters (CLI, MCP, HTTP) call.

An :class:`Engine` serves one root. Its index lives under the data home
(``$CONEXUS_HOME/indexes/<name>-<hash of the root path>/``), never inside the
tree, so read-only trees can be indexed and several checkouts share the one
embedding cache at ``$CONEXUS_HOME/embedding-cache.sqlite3``.

The index describes itself (format, embedder id and dimension, chunker and
tokenizer versions, options hash). ``index()`` rebuilds from scratch when any
of those changed; ``search()`` refuses an index built by another embedder
rather than mix vectors of two models.

The engine depends on the :class:`~conexus.store.base.Store` role; its
:class:`~conexus.store.location.IndexLocation` (from the ``store_url`` setting:
embedded SQLite, or a PostgreSQL database) is the one place that picks the
backend, and opens, deletes and measures the index. A run killed mid-way reads as
``interrupted`` in ``status()["last_run"]``, and an index whose first build never
finished is ``partial``: ``status()["partial"]`` and ``index_state="partial"``
on search results.

Read, grep, related, explain and freshness go through the root's tree
(:mod:`conexus.search.tree`): the checkout when the root is a directory on this
machine, else the last indexed state the store holds (a query replica with no
checkout; ``status()["working_tree"]`` is False and freshness says it is
relative to the last index).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from conexus.config import Settings, load_settings
from conexus.embedding import Embedder, EmbeddingCache, create_embedder
from conexus.embedding.unavailable import UnavailableEmbedder
from conexus.errors import (
    ConfigError,
    EmbeddingError,
    IndexIncompatibleError,
    IndexInUseError,
    IndexNotFoundError,
    PathNotFoundError,
    StoreError,
)
from conexus.indexing.chunking import CHUNKER_VERSION
from conexus.indexing.indexer import Indexer, IndexProgress, IndexReport
from conexus.layout import CACHEDIR_TAG, index_dir_for, resolve_root
from conexus.models import Freshness, SearchResult, SkipReason
from conexus.observability.instrument import count_query_cache
from conexus.search import hybrid
from conexus.search.explain import Explanation, explain
from conexus.search.freshness import FreshnessChecker
from conexus.search.fusion import is_code_language, is_test_path
from conexus.search.grep import GrepResult, grep
from conexus.search.history import FileHistory, GitHistory, HistorySource
from conexus.search.hybrid import EmbedderHealth, HybridSearcher, SearchRequest
from conexus.search.localize import FOCUS_FILES, FileGraph, Localization, localize
from conexus.search.ranker import reranker
from conexus.search.read import ReadResult, read_range
from conexus.search.related import RelatedInfo, file_graph, related_info
from conexus.search.tree import Tree, TreeFile, tree_for
from conexus.sources.filesystem import FilesystemSource
from conexus.sources.filesystem.texts import FileTexts
from conexus.store.base import COMPLETE_KEY, FileRow, IndexIdentity, Store, StoreBackup
from conexus.store.location import index_location
from conexus.store.sqlite import FORMAT_VERSION, SqliteStore
from conexus.store.sqlite.backup import DB_FILE, index_in_use, sha256_file, verify_database
from conexus.tokens import TOKENIZER_VERSION

logger = logging.getLogger(__name__)

#: Seconds an index job waits for the index's job lock while another process's job runs
#: (a replica, a `conexus index`), before it fails saying who holds it.
JOB_LOCK_WAIT_S = 30.0


class Engine:
    """Index and search one root. Thread-safe: one index job at a time, searches concurrently."""

    def __init__(
        self,
        root: Path | str,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        history: HistorySource | None = None,
    ) -> None:
        missing: PathNotFoundError | None = None
        try:
            self.root = resolve_root(root)
        except PathNotFoundError as exc:
            # A query replica may serve a root whose checkout is elsewhere: its index answers
            # from the indexed tree (see tree()); indexing it here is refused.
            self.root = Path(os.path.abspath(os.path.expanduser(root)))
            missing = exc
        self.settings = settings or load_settings(self.root)
        self.index_dir = index_dir_for(self.root, self.settings.home)
        # Where the index lives (store_url): the SQLite files in index_dir, or a PostgreSQL database.
        # A worktree of a git repository is a tree of the repository's database (content shared).
        self.location = index_location(self.settings.store_url, self.index_dir, self.root, self.settings.home)
        if missing is not None and not self.location.exists():
            raise missing  # no checkout and no index of it: a wrong path
        # Where documents come from: indexing lists and reads them, freshness checks them.
        self.source = FilesystemSource.for_settings(self.root, self.settings)
        # Where the history prior of localize reads commits: the root's own git log by default.
        self.history: HistorySource = history if history is not None else GitHistory(self.root)
        self._embedder = embedder
        # The last failure to load the embedder, and when: not retried on every query (see embedder).
        self._embedder_error: tuple[float, EmbeddingError] | None = None
        # Whether the embedder answered the last query: while it does not, searches run without it.
        self.embedder_health = EmbedderHealth()
        self._identity: IndexIdentity | None = None
        self._store: Store | None = None
        self._incarnation: object | None = None  # the location's incarnation the store was opened on
        self._cache: EmbeddingCache | None = None
        self._lock = threading.RLock()
        self._index_lock = threading.Lock()
        # Recent results by (request, index generation, state): an assistant often repeats a query.
        self._results: OrderedDict[tuple[SearchRequest, int, int, str], SearchResult] = OrderedDict()
        self._results_lock = threading.Lock()
        self._store_epoch = 0
        # Decoded files for grep, read again only when a file's stat changes.
        self.texts = FileTexts(self.root, self.settings.max_file_bytes)
        self.progress = IndexProgress()
        # Stale files (modified + deleted) at the last check: the figure a metrics scrape reads,
        # since checking walks every indexed file. None until a status with check_stale runs.
        self.last_stale: int | None = None

    # -- lazy parts ------------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        """The configured embedder, loaded on first use.

        Raises:
            EmbeddingError: it cannot load (a failure is remembered for
                ``hybrid.EMBEDDER_RETRY_S`` before loading is tried again).
        """
        with self._lock:
            if self._embedder is None:
                failed = self._embedder_error
                if failed is not None and time.monotonic() - failed[0] < hybrid.EMBEDDER_RETRY_S:
                    raise failed[1]
                try:
                    self._embedder = create_embedder(self.settings)
                except EmbeddingError as exc:
                    self._embedder_error = (time.monotonic(), exc)
                    raise
                self._embedder_error = None
            return self._embedder

    def _query_embedder(self, store: Store) -> Embedder:
        """The embedder for queries; when it cannot load or tell its identity, a stand-in whose
        queries fail, so searches answer without vectors (and say so) instead of refusing."""
        if self._query_identity() is None:
            reason = self.embedder_health.last_failure or "unknown"
            return UnavailableEmbedder(EmbeddingError(reason), dim=store.dim)
        return self.embedder

    def _store_dim(self) -> int:
        """The vector size to open the index with: the embedder's, or, when the embedder cannot
        load or answer, the one the last index run recorded (queries then run without vectors).

        Raises:
            EmbeddingError: the embedder is unavailable and no run recorded a size.
        """
        ident = self._query_identity()
        if ident is not None:
            return ident.dim
        try:
            recorded = json.loads((self.index_dir / "root.json").read_text()).get("dim")
        except (OSError, ValueError, AttributeError):
            recorded = None
        if not isinstance(recorded, int):
            raise EmbeddingError(
                f"the embedder is unavailable ({self.embedder_health.last_failure}) and the index of "
                f"{self.root} does not record its vector size; run `conexus index` once the embedder answers"
            )
        return recorded

    def identity(self) -> IndexIdentity:
        """What an index of this engine is built with (the embedder is asked once).

        Raises:
            EmbeddingError: the embedder cannot load or tell its dimension.
        """
        if self._identity is None:
            e = self.embedder
            self._identity = IndexIdentity(
                e.id, e.dim, CHUNKER_VERSION, TOKENIZER_VERSION, self.settings.options_hash()
            )
        return self._identity

    def _query_identity(self) -> IndexIdentity | None:
        """The identity a query checks the index against; None while the embedder cannot tell it
        (it fails, or does not answer within ``hybrid.QUERY_EMBED_TIMEOUT_S``: a remote provider
        asked for its dimension): the query then runs without vectors."""
        if self._identity is not None:
            return self._identity
        if self.embedder_health.unavailable() is not None:
            return None
        try:
            # Loading a local model may take a while the first time, and fails at once when it
            # is broken: only asking it for its identity (a remote provider's dimension) is bounded.
            embedder = self.embedder
            dim = (
                hybrid.query_pool().submit(lambda: embedder.dim).result(timeout=hybrid.QUERY_EMBED_TIMEOUT_S)
            )
            self._identity = IndexIdentity(
                embedder.id, dim, CHUNKER_VERSION, TOKENIZER_VERSION, self.settings.options_hash()
            )
            return self._identity
        except FutureTimeout:
            reason = f"the embedder did not answer within {hybrid.QUERY_EMBED_TIMEOUT_S:g} s"
        except EmbeddingError as exc:
            reason = f"the embedder failed: {exc}"
        logger.warning("searching without vectors: %s", reason)
        self.embedder_health.failed(reason)
        return None

    def tree(self, store: Store | None = None) -> Tree:
        """Where this root's files are read: the checkout, or the indexed state without one."""
        return tree_for(self.root, store, self.source)

    def load_file(self, rel: str, max_bytes: int) -> TreeFile:
        """One file of the root's tree (the checkout, or the indexed state without one); its
        ``text`` is None when it is binary or over ``max_bytes``.

        Raises:
            PathError: a path that leaves the root. FileNotFoundError, OSError: no such file.
        """
        tree = self.tree(self._open_store(create=False) if self.has_index() else None)
        return tree.load(tree.confine(rel), max_bytes)

    def has_checkout(self) -> bool:
        """Whether the root is a directory on this machine (else the index answers for it)."""
        return self.root.is_dir()

    def has_index(self) -> bool:
        return self.location.exists()

    def is_complete(self) -> bool:
        """Whether the index exists and a build of it ever finished (one meta read).

        Raises:
            IndexIncompatibleError: the index was built another way (embedder, format).
            StoreError: the index cannot be read.
        """
        return self.has_index() and self._open_store(create=False).meta().get(COMPLETE_KEY) == "1"

    def _open_store(self, create: bool) -> Store:
        # Asked before taking the lock: it is a query, and a database that stopped answering
        # must hold up this caller only, not every caller of the engine behind the lock.
        seen = self._store
        current = self.location.incarnation()
        with self._lock:
            if self._store is not None and self._store is seen and current != self._incarnation:
                # Another process cleared or rebuilt the index since it was opened: the open
                # store reads a deleted file or rows that are gone. Open what is there now. The
                # old store is let go, not closed: searches on other threads may still be reading
                # it (closing an SQLite connection another thread uses is unsafe); its
                # connections close when the last of them is done with it.
                logger.info("the index of %s was replaced by another process; reopening it", self.root)
                self._store = None
            if self._store is None:
                if not create and current is None:
                    raise IndexNotFoundError(
                        f"no index for {self.root}; run `conexus index {self.root}` first"
                    )
                self._store = self.location.open(
                    self.embedder.dim if create else self._store_dim(), create=create
                )
                self._incarnation = self.location.incarnation()
                self._store_epoch += 1  # a new store may count generations from the start again
            return self._store

    def _embedding_cache(self) -> EmbeddingCache:
        with self._lock:
            if self._cache is None:
                self._cache = EmbeddingCache(self.settings.home / "embedding-cache.sqlite3")
            return self._cache

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            if self._cache is not None:
                self._cache.close()
                self._cache = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- indexing ----------------------------------------------------------------------------------
    def index(
        self,
        *,
        rebuild: bool = False,
        paths: Sequence[str] | None = None,
        on_progress: Callable[[IndexProgress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        lock_wait_s: float | None = None,
    ) -> IndexReport:
        """Bring the index up to date (incrementally), or from scratch with ``rebuild``.

        An index built with another embedder, chunker, tokenizer or indexing
        options is rebuilt from scratch (the embedding cache keeps that cheap).

        The index's job lock is held throughout: a job of another process on the same
        index (a replica, a `conexus index`) runs before or after this one, never
        interleaved; this one waits up to ``lock_wait_s`` (default
        :data:`JOB_LOCK_WAIT_S`) for it.

        Raises:
            IndexBusyError: another process's job held the lock for all of ``lock_wait_s``.
        """
        if not self.has_checkout():
            raise PathNotFoundError(
                f"no checkout of {self.root} on this machine: index it where the checkout is; "
                "this replica answers from the stored index"
            )
        wait = JOB_LOCK_WAIT_S if lock_wait_s is None else lock_wait_s
        with self._index_lock, self.location.job_lock(wait):
            ident = self.identity()
            if self.has_index() and not rebuild:
                try:
                    store = self._open_store(create=False)
                    mismatch = ident.mismatches(store.meta())
                except IndexIncompatibleError as exc:
                    logger.warning("rebuilding: %s", exc)
                    mismatch = ["corrupt"]
                if mismatch:
                    logger.warning("index was built with different %s; rebuilding", ", ".join(mismatch))
                    rebuild = True
            if rebuild:
                self._drop_index_files()
            store = self._open_store(create=True)
            store.set_meta({**ident.as_meta(), "root": str(self.root)})
            self._write_root_info(ident)
            indexer = Indexer(self.source, store, self.embedder, self._embedding_cache(), self.settings)

            def _progress(p: IndexProgress) -> None:
                self.progress = p
                if on_progress:
                    on_progress(p)

            return indexer.run(on_progress=_progress, should_stop=should_stop, paths=paths)

    def _drop_index_files(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            self.location.delete()

    def _write_root_info(self, ident: IndexIdentity | None = None) -> None:
        # A CACHEDIR.TAG makes backup tools, and our own walker, skip the data home when it
        # happens to live inside an indexed tree.
        tag = self.settings.home / "CACHEDIR.TAG"
        if not tag.exists():
            tag.write_text(CACHEDIR_TAG)
        info = self.index_dir / "root.json"
        if ident is not None:
            # The vector size lets searches open the index while the embedder cannot answer.
            info.write_text(
                json.dumps({"root": str(self.root), "embedder_id": ident.embedder_id, "dim": ident.dim})
            )
        elif not info.exists():
            info.write_text(json.dumps({"root": str(self.root)}))

    def clear(self, *, lock_wait_s: float | None = None) -> None:
        """Delete this root's index entirely (the shared embedding cache is kept).

        Raises:
            IndexBusyError: another process's job held the index's job lock for all of ``lock_wait_s``.
        """
        wait = JOB_LOCK_WAIT_S if lock_wait_s is None else lock_wait_s
        with self._index_lock, self.location.job_lock(wait):
            self._drop_index_files()

    # -- backup and restore ------------------------------------------------------------------
    def backup(self, dest: Path) -> StoreBackup:
        """Write a consistent copy of this root's index into the empty folder ``dest``, online.

        Safe while this process or another one (a running server) searches and
        indexes the root: the copy is one committed state. The embedder is not
        loaded and nothing is written to the index.

        Raises:
            ConfigError: the index lives in PostgreSQL (backed up with PostgreSQL's tools).
            IndexNotFoundError: the root has no index.
            StoreError: the index cannot be read or the copy written.
        """
        if not self.location.local:
            return self.location.backup(dest)  # refused, saying what to use instead
        if self.location.shared:
            raise ConfigError(self._shared_refusal("backup"))
        if not self.has_index():
            raise IndexNotFoundError(f"no index for {self.root}; nothing to back up")
        with self._lock:
            store = self._store
        if store is not None:
            return store.backup(dest)
        return self.location.backup(dest)

    def _shared_refusal(self, action: str) -> str:
        return (
            f"the index of {self.root} is one worktree's tree in its repository's shared database "
            f"({self.location.describe()}); `conexus {action}` copies an index of its own only: "
            "rebuild a worktree's index with `conexus index`"
        )

    def index_in_use(self) -> bool:
        """Whether any connection has this root's index open: this engine's, or one in another process."""
        with self._lock:
            if self._store is not None:
                return True
        return index_in_use(self.index_dir)

    def stage_restore(
        self, src: Path, checksums: Mapping[str, str], expected: Mapping[str, str], *, force: bool = False
    ) -> Path:
        """Copy a backed-up index beside the data home's indexes and check it; the staged folder.

        Checked before anything is swapped in: each file's checksum against
        ``checksums`` (the manifest's), SQLite's integrity check, the copy's meta
        against ``expected`` (the manifest's identity and generation), and the
        copy's identity against this root's configured embedder, chunker,
        tokenizer and indexing options (refused unless ``force``). The staged
        copy is then opened once, which migrates an older schema and rebuilds a
        vector file the backup left out. :meth:`swap_in` puts it in place.

        Raises:
            IndexIncompatibleError: a damaged backup, or one built another way (without ``force``).
            StoreError: the copy cannot be written.
        """
        if not self.location.local:
            raise ConfigError(
                f"the index of {self.root} lives in {self.location.describe()}: restore it with "
                "PostgreSQL's own tools; `conexus restore` restores SQLite indexes only"
            )
        if self.location.shared:
            raise ConfigError(self._shared_refusal("restore"))
        staged = self.settings.home / "restore-staging" / f"{self.index_dir.name}-{os.getpid()}"
        try:
            if staged.exists():
                shutil.rmtree(staged)
            staged.mkdir(parents=True)
            if DB_FILE not in checksums:
                raise IndexIncompatibleError(f"backup {src} holds no {DB_FILE}")
            for name, checksum in checksums.items():
                if "/" in name or name.startswith("."):
                    raise IndexIncompatibleError(f"backup {src} names an unexpected file {name!r}")
                try:
                    shutil.copyfile(src / name, staged / name)
                except OSError as exc:
                    raise IndexIncompatibleError(f"backup {src} is incomplete: {exc}") from exc
                if sha256_file(staged / name) != checksum:
                    raise IndexIncompatibleError(
                        f"backup file {src / name} is damaged: its checksum differs from the manifest's"
                    )
            meta = verify_database(staged / DB_FILE)
            differ = sorted(k for k, v in expected.items() if meta.get(k) != v)
            if differ:
                raise IndexIncompatibleError(
                    f"backup {src} does not match its manifest ({', '.join(differ)} differ)"
                )
            ident = self.identity()
            mismatch = ident.mismatches(meta)
            if mismatch and not force:
                theirs = ", ".join(f"{k} {meta.get(k)}" for k in mismatch)
                ours = ", ".join(f"{k} {ident.as_meta()[k]}" for k in mismatch)
                raise IndexIncompatibleError(
                    f"backup of {self.root} was built with {theirs} but this configuration has {ours}; "
                    "configure the same embedder and indexing options, or pass --force to restore it "
                    "anyway (the next `conexus index` then rebuilds it)"
                )
            (staged / "root.json").write_text(json.dumps({"root": str(self.root)}))
            store = SqliteStore(staged, int(meta.get("dim") or ident.dim))
            try:
                store.set_meta({"root": str(self.root)})
            finally:
                store.close()
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        return staged

    def swap_in(self, staged: Path) -> None:
        """Replace this root's index with a folder from :meth:`stage_restore` (rename, rename).

        Raises:
            IndexInUseError: another process has the index open (stop the server first).
            StoreError: the folders cannot be renamed.
        """
        with self._index_lock:
            self.close()
            if index_in_use(self.index_dir):
                raise IndexInUseError(
                    f"the index of {self.root} is open in another process (a server or an index run); "
                    "stop it before restoring"
                )
            replaced = staged.with_name(staged.name + ".replaced")
            try:
                shutil.rmtree(replaced, ignore_errors=True)
                self.index_dir.parent.mkdir(parents=True, exist_ok=True)
                if self.index_dir.exists():
                    os.replace(self.index_dir, replaced)
                os.replace(staged, self.index_dir)
            except OSError as exc:
                raise StoreError(f"cannot swap the restored index into {self.index_dir}: {exc}") from exc
            shutil.rmtree(replaced, ignore_errors=True)
            self._write_root_info()  # the data home's CACHEDIR.TAG, on a new machine
            with self._results_lock:
                self._results.clear()

    # -- queries -------------------------------------------------------------------------------
    def _checked_store(self) -> Store:
        return self._checked_store_meta()[0]

    def _checked_store_meta(self) -> tuple[Store, dict[str, str]]:
        """The store, refused when built by another embedder, and its meta."""
        store = self._open_store(create=False)
        meta = store.meta()
        ident = self._query_identity()
        if ident is None:
            # No vector of this embedder is compared with the index's: searches run without
            # vectors and say so (_query_embedder), other operations need none.
            return store, meta
        if "embedder_id" in meta and (
            meta["embedder_id"] != ident.embedder_id or meta.get("dim") != str(ident.dim)
        ):
            raise IndexIncompatibleError(
                f"index of {self.root} was built with embedder {meta['embedder_id']} "
                f"({meta.get('dim')} dims) but {ident.embedder_id} ({ident.dim} dims) is configured; "
                "run `conexus index` to rebuild it, or configure the same embedder"
            )
        return store, meta

    def search(self, request: SearchRequest | str, **options: Any) -> SearchResult:
        """Hybrid search. ``request`` may be a query string plus SearchRequest fields as keywords.

        Raises:
            IndexNotFoundError: the root has no index yet.
            IndexIncompatibleError: the index was built with another embedder or format.
            QueryError: an option is out of range, or a filter names no known language or kind.
        """
        req = request if isinstance(request, SearchRequest) else SearchRequest(query=request, **options)
        store, meta = self._checked_store_meta()
        if self._index_lock.locked():
            state = "indexing"
        elif meta.get(COMPLETE_KEY) != "1":
            state = "partial"  # a first build that never finished (killed): results may be incomplete
        else:
            state = "ready"
        searcher = HybridSearcher(
            str(self.root),
            store,
            self._query_embedder(store),
            self.settings,
            self.tree(store),
            self.embedder_health,
        )
        size = self.settings.query_cache
        key = (req, self._store_epoch, store.generation(), state)
        try:
            hash(key)
        except TypeError:  # a caller passed a list where a tuple belongs: search without the cache
            size = 0
        if size <= 0:
            return searcher.search(req, state)
        t0 = time.perf_counter()
        with self._results_lock:
            cached = self._results.get(key)
            if cached is not None:
                self._results.move_to_end(key)
        if cached is not None:
            refreshed = self._refreshed(cached, store, t0)
            if refreshed is not None:
                count_query_cache("hit")
                return refreshed
            # A hit's file changed since the result was cached: search again, so its citation
            # is re-located in the current text.
        count_query_cache("miss")
        result = searcher.search(req, state)
        if result.notice is not None:  # searched without vectors: the next query tries them again
            return result
        with self._results_lock:
            self._results[key] = result
            while len(self._results) > size:
                self._results.popitem(last=False)
        return result

    def _file_freshness(
        self, files: dict[str, FileRow], path: str, checker: FreshnessChecker
    ) -> Freshness | None:
        """Freshness of an indexed file from its file row (no chunk text is read); None if not indexed."""
        row = files.get(path)
        if row is None or row.n_chunks == 0:
            return None
        return checker.check(row.path, row.hash, row.size, row.mtime_ns)

    def _refreshed(self, cached: SearchResult, store: Store, t0: float) -> SearchResult | None:
        """A cached result with its hits' freshness checked again; None when a hit's file has
        changed since (its citation may have moved: the caller searches again)."""
        files, _ = store.snapshot()
        checker = FreshnessChecker(self.tree(store))
        for hit in cached.hits:
            fresh = self._file_freshness(files, hit.path, checker)
            if fresh is not None and (fresh.state != hit.freshness.state or fresh.state == "modified"):
                return None
        return dataclasses.replace(cached, took_ms=(time.perf_counter() - t0) * 1000)

    def localize(self, issue: str, *, focus_files: int = FOCUS_FILES, history: bool = True) -> Localization:
        """Rank the files, then the functions, that an issue text (a bug report) is about.

        Two hybrid searches: the whole index for the files, then the best
        ``focus_files`` files for the functions (see :mod:`conexus.search.localize`).
        With ``history`` (and the ``history_prior`` setting) the git log adjusts the file
        ranking: files of past commits that resemble the issue, and files that changed with
        the first-ranked ones.

        Raises:
            IndexNotFoundError: the root has no index yet.
            IndexIncompatibleError: the index was built with another embedder or format.
            QueryError: an option of the searches it runs is out of range.
        """
        result, _first, _second, _graph, _history = localize(
            self.search,
            issue,
            focus_files=focus_files,
            graph=self.file_graph,
            history=self.file_history if history else None,
            rerank=reranker() if self.settings.learned_ranker else None,
        )
        return result

    def file_history(self, issue: str, paths: Sequence[str]) -> FileHistory | None:
        """The history prior for an issue: files of similar past commits, and the files that changed
        with ``paths`` (None without history or with ``history_prior`` off). Only indexed code files
        that are not tests count."""
        if not self.settings.history_prior:
            return None
        index = self.history.index()
        if index is None or not len(index):
            return None
        files = self._checked_store().files()

        def keep(path: str) -> bool:
            row = files.get(path)
            return row is not None and is_code_language(row.language) and not is_test_path(path)

        return index.file_history(issue, paths, keep)

    def file_graph(self, paths: Sequence[str]) -> FileGraph:
        """The import graph around ``paths`` (what each imports, how many files import each),
        from the files as they are on disk; built once per index generation."""
        store = self._checked_store()
        return file_graph(self.tree(store), store, paths)

    def status(self, *, check_stale: bool = True) -> dict[str, Any]:
        """Everything known about this root's index: counts, skips, last run, identity, staleness."""
        out: dict[str, Any] = {
            "root": str(self.root),
            "index_dir": self.location.describe(),
            "exists": self.has_index(),
            "phase": self.progress.phase,
            "progress": self.progress.to_dict(),
        }
        if not self._index_lock.locked():
            # Another process's job (a replica, a `conexus index`): who runs it, since when.
            out["indexing_elsewhere"] = self.location.job_holder()
        if not self.has_index():
            return out
        store = self._open_store(create=False)
        meta = store.meta()
        files, chunks = store.counts()
        out.update(
            {
                "files": files,
                "chunks": chunks,
                "vectors": store.vector_count(),
                "languages": store.languages(),
                "skipped": store.skip_counts(),
                # Which files hold secrets and what was found (the finding's type, never its value).
                "secrets": [{"path": p, "detail": d} for p, d in store.skipped(SkipReason.SECRET.value)],
                "kinds": store.kinds(),
                "last_run": store.last_run(),
                "partial": meta.get(COMPLETE_KEY) != "1",
                "index_bytes": self.location.size_bytes(),
                "format_version": int(meta.get("format_version", FORMAT_VERSION)),
                "embedder_id": meta.get("embedder_id"),
                "dim": int(meta["dim"]) if "dim" in meta else None,
                "chunker_version": meta.get("chunker_version"),
                "tokenizer_version": meta.get("tokenizer_version"),
                "options_hash": meta.get("options_hash"),
            }
        )
        # Status must render, and at once, even when the embedder cannot load or answer: then
        # the identity is unknown (not a mismatch), and searches run without vectors.
        ident = self._query_identity()
        mismatch = ident.mismatches(meta) if ident is not None else []
        out["compatible"] = not mismatch
        out["mismatches"] = mismatch
        tree = self.tree(store)
        out["working_tree"] = tree.working
        out["freshness_basis"] = "working tree" if tree.working else tree.note
        out["embedder_unavailable"] = self.embedder_health.last_failure
        if check_stale:
            out["stale"] = self.stale_files(store)
        return out

    def stale_files(self, store: Store | None = None, limit: int = 50) -> dict[str, Any]:
        """Indexed files modified or deleted since indexing, by the rule search uses
        (:mod:`conexus.search.freshness`: a touched but unchanged file is fresh)."""
        st = store or self._open_store(create=False)
        checker = FreshnessChecker(self.tree(st))
        modified: list[str] = []
        deleted: list[str] = []
        for path, row in st.files().items():
            state = checker.check(path, row.hash, row.size, row.mtime_ns).state
            if state == "deleted":
                deleted.append(path)
            elif state == "modified":
                modified.append(path)
        self.last_stale = len(modified) + len(deleted)
        return {
            "modified": len(modified),
            "deleted": len(deleted),
            "examples": sorted(modified + deleted)[:limit],
        }

    # -- evidence tools --------------------------------------------------------------------------
    def grep(
        self,
        pattern: str,
        *,
        literal: bool = False,
        case_sensitive: bool = True,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        context_lines: int = 0,
        max_results: int = 200,
        timeout_s: float = 5.0,
    ) -> GrepResult:
        """Regex or literal search over the indexed (ignore-aware) files, as they are on disk now.

        Raises:
            IndexNotFoundError: the root has no index yet.
            QueryError: the regular expression or the options are invalid.
        """
        store = self._open_store(create=False)
        rows = store.snapshot()[0]  # cached per index generation
        return grep(
            self.tree(store),
            pattern,
            files=sorted(rows),
            literal=literal,
            case_sensitive=case_sensitive,
            include=include,
            exclude=exclude,
            context_lines=context_lines,
            max_results=max_results,
            timeout_s=timeout_s,
            max_file_bytes=self.settings.max_file_bytes,
            secrets=self.source.options.secrets,
            indexed_hashes={path: row.hash for path, row in rows.items()},
            texts=self.texts,
        )

    def related(
        self, target: str, *, limit: int = 20, history: bool = True, max_commits: int = 500
    ) -> RelatedInfo:
        """Definitions, imports, importers, references, tests and (with ``history``) git
        co-change and recent commits of a file or symbol."""
        store = self._checked_store()
        return related_info(
            self.tree(store), store, target, limit=limit, history=history, max_commits=max_commits
        )

    def explain(self, target: str, *, limit: int = 8, max_subjects: int = 3) -> Explanation:
        """A checked evidence bundle about a symbol, file or question (no LLM involved)."""
        store = self._checked_store()
        tree = self.tree(store)
        searcher = HybridSearcher(
            str(self.root), store, self._query_embedder(store), self.settings, tree, self.embedder_health
        )
        return explain(tree, store, searcher, target, limit=limit, max_subjects=max_subjects)

    def indexed_files(self) -> list[str]:
        """Every indexed root-relative path, sorted; empty when there is no index."""
        if not self.has_index():
            return []
        return sorted(self._open_store(create=False).files())

    def read(
        self, path: str, start: int | None = None, end: int | None = None, max_lines: int = 2000
    ) -> ReadResult:
        """Lines of a file inside the root, with their freshness against the index."""
        store = self._open_store(create=False) if self.has_index() else None
        return read_range(
            self.tree(store),
            store,
            path,
            start,
            end,
            max_lines=max_lines,
            secrets=self.source.options.secrets,
        )

    def withheld(self, path: str, text: str) -> str | None:
        """Why the text of ``path`` (root-relative) must not be shown, because it holds secrets; or None.

        Text the index holds as is was screened when it was indexed and is not scanned again.
        """
        row = self._open_store(create=False).file(path) if self.has_index() else None
        return self.source.options.secrets.withheld(path, text, row.hash if row is not None else None)

    def generation(self) -> int:
        """The index's generation (a readiness probe: the index opens, was built by the configured
        embedder, and answers a read).

        Raises:
            IndexNotFoundError: the root has no index yet.
            IndexIncompatibleError: the index was built another way (embedder, format).
            StoreError: the index cannot be read.
        """
        return self._checked_store().generation()

    def freshness(self, path: str) -> str:
        """``fresh``, ``modified``, ``deleted`` or ``unindexed`` for one root-relative path."""
        store = self._open_store(create=False)
        fresh = self._file_freshness(store.snapshot()[0], path, FreshnessChecker(self.tree(store)))
        return "unindexed" if fresh is None else fresh.state
