"""Read a line range of one file, as it is in its tree now, and say how it compares to the index.

Text is decoded the way the indexer decodes it (UTF-8 with replacement, BOM
dropped, CRLF and CR read as LF), so line numbers agree with the citations
search returns. A file that was indexed but has since been deleted is served
from the indexed chunks, marked ``deleted``, so a model holding an old
citation can still see what it pointed at. A file that holds secrets is
refused, by the indexer's own rules (:mod:`conexus.sources.filesystem.secrets`).

The tree (:mod:`conexus.search.tree`) is the checkout, or on a replica without
one the last indexed state: the result's ``freshness_note`` then says what
freshness is relative to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conexus.errors import PathDeniedError, PathError, PathNotFoundError, QueryError, TooLargeError
from conexus.search.freshness import freshness_state
from conexus.search.tree import Tree, as_tree
from conexus.sources.filesystem.read import MAX_TEXT_BYTES
from conexus.sources.filesystem.read import looks_binary as looks_binary  # the one binary rule
from conexus.sources.filesystem.read import read_bytes as read_bytes  # the one reader
from conexus.sources.filesystem.secrets import SecretPolicy
from conexus.store.base import Store

MAX_READ_BYTES = MAX_TEXT_BYTES
MAX_LINE_CHARS = 4000
MAX_LINES_LIMIT = 10_000


def withheld_message(rel: str, why: str) -> str:
    """The refusal for a file that holds secrets: what was found (never the value) and the opt-in."""
    return (
        f"{rel} is not served because it holds secrets ({why}); Conexus never indexes, reads or "
        "greps such files unless the root opts in with the index_secrets or secrets_allow setting"
    )


def split_lines(text: str) -> list[str]:
    """The lines of ``text``; a final newline does not start another line."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def clip_line(line: str, max_chars: int = MAX_LINE_CHARS) -> str:
    """``line`` cut to ``max_chars`` with a marker saying how much was left out."""
    if len(line) <= max_chars:
        return line
    return line[:max_chars] + f"… [{len(line) - max_chars} more characters]"


@dataclass(frozen=True, slots=True)
class ReadResult:
    """Lines ``start_line..end_line`` of one file (1-based, inclusive).

    ``freshness`` compares the disk text with the index: ``fresh`` (same
    content), ``modified`` (changed since indexing), ``unindexed`` (not in the
    index) or ``deleted`` (indexed but gone from disk; the lines then come from
    the index and ``source`` is ``"index"``, with uncovered lines left out).
    ``truncated`` is true when the request was cut to ``max_lines``;
    ``next_start`` then says where to continue.
    """

    path: str
    start_line: int
    end_line: int
    total_lines: int
    lines: tuple[tuple[int, str], ...]
    freshness: str
    indexed_hash: str | None
    language: str | None
    truncated: bool
    next_start: int | None
    invalid_utf8: bool
    source: str  # "disk" | "index"
    #: What freshness is relative to when there is no working tree (None: the file on disk).
    freshness_note: str | None = None

    @property
    def citation(self) -> str:
        return f"{self.path}:{self.start_line}-{self.end_line}"

    @property
    def text(self) -> str:
        """The lines joined with newlines, without numbers."""
        return "\n".join(t for _, t in self.lines)

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "citation": self.citation,
            "total_lines": self.total_lines,
            "lines": [{"line": n, "text": t} for n, t in self.lines],
            "freshness": self.freshness,
            "indexed_hash": self.indexed_hash,
            "language": self.language,
            "truncated": self.truncated,
            "next_start": self.next_start,
            "invalid_utf8": self.invalid_utf8,
            "source": self.source,
            "freshness_note": self.freshness_note,
        }


def _window(
    start: int | None, end: int | None, total: int, max_lines: int, path: str
) -> tuple[int, int, bool]:
    """Validate a requested range against ``total`` lines: ``(start, end, truncated)``."""
    first = 1 if start is None else start
    if first < 1:
        raise QueryError(f"start line must be >= 1, got {first}")
    if end is not None and end < first:
        raise QueryError(f"end line {end} is before start line {first}")
    if total == 0:
        if first > 1:
            raise QueryError(f"{path} is empty; there is no line {first}")
        return 1, 0, False
    if first > total:
        raise QueryError(f"start line {first} is past the end of {path}, which has {total} lines")
    last = total if end is None else min(end, total)
    truncated = last - first + 1 > max_lines
    if truncated:
        last = first + max_lines - 1
    return first, last, truncated


