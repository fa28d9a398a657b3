"""References: occurrences of names in the indexed chunks, from the store's lexical index
(one token per name), each confirmed with a word-boundary regex on the chunk text.

An occurrence in code is a ``call``, an ``import`` or a ``reference``; one in a comment, a
string literal (docstrings included) or a prose file (Markdown, reStructuredText, text) is
a ``mention``, listed after the code. A line that defines another symbol of the same name
(``def get`` in another class) is no occurrence at all. Measured against jedi and the
TypeScript language service (``bench.tool_accuracy``), counting prose and docstrings as
references, and definitions as uses, were most of what made reference lists wrong.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from conexus.indexing.languages import TREE_SITTER_LANGUAGES
from conexus.priority import checkpoint
from conexus.search.related.imports import index_token
from conexus.search.related.results import Definition, Reference
from conexus.store.base import ChunkFilter, Store

logger = logging.getLogger(__name__)

MAX_REFERENCE_CANDIDATES = 400
_WORD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IMPORT_LINE = re.compile(r"^\s*(?:import\b|from\s+\S+\s+import\b|export\s.*\bfrom\b|.*\brequire\s*\()")
# What is not code, per comment syntax: comments and string literals, found left to right (a "#"
# inside a string is no comment). Strings in single quotes end on their line, so a Rust lifetime
# or an apostrophe cannot swallow the rest of a chunk.
_NON_CODE_HASH = re.compile(
    r"#[^\n]*|\"\"\"[\s\S]*?(?:\"\"\"|\Z)|\'\'\'[\s\S]*?(?:\'\'\'|\Z)"
    r"|\"(?:\\.|[^\"\\\n])*\"|\'(?:\\.|[^\'\\\n])*\'"
)
_NON_CODE_SLASH = re.compile(
    r"//[^\n]*|/\*[\s\S]*?(?:\*/|\Z)|\"(?:\\.|[^\"\\\n])*\"|\'(?:\\.|[^\'\\\n])*\'"
    r"|`(?:\\.|[^`\\])*(?:`|\Z)"
)
_NON_CODE_RUST = re.compile(r"//[^\n]*|/\*[\s\S]*?(?:\*/|\Z)|\"(?:\\.|[^\"\\])*\"|\'(?:\\.|[^\'\\])\'")
_HASH_COMMENT_LANGUAGES = frozenset({"python", "ruby", "bash"})
# The name after these declares something (a nested ``def add():`` in a test), it does not use it.
_DECLARES = re.compile(
    r"(?:\b(?:def|class|function\*?|fn|fun|interface|struct|enum|trait)\s+|\bfunc\s*(?:\([^()\n]*\)\s*)?)$"
)
_RECEIVER = re.compile(r"([A-Za-z_$][\w$]*)\s*(?:\.|->|::)\s*$")
_SELF_NAMES = frozenset({"self", "this", "cls"})


@dataclass(frozen=True, slots=True)
class MemberOwner:
    """Which class a method target belongs to, and the other classes defining a method of that name.

    ``self.name`` inside one of those other classes is then its own method, not the target.
    A receiver named after a class (``app.route``) is not read that way: with inheritance
    (``Flask(App)``) the name says too little (measured: it lost more uses than it dropped).
    """

    owner: str
    others: frozenset[str]

    def rejects(self, receiver: str | None, enclosing_class: str | None) -> bool:
        return receiver in _SELF_NAMES and enclosing_class is not None and enclosing_class in self.others


def _non_code_spans(text: str, language: str) -> list[tuple[int, int]]:
    """Sorted ``(start, end)`` offsets of the comments and string literals of a chunk's text."""
    if language in _HASH_COMMENT_LANGUAGES:
        pattern = _NON_CODE_HASH
    elif language == "rust":
        pattern = _NON_CODE_RUST
    else:
        pattern = _NON_CODE_SLASH
    spans: list[tuple[int, int]] = []
    for m in pattern.finditer(text):
        if text[m.start()] == "`":
            spans.extend(_template_literal_parts(text, *m.span()))
        else:
            spans.append(m.span())
    return spans


