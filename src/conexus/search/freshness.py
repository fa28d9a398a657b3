"""Freshness: is what the index holds for a document still what its source holds?

One rule, used by search hits, ``Engine.freshness``, the status' ``stale`` counts,
``read`` and explain's citation checks (:func:`freshness_state`):

* the source has no document at the path (deleted, or something that is not a
  regular file took its place: a FIFO is never opened) -> ``deleted``;
* the stamp (size, mtime) equals the indexed one -> ``fresh``, nothing is read;
* otherwise the current text is hashed: the indexed hash -> ``fresh`` (a touched
  but unchanged file), anything else -> ``modified``.

For a hit in a modified file, :func:`relocate` finds the indexed chunk's text in
the current text, so the citation can point at the lines where it is now
(``Freshness.relocated``), or say plainly that those lines changed.

A checker compares with a source (the filesystem's, or any
:class:`~conexus.search.tree.FreshnessSource`). On a replica without a checkout
that is the indexed tree, where every indexed document is ``fresh`` *relative to
the last index*: each such state carries the tree's note saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from conexus.models import Freshness, content_hash
from conexus.search.tree import FreshnessSource
from conexus.sources.base import Stamp

__all__ = [
    "CHANGED_NOTE",
    "Citation",
    "FreshnessChecker",
    "freshness_state",
    "relocate",
]

CHANGED_NOTE = "the cited lines changed since indexing; read the file for its current text"


def freshness_state(
    file_hash: str, size: int, mtime_ns: int, stamp: Stamp | None, current_text: Callable[[], str | None]
) -> str:
    """``fresh``, ``modified`` or ``deleted`` for an indexed document (see the module docstring).

    ``current_text`` is called only when the stamp differs from the indexed one.
    """
    if stamp is None:
        return "deleted"
    if stamp.size == size and stamp.mtime_ns == mtime_ns:
        return "fresh"
    text = current_text()
    return "fresh" if text is not None and content_hash(text) == file_hash else "modified"


def relocate(chunk_text: str, start_line: int, current_text: str) -> tuple[int, int] | None:
    """Where the lines of ``chunk_text`` (indexed at ``start_line``) are in ``current_text`` now.

    Returns 1-based inclusive ``(start, end)`` of an exact, whole-line occurrence,
    the one nearest the indexed position when there are several; None when the
    text is no longer there (or is empty).
    """
    if not chunk_text:
        return None
    n_lines = chunk_text.count("\n") + 1
    haystack = "\n" + current_text + "\n"
    needle = "\n" + chunk_text + "\n"
    best: tuple[int, int] | None = None
    position = haystack.find(needle)
    line = 0
    counted = 0  # characters of haystack whose newlines are already in ``line``
    while position != -1:
        # The newlines up to and including the needle's first one number the line it starts
        # (the newline put in front of the text counts for line 1).
        line += haystack.count("\n", counted, position + 1)
        counted = position + 1
        distance = abs(line - start_line)
        if best is None or distance < best[0]:
            best = (distance, line)
        elif line > start_line:
            break  # further occurrences are only further away
        position = haystack.find(needle, position + 1)
    if best is None:
        return None
    return best[1], best[1] + n_lines - 1


@dataclass(frozen=True, slots=True)
class Citation:
    """A hit's lines and freshness after checking them against the source."""

    start_line: int
    end_line: int
    freshness: Freshness


class FreshnessChecker:
    """Freshness of indexed documents against one source; each path is checked and read once.

    Meant for one request: a long-lived checker would keep answering from its cache.
    """

    def __init__(self, source: FreshnessSource) -> None:
        self.source = source
        # What the states are relative to when it is not a working tree (IndexedTree.note).
        self.note: str | None = getattr(source, "note", None)
        self._states: dict[str, Freshness] = {}
        self._texts: dict[str, str | None] = {}

    @classmethod
    def for_root(cls, root: Path | str) -> FreshnessChecker:
        """A checker over the files under ``root`` (walk options do not matter to freshness)."""
        from conexus.sources.filesystem import FilesystemSource, WalkOptions

        return cls(FilesystemSource(root, WalkOptions()))

    def current_text(self, path: str) -> str | None:
        """The source's current text of ``path`` (read at most once), or None."""
        if path not in self._texts:
            self._texts[path] = self.source.current_text(path)
        return self._texts[path]

    def check(self, path: str, file_hash: str, size: int, mtime_ns: int) -> Freshness:
        """The freshness of ``path`` indexed with this hash, size and mtime."""
        cached = self._states.get(path)
        if cached is None:
            stamp = self.source.stamp(path)
            state = freshness_state(file_hash, size, mtime_ns, stamp, lambda: self.current_text(path))
            cached = Freshness(file_hash, state, note=self.note)
            self._states[path] = cached
        return cached

    def cite(
        self,
        path: str,
        start_line: int,
        end_line: int,
        chunk_text: str,
        file_hash: str,
        size: int,
        mtime_ns: int,
    ) -> Citation:
        """The lines to cite for an indexed chunk, and its freshness.

        Fresh and deleted files keep the indexed lines. In a modified file the
        chunk's text is looked up in the current text: found, the citation moves
        to where it is now (``relocated=True``, ``moved_from`` the indexed lines
        when they differ); not found, the indexed lines are kept with
        ``relocated=False`` and a note saying they changed.
        """
        fresh = self.check(path, file_hash, size, mtime_ns)
        if fresh.state != "modified":
            return Citation(start_line, end_line, fresh)
        current = self.current_text(path)
        found = relocate(chunk_text, start_line, current) if current is not None else None
        if found is None:
            changed = Freshness(file_hash, "modified", relocated=False, note=CHANGED_NOTE)
            return Citation(start_line, end_line, changed)
        moved = found != (start_line, end_line)
        relocated = Freshness(
            file_hash, "modified", relocated=True, moved_from=(start_line, end_line) if moved else None
        )
        return Citation(found[0], found[1], relocated)
