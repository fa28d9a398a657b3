"""Incremental indexing: Source -> chunks -> Store.

The indexer lists documents with a :class:`~conexus.sources.base.Source`
(``scan``, or ``scan_paths`` for a few changed paths), reads them with its
``load``, chunks, embeds (through the shared cache) and writes. It never
touches the disk itself, so any source can be indexed.

Change detection is two-staged: a document whose stamp (size, mtime) matches
the index is unchanged without being read; otherwise it is loaded and hashed,
and only a new content hash leads to re-chunking. Content the database already
holds for another tree (a worktree of the same repository, ``Store.has_contents``)
is linked, not chunked, embedded or written again. Each batch of files is written in one
transaction, so a killed run leaves a consistent index holding every batch it
finished, and the next run picks up the rest.

Reading and chunking run on a worker thread while the main thread embeds and
writes: ONNX Runtime and SQLite release the GIL, so the two overlap.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from conexus.config import Settings
from conexus.embedding import Embedder, EmbeddingCache, embed_with_cache
from conexus.indexing.chunking import chunk_text
from conexus.indexing.imports import extract_imports, import_terms
from conexus.models import Chunk, SkippedFile, SkipReason
from conexus.observability.instrument import index_phase
from conexus.observability.tracing import start_span
from conexus.priority import background, checkpoint
from conexus.sources.base import DocumentRef, Source
from conexus.store.base import COMPLETE_KEY, FileContent, FileLink, FileRow, FileUpdate, Store, StoreWriter

logger = logging.getLogger(__name__)

BATCH_FILES = 64
BATCH_CHUNKS = 1024


@dataclass
class IndexProgress:
    """A snapshot of a running index job, for progress bars and status tools."""

    phase: str = "idle"  # idle | walking | indexing | saving | done | stopped | failed
    files_total: int = 0  # files that need (re)reading
    files_done: int = 0
    files_seen: int = 0
    chunks_done: int = 0
    embedded: int = 0
    cache_hits: int = 0
    started_at: float = field(default_factory=time.time)

    @property
    def elapsed(self) -> float:
        return time.time() - self.started_at

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = asdict(self)
        d["elapsed_s"] = round(self.elapsed, 3)
        return d


@dataclass
class IndexReport:
    """What one index run did."""

    files_seen: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    files_deleted: int = 0
    files_linked: int = 0  # of the changed files, those whose content another tree had indexed
    chunks_written: int = 0
    lines_indexed: int = 0  # lines of the files read and chunked in this run
    embedded: int = 0
    cache_hits: int = 0
    invalid_utf8: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    stopped: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # why a failed run failed (its exception, one line)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class _Prepared:
    file: DocumentRef
    text: str
    invalid_utf8: bool
    hash: str
    language: str
    chunks: list[Chunk]
    content: FileContent


@dataclass
class _Linked:
    file: DocumentRef
    link: FileLink


# What the reading thread hands over: prepared files, skips, files whose content the database
# holds already, and (ref, content) of files whose stamp changed but whose content did not (the
# content when the store does not hold it yet).
_Batch = list[_Prepared | SkippedFile | _Linked | tuple[DocumentRef, FileContent | None]]


def file_content(path: str, text: str, digest: str, language: str) -> FileContent:
    """What the store keeps of a file's content: its text, and its imports with their index terms."""
    try:
        imports = extract_imports(language, text)
    except (ValueError, RuntimeError):  # an unparsable file has no imports, and is still indexed
        logger.warning("import extraction failed for %s", path, exc_info=True)
        imports = ()
    return FileContent(digest, language, text, imports, import_terms(imports))