def _template_literal_parts(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The literal parts of a template string: ``${...}`` substitutions are code (``${f(x)}``)."""
    parts: list[tuple[int, int]] = []
    i, piece = start, start
    while i < end:
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith("${", i):
            parts.append((piece, i + 2))
            depth, i = 1, i + 2
            while i < end and depth:
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
            piece = i - 1
            continue
        i += 1
    parts.append((piece, end))
    return parts


def _in_spans(spans: list[tuple[int, int]], starts: list[int], offset: int) -> bool:
    i = bisect.bisect_right(starts, offset) - 1
    return i >= 0 and offset < spans[i][1]


def _line_kind(line: str, name: str, col: int) -> str:
    if _IMPORT_LINE.match(line):
        return "import"
    rest = line[col + len(name) :]
    if re.match(r"\s*(?:<[^<>()]*>\s*)?\(", rest) or re.match(r"\s*!?\(", rest):
        return "call"
    return "reference"


def _accept(
    line: str,
    m: re.Match[str],
    members: set[str],
    owners: Mapping[str, MemberOwner],
    enclosing_class: str | None,
) -> bool:
    before = line[: m.start(1)]
    if _DECLARES.search(before):
        return False
    name = m.group(1)
    if name not in members:
        return True
    if _IMPORT_LINE.match(line) or line[m.end(1) :].startswith("."):
        return False  # an import, or a dotted module path such as conexus.search.fusion
    if not before.rstrip().endswith((".", "->", "::")):
        return False
    owner = owners.get(name)
    if owner is None:
        return True
    receiver = _RECEIVER.search(before)
    return not owner.rejects(receiver.group(1) if receiver else None, enclosing_class)


def _preferred_chunks(store: Store, words: Sequence[str], paths: Sequence[str], limit: int) -> list[int]:
    """Chunks naming ``words`` in ``paths`` (the target's files and their importers), best first."""
    files, _ = store.snapshot()  # read only: the per-generation cache, not a new read of every row
    ids = frozenset(files[p].id for p in paths if p in files)
    if not ids:
        return []
    terms = [index_token(w) for w in words]
    return [cid for cid, _ in store.lexical(terms, limit, ChunkFilter(file_ids=ids))]


def find_references(
    store: Store,
    names: Sequence[str],
    *,
    exclude: Sequence[Definition] = (),
    exclude_paths: Iterable[str] = (),
    member_names: Iterable[str] = (),
    owners: Mapping[str, MemberOwner] | None = None,
    prefer_paths: Sequence[str] = (),
    max_candidates: int = MAX_REFERENCE_CANDIDATES,
) -> list[Reference]:
    """Confirmed occurrences of any of ``names`` in the indexed chunks: code first, then mentions.

    Candidates come from the store's lexical retrieval (one index token per
    name): first the chunks of ``prefer_paths`` (the files that import the
    target, where its uses are; a common name such as ``get`` or ``App``
    otherwise fills ``max_candidates`` with other files), then the best of
    the whole index. Every candidate line is checked with a case-sensitive
    word-boundary regex. Names in ``member_names`` (methods) count only after
    a member access (``.name``, ``->name``, ``::name``) and not on import
    lines, so the method ``search`` does not match the word "search" in prose
    or a ``conexus.search`` module path. The line that defines another symbol
    of the same name is skipped; an occurrence in a comment, a string or a
    prose file is kind ``mention``. With ``owners`` (see :class:`MemberOwner`)
    a method's member accesses whose receiver points at another class defining
    the same name are left out. Lines inside ``exclude`` definitions and
    files in ``exclude_paths`` are left out. Each (path, line) appears once.
    """
    words = [n for n in dict.fromkeys(names) if _WORD_NAME.fullmatch(n) and len(n) >= 2]
    if not words:
        return []
    skip_paths = set(exclude_paths)
    members = set(member_names)
    per_name = max(20, max_candidates // len(words))
    ranked: list[int] = []
    seen_ids: set[int] = set()
    preferred = _preferred_chunks(store, words, prefer_paths, max_candidates) if prefer_paths else []
    for cid in preferred:
        if cid not in seen_ids:
            seen_ids.add(cid)
            ranked.append(cid)
    for word in words:
        for cid, _score in store.lexical([index_token(word)], per_name):
            if cid not in seen_ids:
                seen_ids.add(cid)
                ranked.append(cid)
    rows = store.get_chunks(ranked)
    pattern = re.compile(r"(?<![\w$])(" + "|".join(re.escape(w) for w in words) + r")(?![\w$])")
    code: list[Reference] = []
    mentions: list[Reference] = []
    seen_lines: set[tuple[str, int]] = set()
    for cid in ranked:
        checkpoint()  # background work: searches in flight go first (conexus.priority)
        row = rows.get(cid)
        if row is None or row.path in skip_paths:
            continue
        enclosing = f"{row.parent}.{row.symbol}" if row.parent and row.symbol else row.symbol
        enclosing_class = (
            row.parent.rsplit(".", 1)[-1] if row.parent and row.kind == "method" else
            row.symbol if row.kind not in ("function", "method", "module", "window", "section") else None
        )  # fmt: skip
        prose = row.language not in TREE_SITTER_LANGUAGES
        spans = [] if prose else _non_code_spans(row.text, row.language)
        starts = [a for a, _ in spans]
        declared = row.symbol if row.symbol in words else None
        offset = 0
        for index, line in enumerate(row.text.split("\n")):
            line_start, offset = offset, offset + len(line) + 1
            raw = list(pattern.finditer(line))
            if not raw:
                continue
            if declared is not None and any(
                x.group(1) == declared and not prose and not _in_spans(spans, starts, line_start + x.start(1))
                for x in raw
            ):
                declared = None  # the first code line of a chunk naming its own symbol declares it
                continue
            found = [x for x in raw if _accept(line, x, members, owners or {}, enclosing_class)]
            if not found:
                continue
            line_no = row.start_line + index
            if (row.path, line_no) in seen_lines or any(d.contains(row.path, line_no) for d in exclude):
                continue
            seen_lines.add((row.path, line_no))
            in_code = [
                x for x in found if not prose and not _in_spans(spans, starts, line_start + x.start(1))
            ]
            m = (in_code or found)[0]
            kind = _line_kind(line, m.group(1), m.start(1)) if in_code else "mention"
            ref = Reference(
                path=row.path,
                line=line_no,
                name=m.group(1),
                text=line.strip()[:300],
                kind=kind,
                chunk_id=cid,
                enclosing=enclosing,
            )
            (code if in_code else mentions).append(ref)
    return code + mentions
