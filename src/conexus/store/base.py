"""The ``Store`` role: what indexing, search and the engine need from an index backend.

Everything above ``conexus.store`` is typed to :class:`Store`, never to a backend.
A backend (:class:`conexus.store.sqlite.SqliteStore`, embedded, and
:class:`conexus.store.postgres.PostgresStore`) owns its query syntax: callers
hand it plain index TERMS (the code-aware tokens of :mod:`conexus.tokens`) and a
:class:`ChunkFilter`, and the backend builds its own full-text expression and
applies the filter inside each query, so a filtered retrieval still returns
``limit`` candidates when that many match.

Every method raises :class:`conexus.errors.StoreError` when the backend fails
underneath (a broken, locked or closed database); opening an index that is
corrupt or of a newer format raises :class:`conexus.errors.IndexIncompatibleError`.
``tests/store/test_contract.py`` is the suite every backend must pass.

Writes go through one path, :meth:`Store.writer`::

    with store.writer(atomic=bool(existing)) as w:
        w.apply(updates, deletes)   # replace / remove files' rows and vectors
        w.link(links)               # list content the database holds already (another tree's)
        w.touch(stamps)             # new (size, mtime) for unchanged content
        w.set_skips(skips)
        w.set_meta({"complete": "1"})
        w.put_contents(contents)   # file texts and imports, by content hash
        w.prune_contents()         # drop contents no file holds any more
        if stopped:
            w.abandon()             # atomic: roll everything back on leaving the block

Leaving the block commits (an atomic writer: all at once; otherwise each call
committed already) and persists the vectors. Readers see the previous index
until an atomic writer commits; a killed process leaves it untouched.

One store is one *tree* (a root, optionally at a ref): a backend may keep many
trees in one database and store the chunks of a file content once for all of
them (``docs/scale-out.md``, "Worktrees and branches"). Every read and
retrieval of a store sees exactly its tree; :meth:`Store.has_contents` and
:meth:`StoreWriter.link` let the indexer list content another tree indexed
without chunking, embedding or inserting it again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from conexus.models import Chunk, ImportRef

F32 = npt.NDArray[np.float32]

#: Status of a run whose process died (``kill -9``, power loss) before it could record an end.
INTERRUPTED = "interrupted"

#: The meta key that says the first build of an index finished (see :meth:`Store.last_run`).
COMPLETE_KEY = "complete"

#: Text fields a lexical query may be restricted to.
LEXICAL_FIELDS = ("name", "path", "body")


@dataclass(frozen=True)
class IndexIdentity:
    """What an index must agree with to be used as is (every backend records and checks it)."""

    embedder_id: str
    dim: int
    chunker_version: str
    tokenizer_version: str
    options_hash: str

    def as_meta(self) -> dict[str, str]:
        return {
            "embedder_id": self.embedder_id,
            "dim": str(self.dim),
            "chunker_version": self.chunker_version,
            "tokenizer_version": self.tokenizer_version,
            "options_hash": self.options_hash,
        }

    def mismatches(self, meta: Mapping[str, str]) -> list[str]:
        """Names of the fields that differ from a stored meta (empty for a fresh index)."""
        if "embedder_id" not in meta:
            return []
        return [k for k, v in self.as_meta().items() if meta.get(k) != v]


#: The meta keys of an index's identity (:meth:`IndexIdentity.as_meta`).
IDENTITY_KEYS = ("embedder_id", "dim", "chunker_version", "tokenizer_version", "options_hash")


def identity_variant(meta: Mapping[str, str]) -> str:
    """A digest of the identity recorded in ``meta``: file content indexed under one identity is shared
    only with trees of the same (another embedder, chunker or option gives other chunks and vectors)."""
    blob = json.dumps({k: meta.get(k) for k in IDENTITY_KEYS}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class FileRow:
    """A file as the index knows it."""

    id: int
    path: str
    hash: str
    size: int
    mtime_ns: int
    language: str
    n_lines: int
    n_chunks: int


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """A stored chunk joined with its file."""

    id: int
    file_id: int
    path: str
    language: str
    file_hash: str
    file_size: int
    file_mtime_ns: int
    start_line: int
    end_line: int
    kind: str
    symbol: str | None
    parent: str | None
    signature: str | None
    docstring: str | None
    header: str
    text: str
    hash: str

    def to_chunk(self) -> Chunk:
        return Chunk(
            path=self.path,
            start_line=self.start_line,
            end_line=self.end_line,
            language=self.language,
            kind=self.kind,
            text=self.text,
            symbol=self.symbol,
            parent=self.parent,
            signature=self.signature,
            docstring=self.docstring,
            header=self.header,
        )


class ChunkMeta(NamedTuple):
    """Where a chunk lives: all that ranking needs."""

    path: str
    language: str
    kind: str


@dataclass(frozen=True, slots=True)
class FileUpdate:
    """Everything needed to replace one file's rows."""

    path: str
    hash: str
    size: int
    mtime_ns: int
    language: str
    n_lines: int
    invalid_utf8: bool
    chunks: Sequence[Chunk]
    vectors: F32  # (len(chunks), dim)


