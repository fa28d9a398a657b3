"""Split a file's text into chunks: symbols for code, sections for docs, windows for the rest.

Rules (``CHUNKER_VERSION`` changes whenever they change the output):

* **Lines.** A file's lines are ``text.split("\\n")`` with one trailing ``"\\r"``
  removed from each (CRLF files) and no empty last line after a final newline.
  ``Chunk.text`` is exactly lines ``start_line..end_line`` (1-based, inclusive)
  joined with ``"\\n"``, so a citation can be checked against the file.
* **Code** (``TREE_SITTER_LANGUAGES``). Functions, methods, classes and their
  kin (struct, interface, enum, trait, impl, module, namespace, object,
  protocol, extension, type alias) become chunks carrying symbol, kind,
  qualified parent, signature and docstring. A comment block (or Rust
  attribute, TypeScript decorator) directly above a declaration, with no blank
  line between, belongs to the declaration's range and is its docstring unless
  the language has real docstrings (Python).
* **Containers** (classes and kin). A container of at most ``SMALL_CONTAINER_LINES``
  lines is one chunk, members included. A larger one gives each member
  function its own chunk (``parent`` = the container's qualified name); the
  container's other lines (header, docstring, fields, nested declarations
  without a body) form chunks of the container's own kind, one per contiguous
  run. Namespaces of C++, C# and PHP are
  containers but do not appear in their members' ``parent`` (like Java
  packages); Ruby modules, Rust ``mod``, TypeScript namespaces do.
* **Module code.** Lines outside any symbol (imports, constants, top-level
  statements) form ``module`` chunks, one per contiguous run.
* **Glue.** Between symbols, a run holding only closing brackets / ``end`` /
  ``#endif`` extends the chunk above it; a run holding only an access label
  (``private:``) or ``#if``, or a short comment block (not at the top of the
  scope), extends the chunk below it, so no chunk is a lone ``}``. A merge
  never makes a chunk longer than ``max_chunk_lines``.
* **Size.** Any chunk longer than ``max_chunk_lines`` is split between
  top-level statements of its body (descending into a statement that alone is
  too long, then falling back to line windows). Every part keeps symbol, kind
  and parent; parts of a split symbol carry its signature in ``header``.
* **Docs.** Markdown splits at ATX and setext headings (outside fenced code),
  reStructuredText at underlined (optionally overlined) titles: ``kind
  "section"``, ``symbol`` = heading text, ``parent`` = the enclosing headings
  joined with ``" > "``. Oversized sections are split into line windows.
* **Everything else** (YAML, JSON, TOML, unknown text): line windows of
  ``window_lines`` lines overlapping by ``window_overlap``, ``kind "window"``.
* No chunk is longer than ``max_chunk_lines``. Chunks never start or end on
  a blank line and are never entirely blank;
  every non-blank line of the file is in at least one chunk. ``chunk_text``
  never raises: if the syntax path fails, the file is chunked into windows.

The package: this module holds ``chunk_text`` (the entry point, the line rule
and the coverage safety net); ``code`` chunks tree-sitter languages by symbol
and splits oversized symbols; ``specs`` says, per language, which syntax nodes
are declarations; ``prose`` chunks Markdown and reStructuredText by section and
other text by line windows; ``_common`` holds the helpers they share.
"""

from __future__ import annotations

import logging

from conexus.indexing.chunking._common import _windows
from conexus.indexing.chunking.code import SMALL_CONTAINER_LINES, _chunk_code, _Piece
from conexus.indexing.chunking.prose import _chunk_sections, _chunk_windows, _markdown_headings, _rst_headings
from conexus.indexing.languages import TREE_SITTER_LANGUAGES, detect_language, refine_language
from conexus.models import Chunk

__all__ = ["CHUNKER_VERSION", "SMALL_CONTAINER_LINES", "chunk_text"]

logger = logging.getLogger(__name__)

CHUNKER_VERSION = "2"  # 2: C++ headers named .h parse as C++; Rust impls for &T name T


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return lines


