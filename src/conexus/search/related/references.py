"""References: occurrences of names in the indexed chunks, from the store's lexical index
(one token per name), each confirmed with a word-boundary regex on the chunk text."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

from conexus.search.related.imports import index_token
from conexus.search.related.results import Definition, Reference
from conexus.store.base import Store

logger = logging.getLogger(__name__)

MAX_REFERENCE_CANDIDATES = 400
_WORD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IMPORT_LINE = re.compile(r"^\s*(?:import\b|from\s+\S+\s+import\b|export\s.*\bfrom\b|.*\brequire\s*\()")


# ----------------------------------------------------------------------------------- references


def _line_kind(line: str, name: str, col: int) -> str:
    if _IMPORT_LINE.match(line):
        return "import"
    rest = line[col + len(name) :]
    if re.match(r"\s*(?:<[^<>()]*>\s*)?\(", rest) or re.match(r"\s*!?\(", rest):
        return "call"
    return "reference"


def _accept(line: str, m: re.Match[str], members: set[str]) -> bool:
    if m.group(1) not in members:
        return True
    if _IMPORT_LINE.match(line) or line[m.end(1) :].startswith("."):
        return False  # an import, or a dotted module path such as conexus.search.fusion
    return line[: m.start(1)].rstrip().endswith((".", "->", "::"))


def find_references(
    store: Store,
    names: Sequence[str],
    *,
    exclude: Sequence[Definition] = (),
    exclude_paths: Iterable[str] = (),
    member_names: Iterable[str] = (),
    max_candidates: int = MAX_REFERENCE_CANDIDATES,
) -> list[Reference]:
    """Confirmed occurrences of any of ``names`` in the indexed chunks, best chunks first.

    Candidates come from the store's lexical retrieval (one index token per
    name), then every candidate line is checked with a
    case-sensitive word-boundary regex. Names in ``member_names`` (methods)
    count only after a member access (``.name``, ``->name``, ``::name``) and
    not on import lines, so the method ``search`` does not match the word
    "search" in prose or a ``conexus.search`` module path. Lines inside
    ``exclude`` definitions and files in ``exclude_paths`` are left out. Each
    (path, line) appears once.
    """
    words = [n for n in dict.fromkeys(names) if _WORD_NAME.fullmatch(n) and len(n) >= 2]
    if not words:
        return []
    skip_paths = set(exclude_paths)
    members = set(member_names)
    per_name = max(20, max_candidates // len(words))
    ranked: list[int] = []
    seen_ids: set[int] = set()
    for word in words:
        for cid, _score in store.lexical([index_token(word)], per_name):
            if cid not in seen_ids:
                seen_ids.add(cid)
                ranked.append(cid)
    rows = store.get_chunks(ranked)
    pattern = re.compile(r"(?<![\w$])(" + "|".join(re.escape(w) for w in words) + r")(?![\w$])")
    out: list[Reference] = []
    seen_lines: set[tuple[str, int]] = set()
    for cid in ranked:
        row = rows.get(cid)
        if row is None or row.path in skip_paths:
            continue
        enclosing = f"{row.parent}.{row.symbol}" if row.parent and row.symbol else row.symbol
        for offset, line in enumerate(row.text.split("\n")):
            m = next((x for x in pattern.finditer(line) if _accept(line, x, members)), None)
            if m is None:
                continue
            line_no = row.start_line + offset
            if (row.path, line_no) in seen_lines or any(d.contains(row.path, line_no) for d in exclude):
                continue
            seen_lines.add((row.path, line_no))
            out.append(
                Reference(
                    path=row.path,
                    line=line_no,
                    name=m.group(1),
                    text=line.strip()[:300],
                    kind=_line_kind(line, m.group(1), m.start(1)),
                    chunk_id=cid,
                    enclosing=enclosing,
                )
            )
    return out