@dataclass(frozen=True, slots=True)
class FileContent:
    """What a file's content holds for the tools that need no checkout: its text and its imports.

    Keyed by the content hash (``FileUpdate.hash``) and language, so every file and tree
    holding the same content shares one row. ``import_terms`` are the index terms of the
    specifiers and imported names (:func:`conexus.tokens.index_form` of each word), which
    :meth:`Store.importing_files` looks up; ``"."`` marks an import of the file's own
    package that names no module (``from .. import x``, ``import '..'``).
    """

    hash: str
    language: str
    text: str
    imports: tuple[ImportRef, ...] = ()
    import_terms: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class FileLink:
    """A file whose content the database already holds (:meth:`Store.has_contents`): its manifest entry."""

    path: str
    hash: str
    size: int
    mtime_ns: int
    language: str
    n_lines: int
    invalid_utf8: bool


@dataclass(frozen=True)
class ChunkFilter:
    """Which chunks a retrieval may return: those of ``file_ids`` and of ``kinds`` (None: any).

    Kinds are lower-case chunk kinds (``function``, ``class``, ...). The filter is
    applied inside each retriever's query, never after ranking.
    """

    file_ids: frozenset[int] | None = None
    kinds: frozenset[str] | None = None

    @property
    def is_empty(self) -> bool:
        """True when the filter lets every chunk through."""
        return self.file_ids is None and self.kinds is None

    @property
    def matches_nothing(self) -> bool:
        """True when no chunk can pass (an empty set of files or kinds)."""
        return (self.file_ids is not None and not self.file_ids) or (
            self.kinds is not None and not self.kinds
        )

    @cached_property
    def sorted_file_ids(self) -> tuple[int, ...] | None:
        """The file ids in ascending order (a deterministic order for queries), or None.

        Computed once per filter: one search hands the same filter to every retriever.
        """
        return None if self.file_ids is None else tuple(sorted(self.file_ids))

    @cached_property
    def sorted_kinds(self) -> tuple[str, ...] | None:
        """The kinds in ascending order, or None."""
        return None if self.kinds is None else tuple(sorted(self.kinds))


NO_FILTER = ChunkFilter()


@dataclass(frozen=True)
class StoreBackup:
    """What :meth:`Store.backup` wrote: the snapshot's meta, and a checksum and size per file."""

    meta: dict[str, str]
    checksums: dict[str, str]  # file name -> "sha256:<hex>"
    sizes: dict[str, int]
    #: False when the vector index file was left out, to be rebuilt from the stored vectors on open.
    vectors_included: bool


