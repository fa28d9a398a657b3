"""Regular-expression and literal search over the files of a root, line by line.

The files are read from the root's tree (:mod:`conexus.search.tree`): the
checkout, or on a replica without one the texts the index holds.

The caller supplies the file list (the indexed, ignore-aware files), so grep
never walks into ``node_modules`` or ``.git``. Patterns run on the ``regex``
module, whose matcher takes a ``timeout``: a catastrophic pattern such as
``(a|aa)+$`` stops at the deadline and the partial result comes back with
``timed_out`` set, instead of pinning a server thread (ReDoS). The matcher also
releases the GIL while it runs (``concurrent=True``).

Each file is searched as one string with MULTILINE, and the search resumes at
the next line after a match, so each line is reported at most once; a match
that spans lines is reported on its first line.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regex

from conexus.config import DEFAULT_MAX_FILE_BYTES
from conexus.errors import PathError, QueryError
from conexus.priority import checkpoint
from conexus.search.read import clip_line
from conexus.search.tree import Tree, as_tree
from conexus.sources.filesystem.secrets import SecretPolicy
from conexus.sources.filesystem.texts import FileTexts

MAX_PATTERN_CHARS = 10_000
MAX_CONTEXT_LINES = 50
MAX_RESULTS_LIMIT = 10_000
MAX_TIMEOUT_S = 60.0
GREP_LINE_CHARS = 500


@dataclass(frozen=True, slots=True)
class GrepMatch:
    """One matching line. ``column`` is the 1-based character offset of the first match on it."""

    path: str
    line: int
    column: int
    text: str
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()

    @property
    def citation(self) -> str:
        return f"{self.path}:{self.line}-{self.line}"

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "citation": self.citation,
            "text": self.text,
            "before": list(self.before),
            "after": list(self.after),
        }


@dataclass(frozen=True, slots=True)
class GrepResult:
    """The matches of one grep, in path then line order.

    ``truncated``: ``max_results`` was reached and files or lines were left
    unsearched. ``timed_out``: the deadline passed (a slow pattern or a large
    tree); the matches found so far are returned. ``files_skipped`` counts
    binary, oversized, unreadable and out-of-root files, and files holding secrets.
    """

    pattern: str
    literal: bool
    case_sensitive: bool
    matches: tuple[GrepMatch, ...]
    files_searched: int
    files_matched: int
    files_skipped: int
    truncated: bool
    timed_out: bool
    took_ms: float

    def to_dict(self) -> dict[str, object]:
        return {
            "pattern": self.pattern,
            "literal": self.literal,
            "case_sensitive": self.case_sensitive,
            "matches": [m.to_dict() for m in self.matches],
            "files_searched": self.files_searched,
            "files_matched": self.files_matched,
            "files_skipped": self.files_skipped,
            "truncated": self.truncated,
            "timed_out": self.timed_out,
            "took_ms": round(self.took_ms, 3),
        }


def compile_pattern(pattern: str, *, literal: bool, case_sensitive: bool) -> Any:
    """Compile a grep pattern (``regex`` syntax, MULTILINE).

    Raises:
        QueryError: empty or over-long pattern, or a regex syntax error (with its message).
    """
    if not pattern:
        raise QueryError("empty pattern: give a regular expression or, with literal=true, a string")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise QueryError(f"pattern is too long ({len(pattern)} characters; the limit is {MAX_PATTERN_CHARS})")
    flags = regex.MULTILINE | regex.VERSION0
    if not case_sensitive:
        flags |= regex.IGNORECASE
    source = regex.escape(pattern) if literal else pattern
    try:
        return regex.compile(source, flags)
    except regex.error as exc:
        raise QueryError(f"invalid regular expression {pattern!r}: {exc}") from exc
    except (OverflowError, RecursionError, ValueError) as exc:
        raise QueryError(f"invalid regular expression {pattern!r}: {exc}") from exc


def _path_filter(include: Sequence[str], exclude: Sequence[str]) -> Any:
    """A predicate over root-relative paths from gitignore-style globs (None when unfiltered)."""
    if not include and not exclude:
        return None
    from conexus.sources.filesystem.globs import gitignore_spec

    try:
        inc = gitignore_spec(include) if include else None
        exc = gitignore_spec(exclude) if exclude else None
    except (ValueError, TypeError) as err:
        raise QueryError(f"invalid path glob: {err}") from err

    def allowed(path: str) -> bool:
        if inc is not None and not inc.match_file(path):
            return False
        return not (exc is not None and exc.match_file(path))

    return allowed


def grep(
    root: Tree | Path,
    pattern: str,
    *,
    files: Iterable[str],
    literal: bool = False,
    case_sensitive: bool = True,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    context_lines: int = 0,
    max_results: int = 200,
    timeout_s: float = 5.0,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    secrets: SecretPolicy | None = None,
    indexed_hashes: Mapping[str, str] | None = None,
    texts: FileTexts | None = None,
) -> GrepResult:
    """Search ``files`` (root-relative paths) for ``pattern``, one result per matching line.

    ``include``/``exclude`` are gitignore-style globs over the relative paths.
    Files are visited in sorted order; the search stops at ``max_results``
    matching lines (``truncated``) or after ``timeout_s`` seconds (``timed_out``).
    Binary files (a NUL in the first 8 KiB), files over ``max_file_bytes`` and
    paths that leave the root are skipped and counted; so are, with ``secrets``,
    files that hold secrets (content that differs from ``indexed_hashes`` is
    scanned again, so an edit that adds a key is not shown before it is re-indexed).
    ``texts`` keeps a working tree's decoded files between calls (an engine passes its
    own); a pattern that must contain a plain identifier skips files without it
    before the regex runs.

    Raises:
        QueryError: an invalid regex (with the regex error), an empty pattern,
            a bad glob, or options out of range.
    """
    if not 0 <= context_lines <= MAX_CONTEXT_LINES:
        raise QueryError(f"context_lines must be between 0 and {MAX_CONTEXT_LINES}, got {context_lines}")
    if not 1 <= max_results <= MAX_RESULTS_LIMIT:
        raise QueryError(f"max_results must be between 1 and {MAX_RESULTS_LIMIT}, got {max_results}")
    if not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise QueryError(f"timeout_s must be in (0, {MAX_TIMEOUT_S}], got {timeout_s}")
    compiled = compile_pattern(pattern, literal=literal, case_sensitive=case_sensitive)
    allowed = _path_filter(include, exclude)
    tree = as_tree(root)
    needle = required_literal(pattern, literal=literal, case_sensitive=case_sensitive)
    if texts is None and tree.working:
        texts = FileTexts(tree.root, max_file_bytes)

    t0 = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    matches: list[GrepMatch] = []
    searched = matched_files = skipped = 0
    truncated = timed_out = False

    for rel in sorted(set(files)):
        if allowed is not None and not allowed(rel):
            continue
        deadline += checkpoint()  # background work steps aside for searches; that wait is not spent
        if time.monotonic() >= deadline:
            timed_out = True
            break
        text_hash: str | None = None
        if texts is not None and tree.working:
            loaded = texts.get(rel)
            text, text_hash = loaded.text, loaded.hash
        else:
            text = _load(tree, rel, max_file_bytes)
        if text is not None and secrets is not None:
            known = indexed_hashes.get(rel) if indexed_hashes is not None else None
            if secrets.withheld(rel, text, known, text_hash=text_hash) is not None:
                text = None
        if text is None:
            skipped += 1
            continue
        searched += 1
        if needle is not None and needle not in text:
            continue  # the pattern cannot match a file without its identifier
        try:
            found, complete = _search_file(
                compiled, rel, text, context_lines, max_results - len(matches), deadline
            )
        except TimeoutError:
            timed_out = True
            break
        if found:
            matched_files += 1
            matches.extend(found)
        if not complete:
            truncated = True
            break

    return GrepResult(
        pattern=pattern,
        literal=literal,
        case_sensitive=case_sensitive,
        matches=tuple(matches),
        files_searched=searched,
        files_matched=matched_files,
        files_skipped=skipped,
        truncated=truncated,
        timed_out=timed_out,
        took_ms=(time.perf_counter() - t0) * 1000,
    )


def required_literal(pattern: str, *, literal: bool, case_sensitive: bool) -> str | None:
    """A string every match of ``pattern`` contains, cheap to look for first, or None.

    Found for the patterns assistants send most: a literal, and an identifier
    with optional word boundaries (``\\bparse_header\\b``). Case-insensitive
    patterns get none (lower-casing each file would cost more than it saves).
    """
    if not case_sensitive or not pattern:
        return None
    if literal:
        return pattern
    core = pattern.removeprefix("\\b").removesuffix("\\b")
    if core and all(c.isalnum() or c == "_" for c in core) and core.isascii():
        return core
    return None


def _load(tree: Tree, rel: str, max_file_bytes: int) -> str | None:
    """The decoded text of one file, or None when it must be skipped."""
    try:
        return tree.load(tree.confine(rel), max_file_bytes).text
    except (PathError, OSError):
        return None


def _search_file(
    compiled: Any, rel: str, text: str, context_lines: int, budget: int, deadline: float
) -> tuple[list[GrepMatch], bool]:
    """Matching lines of one file, at most ``budget``. Returns ``(matches, searched_to_the_end)``.

    Raises:
        TimeoutError: the deadline passed inside the matcher.
    """
    out: list[GrepMatch] = []
    lines: list[str] | None = None
    pos = 0
    line_no = 1
    counted_to = 0  # newlines in text[:counted_to] are already in line_no
    n = len(text)
    if n == 0:
        return out, True
    while pos <= n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("grep deadline passed")
        m = compiled.search(text, pos, timeout=remaining, concurrent=True)
        if m is None:
            return out, True
        start = m.start()
        if start == n and text.endswith("\n"):
            return out, True  # the empty "line" after a final newline is not a line
        line_no += text.count("\n", counted_to, start)
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", start)
        if line_end == -1:
            line_end = n
        counted_to = line_start
        if len(out) >= budget:
            return out, False
        if context_lines and lines is None:
            lines = text.split("\n")
        before: tuple[str, ...] = ()
        after: tuple[str, ...] = ()
        if lines is not None:
            idx = line_no - 1
            before = tuple(clip_line(t, GREP_LINE_CHARS) for t in lines[max(0, idx - context_lines) : idx])
            after = tuple(clip_line(t, GREP_LINE_CHARS) for t in lines[idx + 1 : idx + 1 + context_lines])
        out.append(
            GrepMatch(
                path=rel,
                line=line_no,
                column=start - line_start + 1,
                text=clip_line(text[line_start:line_end], GREP_LINE_CHARS),
                before=before,
                after=after,
            )
        )
        if line_end >= n:
            return out, True
        pos = line_end + 1
    return out, True
