"""Scoring for ``bench.chunk_accuracy``: Conexus's symbol chunks against a reference's declarations.

Pure functions over plain data (no parser, no subprocess), so the rules are unit-tested on inline
snippets:

* ``conexus_symbols`` turns a file's chunks into one ``CxSymbol`` per declaration: the parts of a
  split symbol (adjacent chunks repeating its signature in ``header``) are one symbol, and a
  container's span reaches over the chunks of its members (``parent`` = its qualified name).
* ``score_file`` pairs reference declarations with Conexus symbols of the same name, one to one,
  nearest declaration line first, and counts recall, precision, exact start, end within one line
  and whole-span coverage (``FileScore``); every miss gets a cause (``MissCause``).

Conexus ranges include the comment block (and Rust attributes, C ``#if``/access labels glued
below) above a declaration by design; the reference's start is the declaration itself. So a
symbol's *declaration start* skips those leading lines before it is compared (``declaration_start``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# Declarations whose recall is measured: definitions with a body, and type declarations.
DEFINITION_KINDS = frozenset(
    {
        "function",
        "method",
        "class",
        "struct",
        "interface",
        "enum",
        "trait",
        "impl",
        "record",
        "union",
        "annotation",
    }
)
CONTAINER_KINDS = frozenset(
    {
        "class",
        "interface",
        "struct",
        "enum",
        "trait",
        "impl",
        "object",
        "protocol",
        "extension",
        "union",
        "module",
        "namespace",
    }
)
FUNCTION_KINDS = frozenset({"function", "method"})


class ChunkLike(Protocol):
    """What scoring reads of a ``conexus.models.Chunk``."""

    @property
    def start_line(self) -> int: ...
    @property
    def end_line(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def symbol(self) -> str | None: ...
    @property
    def parent(self) -> str | None: ...
    @property
    def signature(self) -> str | None: ...
    @property
    def header(self) -> str: ...


@dataclass(frozen=True)
class RefSymbol:
    """A declaration as the reference tooling sees it; lines 1-based, ``end`` None when unknown."""

    name: str
    kind: str
    start: int
    end: int | None
    parent: str | None = None
    local: bool = False  # inside a function body: Conexus keeps those in the function's chunk

    @property
    def counted(self) -> bool:
        """Whether recall counts it: a definition or type declaration outside any function body."""
        return self.kind in DEFINITION_KINDS and not self.local


@dataclass
class CxSymbol:
    """One Conexus declaration: its chunks (``parts``) and, for a container, its members' chunks."""

    name: str
    kind: str
    parent: str | None
    parts: list[tuple[int, int]]
    member_parts: list[tuple[int, int]] = field(default_factory=list)
    signature: str | None = None

    @property
    def qualname(self) -> str:
        return f"{self.parent}.{self.name}" if self.parent else self.name

    @property
    def start(self) -> int:
        return min(s for s, _ in self.parts)

    def within(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Its own parts and the members' parts that start in ``lo..hi``.

        A member's ``parent`` names its container but not where it is: a Go method or a C++
        ``Foo::bar`` defined outside ``Foo`` has ``parent`` ``Foo`` too, so only members inside the
        reference's span of the container count as the container's.
        """
        return self.parts + [(s, e) for s, e in self.member_parts if lo <= s <= hi]

    def end_within(self, lo: int, hi: int) -> int:
        return max(e for _, e in self.within(lo, hi))


def normalize(name: str) -> str:
    """The comparable form of a name: its last path segment, without generics or spaces."""
    last = re.split(r"::|\.", name.strip())[-1] or name.strip()
    return re.sub(r"<.*$|\s+", "", last)


def _is_split_part(chunk: ChunkLike) -> bool:
    # The parts of a split symbol carry its signature in ``header`` (chunking rule "Size").
    if not chunk.signature:
        return False
    first = chunk.signature.strip().splitlines()[0].strip() if chunk.signature.strip() else ""
    return bool(first) and first in chunk.header


def conexus_symbols(chunks: Iterable[ChunkLike]) -> list[CxSymbol]:
    """One ``CxSymbol`` per declaration among ``chunks`` (a single file's), sorted by start line."""
    out: list[CxSymbol] = []
    last: dict[tuple[str, str, str | None, str | None], CxSymbol] = {}
    last_end: dict[tuple[str, str, str | None, str | None], int] = {}
    for c in sorted(chunks, key=lambda c: (c.start_line, c.end_line)):
        if not c.symbol or c.kind in ("section", "window"):
            continue
        # Two containers of one name (Rust's `impl S` and `impl Display for S`) differ by signature.
        key = (c.kind, c.symbol, c.parent, c.signature if c.kind in CONTAINER_KINDS else None)
        prev = last.get(key)
        # A container's runs (header, fields, closing lines) between its members are one symbol;
        # a function's parts are one symbol only when they follow each other as a split.
        same = prev is not None and (
            c.kind in CONTAINER_KINDS or (_is_split_part(c) and c.start_line > last_end[key])
        )
        if same and prev is not None:
            prev.parts.append((c.start_line, c.end_line))
        else:
            prev = CxSymbol(c.symbol, c.kind, c.parent, [(c.start_line, c.end_line)], signature=c.signature)
            out.append(prev)
            last[key] = prev
        last_end[key] = c.end_line
    by_qualname: dict[str, list[CxSymbol]] = {}
    for sym in out:
        if sym.kind in CONTAINER_KINDS:
            by_qualname.setdefault(sym.qualname, []).append(sym)
    for sym in out:
        parent = sym.parent
        while parent:
            for container in by_qualname.get(parent, []):
                container.member_parts.extend(sym.parts)
            parent = parent.rpartition(".")[0]
    return sorted(out, key=lambda s: (s.start, s.parts[0][1]))


_LINE_COMMENT = re.compile(r"^\s*(?://|#(?![\[!]?\[)|--)")
_PREFIX_LINE = re.compile(
    r"^\s*(?:#!?\[.*|#\s*(?:if|ifdef|ifndef|elif|else)\b.*|(?:public|private|protected|internal)\s*:)\s*$"
)


def _skippable(text: str, language: str) -> bool:
    if text.startswith("//") or (language == "python" and text.startswith("#")):
        return True
    return language != "python" and _PREFIX_LINE.match(text) is not None


def declaration_start(lines: Sequence[str], start: int, end: int, language: str) -> int:
    """The first line of ``start..end`` (1-based) that is not a leading comment, attribute or label.

    ``#`` starts a comment only in Python; C's ``#if`` and Rust's ``#[...]`` are prefixes of their own.
    """
    in_block = False
    row = start
    while row <= end and row <= len(lines):
        text = lines[row - 1].strip()
        if in_block:
            in_block = "*/" not in text
        elif not text:
            pass
        elif text.startswith("/*"):
            in_block = "*/" not in text[2:]
            if not in_block and not text.endswith("*/"):
                return row  # code after the comment on the same line
        elif not _skippable(text, language):
            return row
        row += 1
    return start


@dataclass(frozen=True)
class Miss:
    """A reference declaration Conexus has no symbol for, or a matched one with a wrong line."""

    cause: str
    path: str
    ref: RefSymbol
    detail: str = ""


@dataclass
class FileScore:
    """Counts of one file (or, summed, of a language)."""

    counted: int = 0  # reference declarations recall is measured on
    found: int = 0
    in_container: int = 0  # not found, but inside the one chunk of a small container (findable there)
    start_exact: int = 0
    with_end: int = 0  # found ones whose reference end is known
    end_close: int = 0
    spans: int = 0  # counted ones whose reference end is known
    covered: int = 0
    cx_symbols: int = 0
    cx_known: int = 0
    misses: list[Miss] = field(default_factory=list)
    unknown: list[tuple[str, CxSymbol]] = field(default_factory=list)  # Conexus symbols the reference lacks

    def add(self, other: FileScore) -> None:
        for name in (
            "counted",
            "found",
            "in_container",
            "start_exact",
            "with_end",
            "end_close",
            "spans",
            "covered",
            "cx_symbols",
            "cx_known",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.misses.extend(other.misses)
        self.unknown.extend(other.unknown)

    def figures(self) -> dict[str, float | None]:
        """Recall, precision, start exact, end within one line, coverage (None where nothing counted)."""

        def share(a: int, b: int) -> float | None:
            return round(a / b, 3) if b else None

        return {
            "recall": share(self.found, self.counted),
            "recall_in_container": share(self.found + self.in_container, self.counted),
            "precision": share(self.cx_known, self.cx_symbols),
            "start_exact": share(self.start_exact, self.found),
            "end_pm1": share(self.end_close, self.with_end),
            "covered": share(self.covered, self.spans),
        }


def _pair(refs: list[RefSymbol], cxs: list[CxSymbol], starts: dict[int, int]) -> dict[int, int]:
    """Indices ref -> cx of one name, one to one, nearest declaration start first, counted refs first."""
    pairs = sorted(
        (
            (abs(starts[id(c)] - r.start), not r.counted, i, j)
            for i, r in enumerate(refs)
            for j, c in enumerate(cxs)
        ),
    )
    taken_r: set[int] = set()
    taken_c: set[int] = set()
    out: dict[int, int] = {}
    for _, _, i, j in pairs:
        if i not in taken_r and j not in taken_c:
            out[i] = j
            taken_r.add(i)
            taken_c.add(j)
    return out


def _miss_cause(
    ref: RefSymbol, chunks: Sequence[ChunkLike], cxs: list[CxSymbol], starts: dict[int, int]
) -> str:
    end = ref.end if ref.end is not None else ref.start
    holders = [c for c in chunks if c.start_line <= ref.start and end <= c.end_line]
    for c in holders:
        if c.kind in CONTAINER_KINDS and c.symbol:
            return f"member of a one-chunk {c.kind}"
    for c in holders:
        if c.kind in FUNCTION_KINDS:
            return "inside a function chunk"
    for cx in cxs:
        if starts[id(cx)] == ref.start:
            return "under another name"
    if any(c.kind == "module" and not c.symbol for c in holders):
        return "in a module chunk"
    return "split across chunks of other symbols"


def score_file(
    path: str,
    language: str,
    lines: Sequence[str],
    refs: Sequence[RefSymbol],
    chunks: Sequence[ChunkLike],
) -> FileScore:
    """Compare one file's reference declarations with its chunks."""
    cxs = conexus_symbols(chunks)
    starts = {id(c): declaration_start(lines, c.start, max(e for _, e in c.parts), language) for c in cxs}
    score = FileScore(cx_symbols=len(cxs))
    by_name: dict[str, tuple[list[RefSymbol], list[CxSymbol]]] = {}
    for r in refs:
        by_name.setdefault(normalize(r.name), ([], []))[0].append(r)
    for c in cxs:
        by_name.setdefault(normalize(c.name), ([], []))[1].append(c)
    for rs, cs in by_name.values():
        if rs:
            score.cx_known += len(cs)
        else:
            score.unknown.extend((path, c) for c in cs)
        paired = _pair(rs, cs, starts) if rs and cs else {}
        for i, r in enumerate(rs):
            if not r.counted:
                continue
            score.counted += 1
            if r.end is not None:
                score.spans += 1
            j = paired.get(i)
            if j is None:
                cause = _miss_cause(r, chunks, cxs, starts)
                score.in_container += cause.startswith("member of a one-chunk")
                score.misses.append(Miss(cause, path, r))
                continue
            cx = cs[j]
            score.found += 1
            start = starts[id(cx)]
            if start == r.start:
                score.start_exact += 1
            else:
                score.misses.append(
                    Miss(
                        f"start {'early' if start < r.start else 'late'}",
                        path,
                        r,
                        _lines(cx, cx.end_within(r.start, r.end or r.start)),
                    )
                )
            if r.end is None:
                continue
            score.with_end += 1
            parts = cx.within(r.start, r.end)
            end = max(e for _, e in parts)
            if abs(end - r.end) <= 1:
                score.end_close += 1
            elif end < r.end:
                score.misses.append(Miss("end early", path, r, _lines(cx, end)))
            else:
                tail = lines[r.end : end]
                glue = all(not t.strip() or _CLOSING_OR_COMMENT.match(t) for t in tail)
                cause = "end late: closing lines or comments glued" if glue else "end late"
                score.misses.append(Miss(cause, path, r, _lines(cx, end)))
            body = [n for n in range(r.start, r.end + 1) if n <= len(lines) and lines[n - 1].strip()]
            if all(any(s <= n <= e for s, e in parts) for n in body):
                score.covered += 1
    return score


_CLOSING_OR_COMMENT = re.compile(r"^\s*(?:[\])};,]+\s*)*(?://.*|/\*.*|\*.*|#.*|end\b.*)?$")


def _lines(cx: CxSymbol, end: int) -> str:
    return f"conexus {cx.kind} {cx.qualname} {cx.start}-{end}"


def top_causes(misses: Iterable[Miss], examples: int = 3) -> list[tuple[str, int, list[Miss]]]:
    """Miss causes by count (per reference kind), most frequent first, with up to ``examples`` each."""
    counts: Counter[str] = Counter()
    samples: dict[str, list[Miss]] = {}
    for m in misses:
        key = f"{m.ref.kind}: {m.cause}"
        counts[key] += 1
        if len(samples.setdefault(key, [])) < examples:
            samples[key].append(m)
    return [(key, n, samples[key]) for key, n in counts.most_common()]