class StoreWriter(Protocol):
    """The writes of one :meth:`Store.writer` block."""

    def apply(self, updates: Sequence[FileUpdate], deletes: Sequence[str]) -> None:
        """Replace the rows (and vectors) of updated files and remove deleted ones.

        Each call is one transaction of its own unless the writer is atomic.
        """
        ...

    def touch(self, stamps: Iterable[tuple[str, int, int]]) -> None:
        """Record a new ``(path, size, mtime_ns)`` for files whose content did not change."""
        ...

    def link(self, links: Sequence[FileLink]) -> list[str]:
        """List files whose content the database holds, without storing it again.

        Returns the paths whose content was not there (collected since
        :meth:`Store.has_contents` said it was): the caller indexes those in full.
        """
        ...

    def set_skips(self, skips: Sequence[tuple[str, str, str]]) -> None:
        """Replace the skipped-file records ``(path, reason, detail)``."""
        ...

    def set_meta(self, values: Mapping[str, str]) -> None:
        """Set meta keys as part of this block's writes."""
        ...

    def abandon(self) -> None:
        """Roll back every write of an atomic block on leaving it (no-op for a non-atomic one)."""
        ...

    def put_contents(self, contents: Sequence[FileContent]) -> None:
        """Store the text and imports of contents (a content already stored is kept as is)."""
        ...

    def prune_contents(self) -> None:
        """Drop the stored contents no indexed file holds any more."""
        ...


class WriteTarget(Protocol):
    """What :class:`BlockWriter` forwards to: a backend's own write methods."""

    def _apply(self, updates: Sequence[FileUpdate], deletes: Sequence[str]) -> None: ...

    def _touch(self, stamps: Iterable[tuple[str, int, int]]) -> None: ...

    def _link(self, links: Sequence[FileLink]) -> list[str]: ...

    def _set_skips(self, skips: Sequence[tuple[str, str, str]]) -> None: ...

    def set_meta(self, values: Mapping[str, str]) -> None: ...

    def _put_contents(self, contents: Sequence[FileContent]) -> None: ...

    def _prune_contents(self) -> None: ...


class BlockWriter:
    """A :class:`StoreWriter` for backends that write through their own methods (both do).

    ``abandoned`` tells the backend, when the block ends, to roll back an atomic block.
    """

    def __init__(self, store: WriteTarget) -> None:
        self._store = store
        self.abandoned = False

    def apply(self, updates: Sequence[FileUpdate], deletes: Sequence[str]) -> None:
        self._store._apply(updates, deletes)

    def touch(self, stamps: Iterable[tuple[str, int, int]]) -> None:
        self._store._touch(stamps)

    def link(self, links: Sequence[FileLink]) -> list[str]:
        return self._store._link(links) if links else []

    def set_skips(self, skips: Sequence[tuple[str, str, str]]) -> None:
        self._store._set_skips(skips)

    def set_meta(self, values: Mapping[str, str]) -> None:
        self._store.set_meta(values)

    def abandon(self) -> None:
        self.abandoned = True

    def put_contents(self, contents: Sequence[FileContent]) -> None:
        self._store._put_contents(contents)

    def prune_contents(self) -> None:
        self._store._prune_contents()


