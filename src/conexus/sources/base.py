"""The ``Source`` role: where the documents an index holds come from.

A source lists document references cheaply (:meth:`Source.scan`), each with a
:class:`Stamp` (size and modification time for a file) that change detection
compares with the index before anything is read; :meth:`Source.load` then reads
one reference into a :class:`Document` (its text, content hash and language) or
says why it is left out (a :class:`~conexus.models.SkippedFile`).

Freshness (:mod:`conexus.search.freshness`) asks the same source for a
document's stamp and current text, so search, status, read and explain agree
on whether what was indexed is still what the source holds.

The filesystem (:class:`conexus.sources.filesystem.FilesystemSource`) is the
first source; an issue tracker or a chat export can be another, yielding
documents whose ``path`` is their id within the source (``issues/123``) and
whose ``uri`` points at the original.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from conexus.models import SkippedFile, SkipReason

__all__ = [
    "Document",
    "DocumentRef",
    "SkipReason",
    "SkippedFile",
    "Source",
    "Stamp",
]


@dataclass(frozen=True, slots=True)
class Stamp:
    """The cheap version of a document: equal stamps mean unchanged without reading it.

    For a file, its size in bytes and modification time in nanoseconds; another
    source may use the length of the body and its ``updated_at``.
    """

    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class DocumentRef:
    """A document a source lists, before it is read: where it is and its stamp."""

    path: str  # the document's id within the source: POSIX, relative to a filesystem root
    location: str  # how the source reaches it: an absolute file path, or a URL
    size: int
    mtime_ns: int

    @property
    def stamp(self) -> Stamp:
        """The size and modification time this reference was listed with."""
        return Stamp(self.size, self.mtime_ns)


@dataclass(frozen=True, slots=True)
class Document:
    """A document read from a source: the text that is chunked and indexed.

    ``version`` is the content hash of ``text`` (:func:`conexus.models.content_hash`),
    the one identity freshness and incremental indexing compare.
    """

    ref: DocumentRef
    uri: str
    text: str
    version: str
    language: str
    invalid_utf8: bool = False  # the bytes were not valid UTF-8; replacement characters were used
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.ref.path

    @property
    def stamp(self) -> Stamp:
        return self.ref.stamp


@runtime_checkable
class Source(Protocol):
    """Lists, reads and checks documents. Implementations never raise for one bad document:
    they yield a ``SkippedFile`` saying why it is left out.

    A source that can follow changes offers a ``watch(on_change, ...)`` method of its own
    (the filesystem's returns a :class:`~conexus.sources.filesystem.watcher.TreeWatcher`);
    one that cannot is scanned again on request.
    """

    name: str  # what kind of source this is: "filesystem", "github-issues", ...

    def scan(self) -> Iterator[DocumentRef | SkippedFile]:
        """Every document of the source, or why one is left out, in a deterministic order."""
        ...

    def scan_paths(self, paths: Sequence[str]) -> Iterator[DocumentRef | SkippedFile]:
        """The documents among ``paths``: the same rules as :meth:`scan`, for just those.

        A path that no longer exists yields nothing (the caller knows it is gone).
        """
        ...

    def load(self, ref: DocumentRef) -> Document | SkippedFile:
        """Read one document, or say why it is left out (binary, too large, generated, ...)."""
        ...

    def screen(self, doc: Document) -> SkippedFile | None:
        """Why a loaded document must stay out of the index (it holds secrets), or None.

        Called by the indexer only for content it has not indexed before, so the
        cost is paid once per version of a document. A source with nothing to
        screen returns None.
        """
        ...

    def stamp(self, path: str) -> Stamp | None:
        """The current stamp of ``path``, or None when it is gone (or is no longer a document)."""
        ...

    def current_text(self, path: str) -> str | None:
        """The current text of ``path`` decoded as it is indexed, or None when it cannot be read."""
        ...