def chunk_text(
    path: str,
    text: str,
    *,
    language: str | None = None,
    max_chunk_lines: int = 120,
    window_lines: int = 60,
    window_overlap: int = 10,
) -> list[Chunk]:
    """Split ``text`` (the content of ``path``) into chunks sorted by start line.

    ``language`` defaults to ``detect_language(path, first line)`` refined by the text
    (``refine_language``: a C++ header named ``.h`` is C++); unknown
    languages are chunked as text windows. Code in a tree-sitter language is
    chunked by symbol, Markdown and reStructuredText by section, anything else
    by overlapping line windows. Every non-blank line lands in at least one
    chunk and ``Chunk.text`` is exactly the cited lines. Never raises: a
    parser failure falls back to windows.
    """
    max_chunk_lines = max(1, max_chunk_lines)
    window_lines = max(1, min(window_lines, max_chunk_lines))
    window_overlap = max(0, min(window_overlap, window_lines - 1))
    lines = _split_lines(text)
    if not lines:
        return []
    if language is None:
        language = refine_language(detect_language(path, lines[0]) or "text", path, text)
    pieces: list[_Piece] | None = None
    try:
        if language in TREE_SITTER_LANGUAGES:
            pieces = _chunk_code(path, language, text, lines, max_chunk_lines, window_lines, window_overlap)
        elif language == "markdown":
            pieces = _chunk_sections(
                _markdown_headings(lines), lines, max_chunk_lines, window_lines, window_overlap
            )
        elif language == "rst":
            pieces = _chunk_sections(
                _rst_headings(lines), lines, max_chunk_lines, window_lines, window_overlap
            )
    except Exception:  # a grammar or chunker bug must not lose the file: degrade to windows
        logger.warning("chunker failed on %s (%s); using line windows", path, language, exc_info=True)
        pieces = None
    if pieces is None:
        pieces = _chunk_windows(lines, window_lines, window_overlap)
    pieces = _cover_leftovers(pieces, lines, window_lines, window_overlap)
    return _to_chunks(path, language, lines, pieces)


def _cover_leftovers(pieces: list[_Piece], lines: list[str], window_lines: int, overlap: int) -> list[_Piece]:
    """Safety net: put any non-blank line no piece covers into a ``module`` window."""
    count = len(lines)
    covered = bytearray(count)
    for piece in pieces:
        s = max(piece.start, 0)
        e = min(piece.end, count - 1)
        if s <= e:
            covered[s : e + 1] = b"\x01" * (e - s + 1)
    row = covered.find(0)
    extra: list[_Piece] = []
    while 0 <= row < count:
        stop = covered.find(1, row)
        if stop < 0:
            stop = count
        blank = [not line.strip() for line in lines[row:stop]]
        if not all(blank):
            for s, e in _windows(row, stop - 1, window_lines, overlap):
                s, e = _trim_rows_offset(blank, row, s, e)
                if s <= e:
                    extra.append(_Piece(s, e, "module"))
        row = covered.find(0, stop)
    return pieces + extra if extra else pieces


def _trim_rows_offset(blank: list[bool], offset: int, start: int, end: int) -> tuple[int, int]:
    while start <= end and blank[start - offset]:
        start += 1
    while end >= start and blank[end - offset]:
        end -= 1
    return start, end


def _to_chunks(path: str, language: str, lines: list[str], pieces: list[_Piece]) -> list[Chunk]:
    count = len(lines)
    out: list[Chunk] = []
    for piece in sorted(pieces, key=lambda p: (p.start, p.end)):
        s = max(piece.start, 0)
        e = min(piece.end, count - 1)
        # A node may end on a line Python calls blank and the grammar does not (a lone "\x1f"):
        # no chunk starts or ends on a blank line, whatever produced it.
        while s <= e and not lines[s].strip():
            s += 1
        while e >= s and not lines[e].strip():
            e -= 1
        if s > e:
            continue
        body = "\n".join(lines[s : e + 1])
        if not body.strip():
            continue
        out.append(
            Chunk(
                path=path,
                start_line=s + 1,
                end_line=e + 1,
                language=language,
                kind=piece.kind,
                text=body,
                symbol=piece.symbol,
                parent=piece.parent,
                signature=piece.signature,
                docstring=piece.docstring,
                header=piece.header,
            )
        )
    return out