class Indexer:
    """Runs index jobs for one source into one store."""

    def __init__(
        self,
        source: Source,
        store: Store,
        embedder: Embedder,
        cache: EmbeddingCache | None,
        settings: Settings,
    ) -> None:
        self.source = source
        self.store = store
        self.embedder = embedder
        self.cache = cache
        self.settings = settings
        self._chunk_seconds = 0.0
        self._unstored: set[str] = set()  # indexed files whose content the store does not hold

    # -- public ------------------------------------------------------------------------------
    def run(
        self,
        on_progress: Callable[[IndexProgress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        paths: Sequence[str] | None = None,
    ) -> IndexReport:
        """Bring the index up to date with the source (or with just ``paths``, document paths of it)."""
        t0 = time.perf_counter()
        progress = IndexProgress(phase="walking")
        report = IndexReport()
        stop = should_stop or (lambda: False)
        notify = on_progress or (lambda _p: None)
        notify(progress)
        run_id = self.store.start_run()
        status = "failed"
        try:
            existing = self.store.files()
            # Indexed before contents were stored (or by an older Conexus): read once more, so
            # a replica without the checkout can serve them; the chunks are kept.
            self._unstored = set(self.store.unstored_files())
            t_walk = time.perf_counter()
            with index_phase("walk") as walk_span:
                if paths is None:
                    files, skips = self._walk_all()
                    gone = [p for p in existing if p not in files]
                else:
                    files, skips, gone = self._walk_paths(paths, existing)
                walk_span.set_attribute("conexus.files", len(files))
            report.timings["walk_s"] = round(time.perf_counter() - t_walk, 3)
            report.files_seen = len(files)
            progress.files_seen = len(files)

            todo: list[DocumentRef] = []
            for rel, sf in files.items():
                row = existing.get(rel)
                if (
                    row is not None
                    and row.size == sf.size
                    and row.mtime_ns == sf.mtime_ns
                    and rel not in self._unstored
                ):
                    report.files_unchanged += 1
                else:
                    todo.append(sf)
            progress.phase = "indexing"
            progress.files_total = len(todo)
            notify(progress)

            # An update of a complete index is one transaction: searches keep seeing the last
            # complete state until it commits, and a killed or stopped run leaves it untouched
            # (the embedding cache keeps the work). A first build commits batch by batch, so
            # its partial results are searchable (flagged "indexing") and survive a kill.
            # Leaving the writer block commits and saves the vectors (see conexus.store.base).
            commit = None  # the span of the commit that leaving the writer block does
            with self.store.writer(atomic=bool(existing)) as writer:
                read_skips = self._process(todo, existing, report, progress, notify, stop, writer)
                skips.extend(read_skips)
                # Files that were indexed before but are now skipped or gone leave the index.
                skipped_paths = {s.path for s in read_skips}
                deletes = sorted(set(gone) | {p for p in skipped_paths if p in existing})
                if deletes and not report.stopped:
                    writer.apply([], deletes)
                    report.files_deleted = len(deletes)
                if (deletes or report.files_changed) and not report.stopped:
                    writer.prune_contents()  # the texts and imports of replaced or deleted content

                progress.phase = "saving"
                notify(progress)
                if paths is None and not report.stopped:
                    writer.set_skips([(s.path, s.reason.value, s.detail) for s in skips])
                    # The whole tree is indexed: a first build is complete (status stops saying partial).
                    writer.set_meta({COMPLETE_KEY: "1"})
                if report.stopped:
                    writer.abandon()
                t_save = time.perf_counter()
                commit = start_span("index.commit")
            commit.end()
            commit = None
            report.timings["save_s"] = round(time.perf_counter() - t_save, 3)
            report.skipped = dict(Counter(s.reason.value for s in skips))
            status = "stopped" if report.stopped else "complete"
            progress.phase = "stopped" if report.stopped else "done"
            return report
        except Exception as exc:
            report.error = f"{type(exc).__name__}: {exc}"[:500]
            raise
        finally:
            if commit is not None:  # the commit failed
                commit.end()
            report.seconds = round(time.perf_counter() - t0, 3)
            self.store.finish_run(run_id, status, report.to_dict())
            if status == "failed":
                progress.phase = "failed"
            notify(progress)

    # -- listing ---------------------------------------------------------------------------------
    def _walk_all(self) -> tuple[dict[str, DocumentRef], list[SkippedFile]]:
        files: dict[str, DocumentRef] = {}
        skips: list[SkippedFile] = []
        for entry in self.source.scan():
            if isinstance(entry, DocumentRef):
                files[entry.path] = entry
            else:
                skips.append(entry)
        return files, skips

    def _walk_paths(
        self, paths: Sequence[str], existing: dict[str, FileRow]
    ) -> tuple[dict[str, DocumentRef], list[SkippedFile], list[str]]:
        """The documents among ``paths``, their skips, and the indexed ones among them now gone."""
        files: dict[str, DocumentRef] = {}
        skips: list[SkippedFile] = []
        for entry in self.source.scan_paths(paths):
            if isinstance(entry, DocumentRef):
                files[entry.path] = entry
            else:
                skips.append(entry)
        # Missing, skipped or no longer a file: what was indexed at that path leaves the index.
        gone = sorted(p for p in set(paths) if p in existing and p not in files)
        return files, skips, gone

    # -- reading, chunking, embedding, writing -----------------------------------------------------
    def _link(
        self,
        links: Sequence[_Linked],
        existing: dict[str, FileRow],
        writer: StoreWriter,
        updates: list[_Prepared],
        skips: list[SkippedFile],
    ) -> int:
        """List ``links`` in the store; the number listed. A content collected since it was seen
        (its last tree dropped meanwhile) is chunked here and joins ``updates``."""
        with index_phase("link", **{"conexus.files": len(links)}):
            missing = set(writer.link([item.link for item in links]))
        for item in links:
            if item.link.path not in missing:
                continue
            res = self._prepare(item.file, existing, link=False)
            if isinstance(res, _Prepared):
                updates.append(res)
            elif isinstance(res, SkippedFile):
                skips.append(res)
        return len(links) - len(missing)

    def _prepare(
        self, sf: DocumentRef, existing: dict[str, FileRow], *, link: bool = True
    ) -> _Prepared | SkippedFile | _Linked | FileContent | None:
        """Load and chunk one document. Content that did not change gives None, or its
        :class:`FileContent` when the store does not hold that yet; content the database holds
        indexed already (another tree's) gives a link (``link``)."""
        doc = self.source.load(sf)
        if isinstance(doc, SkippedFile):
            return doc
        text, digest, language = doc.text, doc.version, doc.language
        row = existing.get(sf.path)
        if row is not None and row.hash == digest:
            if sf.path in self._unstored and row.language == language:
                return file_content(sf.path, text, digest, language)
            return None
        if link and self.store.has_contents([(sf.path, digest)]):
            # Indexed (and screened) for another tree: the same path and content chunk and embed
            # the same, so this tree lists it. Its text and imports (by hash and language) were
            # stored when that tree indexed it.
            n_lines = text.count("\n") + 1 if text else 0
            return _Linked(
                doc.ref,
                FileLink(sf.path, digest, sf.size, sf.mtime_ns, language, n_lines, doc.invalid_utf8),
            )
        # Content the index has not held before is screened for secrets, once per version.
        screened = self.source.screen(doc)
        if screened is not None:
            return screened
        try:
            chunks = chunk_text(
                sf.path,
                text,
                language=language,
                max_chunk_lines=self.settings.max_chunk_lines,
                window_lines=self.settings.window_lines,
                window_overlap=self.settings.window_overlap,
            )
        except Exception as exc:  # a chunker bug must cost one file, not the run
            logger.exception("chunking failed for %s", sf.path)
            return SkippedFile(sf.path, SkipReason.CHUNK_ERROR, str(exc)[:200])
        content = file_content(sf.path, text, digest, language)
        return _Prepared(doc.ref, text, doc.invalid_utf8, digest, language, chunks, content)

    def _producer(
        self,
        todo: Sequence[DocumentRef],
        existing: dict[str, FileRow],
        out: queue.Queue[_Batch | None],
        stop: Callable[[], bool],
        failed: list[BaseException],
    ) -> None:
        try:
            # Chunking is the indexer's most interpreter-bound work: background work, which
            # steps aside per file while a server's interactive requests run (conexus.priority).
            with background(), index_phase("chunk", **{"conexus.files": len(todo)}):
                self._produce(todo, existing, out, stop)
        except BaseException as exc:  # re-raised on the main thread
            failed.append(exc)
        finally:
            out.put(None)

    def _produce(
        self,
        todo: Sequence[DocumentRef],
        existing: dict[str, FileRow],
        out: queue.Queue[_Batch | None],
        stop: Callable[[], bool],
    ) -> None:
        """Read and chunk ``todo``, handing batches to ``out`` (the producer thread's work)."""
        batch: _Batch = []
        n_chunks = 0
        for sf in todo:
            if stop():
                break
            checkpoint()
            t = time.perf_counter()
            res = self._prepare(sf, existing)
            self._chunk_seconds += time.perf_counter() - t
            if res is None or isinstance(res, FileContent):
                batch.append((sf, res))
            else:
                batch.append(res)
                if isinstance(res, _Prepared):
                    n_chunks += len(res.chunks)
            if len(batch) >= BATCH_FILES or n_chunks >= BATCH_CHUNKS:
                out.put(batch)
                batch, n_chunks = [], 0
        if batch:
            out.put(batch)

    def _process(
        self,
        todo: Sequence[DocumentRef],
        existing: dict[str, FileRow],
        report: IndexReport,
        progress: IndexProgress,
        notify: Callable[[IndexProgress], None],
        stop: Callable[[], bool],
        writer: StoreWriter,
    ) -> list[SkippedFile]:
        skips: list[SkippedFile] = []
        q: queue.Queue[_Batch | None] = queue.Queue(maxsize=4)
        failed: list[BaseException] = []
        # Set when this thread gives up (the embedder or the store failed): the producer stops
        # reading, and the queue is drained so a producer blocked on a full queue can finish.
        abort = threading.Event()
        # The producer runs in a copy of this context, so its span is a child of the job's.
        worker = threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._producer, todo, existing, q, lambda: abort.is_set() or stop(), failed),
            name="conexus-chunker",
            daemon=True,
        )
        worker.start()
        t_embed = 0.0
        t_write = 0.0
        self._chunk_seconds = 0.0  # read + chunk time of the producer thread (overlaps embedding)
        finished = False
        try:
            while True:
                batch = q.get()
                if batch is None:
                    finished = True
                    break
                if stop():
                    report.stopped = True
                    continue  # drain so the producer can finish
                updates: list[_Prepared] = []
                touches: list[tuple[str, int, int]] = []
                links: list[_Linked] = []
                contents: list[FileContent] = []
                for item in batch:
                    if isinstance(item, SkippedFile):
                        skips.append(item)
                    elif isinstance(item, tuple):
                        sf, stored = item
                        touches.append((sf.path, sf.size, sf.mtime_ns))
                        if stored is not None:
                            contents.append(stored)
                    elif isinstance(item, _Linked):
                        links.append(item)
                    else:
                        updates.append(item)
                        contents.append(item.content)
                if links:
                    before_updates = len(updates)
                    linked = self._link(links, existing, writer, updates, skips)
                    contents.extend(p.content for p in updates[before_updates:])
                    report.files_linked += linked
                    report.files_changed += linked
                keyed = [(c.hash(), c.embedding_text()) for p in updates for c in p.chunks]
                t1 = time.perf_counter()
                before = progress.embedded

                def _on_embedded(n: int, _before: int = before) -> None:
                    progress.embedded = _before + n
                    notify(progress)

                with index_phase("embed", **{"conexus.texts": len(keyed)}):
                    vectors = (
                        embed_with_cache(self.embedder, self.cache, keyed, on_progress=_on_embedded)
                        if keyed
                        else np.zeros((0, self.embedder.dim), dtype=np.float32)
                    )
                t_embed += time.perf_counter() - t1
                new_embeds = progress.embedded - before
                report.embedded += new_embeds
                report.cache_hits += len(keyed) - new_embeds
                progress.cache_hits = report.cache_hits
                t2 = time.perf_counter()
                file_updates: list[FileUpdate] = []
                offset = 0
                for p in updates:
                    n = len(p.chunks)
                    n_lines = p.text.count("\n") + 1 if p.text else 0
                    report.lines_indexed += n_lines
                    file_updates.append(
                        FileUpdate(
                            path=p.file.path,
                            hash=p.hash,
                            size=p.file.size,
                            mtime_ns=p.file.mtime_ns,
                            language=p.language,
                            n_lines=n_lines,
                            invalid_utf8=p.invalid_utf8,
                            chunks=p.chunks,
                            vectors=vectors[offset : offset + n],
                        )
                    )
                    offset += n
                    report.invalid_utf8 += int(p.invalid_utf8)
                with index_phase("write", **{"conexus.files": len(file_updates) + len(touches)}):
                    if file_updates:
                        writer.apply(file_updates, [])
                    if touches:
                        writer.touch(touches)
                    if contents:
                        writer.put_contents(contents)
                t_write += time.perf_counter() - t2
                report.files_changed += len(updates)
                report.files_unchanged += len(touches)
                report.chunks_written += offset
                progress.files_done += len(batch)
                progress.chunks_done += offset
                notify(progress)
        finally:
            if not finished:
                abort.set()
                while q.get() is not None:
                    pass
            worker.join()
        if failed:
            raise failed[0]
        if stop():
            report.stopped = True
        report.timings["read_chunk_s"] = round(self._chunk_seconds, 3)
        report.timings["embed_s"] = round(t_embed, 3)
        report.timings["write_s"] = round(t_write, 3)
        return skips