def read_range(
    root: Tree | Path,
    store: Store | None,
    path: str,
    start: int | None = None,
    end: int | None = None,
    max_lines: int = 2000,
    secrets: SecretPolicy | None = None,
) -> ReadResult:
    """Read lines ``start..end`` (1-based, inclusive) of ``path`` from its tree (``root``: a
    :class:`~conexus.search.tree.Tree`, or a path for the working tree under it).

    Without ``start`` reading begins at line 1; without ``end`` it runs to the
    end of the file. An ``end`` past the end of the file is clamped; a range
    longer than ``max_lines`` is cut (``truncated``/``next_start`` say so).
    ``store`` may be None, which reports every file as ``unindexed``. With
    ``secrets``, a file the indexer would skip for holding secrets is refused.

    Raises:
        PathDeniedError: the file holds secrets (by name or by content; see
            :mod:`conexus.sources.filesystem.secrets`).
        PathError: the path is hostile, leaves the root, does not exist (and was
            never indexed) or is a directory.
        QueryError: bad range (start < 1, end < start, start past the end),
            ``max_lines`` out of 1..10000, a binary file, or a file too large to read.
    """
    if not 1 <= max_lines <= MAX_LINES_LIMIT:
        raise QueryError(f"max_lines must be between 1 and {MAX_LINES_LIMIT}, got {max_lines}")
    tree = as_tree(root)
    rel = tree.confine(path)
    row = store.file(rel) if store is not None else None

    try:
        loaded = tree.load(rel, MAX_READ_BYTES)
    except FileNotFoundError:
        if row is not None and store is not None:
            return _read_deleted(store, rel, start, end, max_lines, row.hash, row.language, row.n_lines)
        raise PathNotFoundError(f"no such file: {rel}") from None
    except IsADirectoryError:
        raise PathError(f"{rel} is a directory, not a file") from None
    except OSError as exc:
        raise PathError(f"cannot read {rel}: {exc.strerror or exc}") from exc
    size = loaded.stamp.size
    if size > MAX_READ_BYTES:
        raise TooLargeError(f"{rel} is too large to read ({size} bytes; the limit is {MAX_READ_BYTES})")
    if loaded.text is None:
        raise QueryError(f"{rel} is a binary file; only text files can be read")
    text, invalid = loaded.text, loaded.invalid_utf8
    if secrets is not None:
        why = secrets.withheld(rel, text, row.hash if row is not None else None)
        if why is not None:
            raise PathDeniedError(withheld_message(rel, why))
    lines = split_lines(text)
    first, last, truncated = _window(start, end, len(lines), max_lines, rel)

    if row is None:
        freshness = "unindexed"
    else:  # the rule search uses, on the stat and text already in hand
        freshness = freshness_state(row.hash, row.size, row.mtime_ns, loaded.stamp, lambda: text)

    return ReadResult(
        path=rel,
        start_line=first,
        end_line=last,
        total_lines=len(lines),
        lines=tuple((n, clip_line(lines[n - 1])) for n in range(first, last + 1)),
        freshness=freshness,
        indexed_hash=row.hash if row is not None else None,
        language=row.language if row is not None else None,
        truncated=truncated,
        next_start=last + 1 if truncated else None,
        invalid_utf8=invalid,
        source="disk" if tree.working else "index",
        freshness_note=tree.note,
    )


def _read_deleted(
    store: Store,
    rel: str,
    start: int | None,
    end: int | None,
    max_lines: int,
    file_hash: str,
    language: str,
    n_lines: int,
) -> ReadResult:
    """Lines of a deleted file rebuilt from its indexed chunks (lines no chunk covers are absent)."""
    known: dict[int, str] = {}
    for chunk in store.chunks_of_file(rel):
        for offset, line in enumerate(chunk.text.split("\n")):
            known.setdefault(chunk.start_line + offset, line)
    total = max([n_lines, *known]) if known else n_lines
    first, last, truncated = _window(start, end, total, max_lines, rel)
    return ReadResult(
        path=rel,
        start_line=first,
        end_line=last,
        total_lines=total,
        lines=tuple((n, clip_line(known[n])) for n in range(first, last + 1) if n in known),
        freshness="deleted",
        indexed_hash=file_hash,
        language=language,
        truncated=truncated,
        next_start=last + 1 if truncated else None,
        invalid_utf8=False,
        source="index",
    )