class Store(Protocol):
    """An index backend: identity and meta, reads, retrieval, one write path, runs.

    Raises:
        StoreError: from any method, when the backend fails underneath.
    """

    @property
    def key(self) -> str:
        """A stable string naming this index (caches in the layers above key on it)."""
        ...

    @property
    def dim(self) -> int:
        """Dimensions of the stored vectors."""
        ...

    def close(self) -> None: ...

    # -- identity and meta
    def meta(self) -> dict[str, str]:
        """Every meta key (identity, format, generation, completeness)."""
        ...

    def set_meta(self, values: Mapping[str, str]) -> None: ...

    def generation(self) -> int:
        """A number that changes with every committed write (search-side caches key on it)."""
        ...

    # -- reads
    def snapshot(self) -> tuple[dict[str, FileRow], int]:
        """Every file row by path and the chunk count, cached per generation."""
        ...

    def files(self) -> dict[str, FileRow]: ...

    def file(self, path: str) -> FileRow | None: ...

    def counts(self) -> tuple[int, int]:
        """``(files, chunks)``."""
        ...

    def languages(self) -> dict[str, int]:
        """Files per language, most first."""
        ...

    def kinds(self) -> dict[str, int]:
        """Chunks per kind, most first."""
        ...

    def skip_counts(self) -> dict[str, int]: ...

    def skipped(self, reason: str, limit: int = 50) -> list[tuple[str, str]]:
        """``(path, detail)`` of the files skipped for ``reason`` at the last full walk, by path."""
        ...

    def vector_count(self) -> int: ...

    def get_chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]: ...

    def chunk_meta(self, ids: Sequence[int]) -> dict[int, ChunkMeta]:
        """Path, language and kind of each chunk (no text): cheap enough for every candidate."""
        ...

    def chunks_of_file(self, path: str) -> list[ChunkRow]:
        """The chunks of one file, by start line."""
        ...

    def chunk_ids_for_files(self, file_ids: Sequence[int]) -> list[int]: ...

    def first_chunks_of_files(self, file_ids: Sequence[int], where: ChunkFilter = NO_FILTER) -> list[int]:
        """One representative chunk id per file (the first by id) among those ``where`` allows."""
        ...

    def chunks_by_symbol(
        self, names: Sequence[str], limit: int, where: ChunkFilter = NO_FILTER
    ) -> list[tuple[int, str]]:
        """Chunks defining one of ``names`` (case-insensitive), as ``(chunk_id, name)``."""
        ...

    def has_contents(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which ``(path, content hash)`` the database holds indexed for this tree's identity.

        Such a file is listed with :meth:`StoreWriter.link` instead of being chunked,
        embedded and written again (another worktree of the repository indexed it).
        """
        ...

    # -- contents: what read, grep, related and explain need without a checkout
    def file_text(self, path: str) -> str | None:
        """The text of an indexed file as it was indexed; None when not indexed or not stored."""
        ...

    def file_imports(self, paths: Sequence[str]) -> dict[str, tuple[ImportRef, ...]]:
        """The imports of each indexed file among ``paths`` whose content is stored (others left out)."""
        ...

    def importing_files(self, terms: Sequence[str]) -> list[str]:
        """Indexed files whose imports spell every one of ``terms`` (see :class:`FileContent`), by path."""
        ...

    def unstored_files(self) -> list[str]:
        """Indexed files whose content is not stored (indexed before contents were), by path."""
        ...

    # -- retrieval
    def doc_frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """Number of chunks holding each term (terms absent from the index are left out)."""
        ...

    def lexical(
        self,
        terms: Sequence[str],
        limit: int,
        where: ChunkFilter = NO_FILTER,
        *,
        require_all: bool = False,
        fields: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        """BM25 candidates ``(chunk_id, score)`` of plain index terms, best (highest) first.

        Any term matches unless ``require_all``; ``fields`` restricts the match to
        some of :data:`LEXICAL_FIELDS`.
        """
        ...

    def nearest(self, query: F32, k: int, where: ChunkFilter = NO_FILTER) -> list[tuple[int, float]]:
        """The ``k`` chunks most similar to ``query`` ``(chunk_id, cosine)``, best first."""
        ...

    # -- writes
    def writer(self, atomic: bool) -> AbstractContextManager[StoreWriter]:
        """The one write path (see the module docstring)."""
        ...

    def clear(self) -> None:
        """Remove every file, chunk, vector and skip of this tree; keep the meta.

        Content another tree still lists stays; what no tree lists any more is removed.
        """
        ...

    def backup(self, dest: Path) -> StoreBackup:
        """Write a consistent copy of this index into the empty folder ``dest``, online.

        The copy is one committed state (its ``generation`` is in the returned meta),
        taken while writers in this or other processes go on; nothing is written to
        the source.
        """
        ...

    # -- runs
    def start_run(self) -> int:
        """Record an index run starting in this process; returns its id."""
        ...

    def finish_run(self, run_id: int, status: str, stats: Mapping[str, Any]) -> None: ...

    def last_run(self) -> dict[str, Any] | None:
        """The latest run: id, started_at, finished_at, status, stats, pid, host.

        A ``running`` run whose process is gone reports :data:`INTERRUPTED`.
        """
        ...
