"""Definitions and targets: the indexed chunks that define a symbol, and what a target string names."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from conexus.errors import PathError, QueryError
from conexus.search.related.results import Definition, Target
from conexus.search.tree import Tree, as_tree
from conexus.store.base import ChunkRow, FileRow, Store

logger = logging.getLogger(__name__)

_FUNCTION_KINDS = frozenset({"function", "method"})
_PACKAGE_ENTRY_FILES = ("__init__.py", "index.ts", "index.tsx", "index.js", "index.jsx", "mod.rs", "lib.rs")
_SYMBOL_TARGET = re.compile(r"[A-Za-z_$][\w$]*(?:(?:\.|::|#)[A-Za-z_$][\w$]*)*")
_CITATION_TARGET = re.compile(r"(.+?):(\d+)(?:-(\d+))?")


# ----------------------------------------------------------------------------------- targets


def _module_name(path: str) -> str:
    stem = path.rsplit(".", 1)[0]
    if stem.endswith("/__init__"):
        stem = stem[: -len("/__init__")]
    return stem.replace("/", ".")


def group_definitions(
    rows: Iterable[ChunkRow], file_rows: Mapping[str, Sequence[ChunkRow]] | None = None
) -> list[Definition]:
    """Merge the chunks of each (path, parent, symbol) into one Definition, in path/line order.

    A large class is chunked as its header plus one chunk per member; with
    ``file_rows`` (all chunks of the files concerned) a container's range and
    chunk ids are widened to cover its members, so ``Class`` cites the whole class.
    """
    groups: dict[tuple[str, str | None, str], list[ChunkRow]] = {}
    for row in rows:
        if row.symbol is None or row.kind == "section":
            continue
        groups.setdefault((row.path, row.parent, row.symbol), []).append(row)
    out: list[Definition] = []
    for (path, parent, symbol), parts in groups.items():
        qualified = f"{parent}.{symbol}" if parent else symbol
        members = [
            r
            for r in (file_rows or {}).get(path, ())
            if r.parent and (r.parent == qualified or r.parent.startswith(qualified + "."))
        ]
        parts = sorted(
            {r.id: r for r in [*parts, *members]}.values(), key=lambda r: (r.start_line, r.end_line)
        )
        first = next(r for r in parts if r.symbol == symbol and r.parent == parent)
        out.append(
            Definition(
                path=path,
                start_line=first.start_line,
                end_line=max(r.end_line for r in parts),
                symbol=symbol,
                parent=parent,
                kind=first.kind,
                language=first.language,
                signature=first.signature,
                docstring=first.docstring,
                chunk_ids=tuple(r.id for r in parts),
            )
        )
    out.sort(key=lambda d: (d.path, d.start_line, d.end_line))
    return out


def find_definitions(store: Store, name: str, limit: int = 200) -> list[Definition]:
    """Definitions of ``name``: plain (``parse``), qualified (``Parser.parse``) or module-qualified.

    The last component is looked up as a symbol; the rest must end the
    symbol's parent or its module path. Exact case wins over case-insensitive.
    """
    parts = [p for p in re.split(r"\.|::|#", name.strip()) if p]
    if not parts:
        return []
    symbol, qualifier = parts[-1], ".".join(parts[:-1])
    found = store.chunks_by_symbol([symbol], max(limit * 4, 200))
    rows = list(store.get_chunks([cid for cid, _ in found]).values())
    exact = [r for r in rows if r.symbol == symbol]
    rows = exact or rows
    if qualifier:
        q = qualifier.lower()

        def qualified(r: ChunkRow) -> bool:
            parent = (r.parent or "").lower()
            module = _module_name(r.path).lower()
            full = f"{module}.{parent}" if parent else module
            return any(x == q or x.endswith("." + q) for x in (parent, full, module) if x)

        rows = [r for r in rows if qualified(r)]
    containers = {r.path for r in rows if r.kind not in _FUNCTION_KINDS}
    file_rows = {path: store.chunks_of_file(path) for path in sorted(containers)[:limit]}
    return group_definitions(rows, file_rows)[:limit]


def _is_symbol_like(text: str) -> bool:
    return _SYMBOL_TARGET.fullmatch(text) is not None


def resolve_target(root: Tree | Path, store: Store, target: str) -> Target:
    """Decide whether ``target`` is a file (path, ``path:line`` or ``path:start-end``) or a symbol.

    Raises:
        QueryError: empty target, or no file or symbol of that name (the
            message lists candidates when a file name is ambiguous).
        PathError: a path-looking target that leaves the root.
    """
    text = target.strip()
    if not text:
        raise QueryError("empty target: give a file path relative to the root or a symbol name")
    tree = as_tree(root)
    files, _ = store.snapshot()  # read only: the per-generation cache, not a new read of every row

    m = _CITATION_TARGET.fullmatch(text)
    if m and not _is_symbol_like(text):
        path_part, start = m.group(1), int(m.group(2))
        end = int(m.group(3)) if m.group(3) else start
        file_target = _file_target(tree, store, files, path_part)
        if file_target is not None:
            inside = [d for d in file_target.definitions if d.start_line <= start and end <= d.end_line]
            if inside:
                best = min(inside, key=lambda d: d.end_line - d.start_line)
                return Target(text, "symbol", (best.path,), (best,))
            return file_target

    try:
        file_target = _file_target(tree, store, files, text)
    except PathError:
        if not _is_symbol_like(text):
            raise
        file_target = None
    if file_target is not None:
        return file_target

    if _is_symbol_like(text):
        defs = find_definitions(store, text)
        if defs:
            paths = tuple(dict.fromkeys(d.path for d in defs))
            return Target(text, "symbol", paths, tuple(defs))

    # A bare file name or path suffix: "grep.py", "search/grep.py".
    suffix = text.replace("\\", "/").lstrip("./")
    if suffix and ("/" in suffix or "." in suffix):
        matches = sorted(p for p in files if p == suffix or p.endswith("/" + suffix))
        if len(matches) == 1:
            ft = _file_target(tree, store, files, matches[0])
            if ft is not None:
                return ft
        if len(matches) > 1:
            shown = ", ".join(matches[:10])
            raise QueryError(f"{text!r} matches {len(matches)} files; give the full path: {shown}")
    raise QueryError(
        f"no file or symbol named {text!r} in the index; give a root-relative path or a symbol "
        "name (e.g. 'Class.method'), or use search to find it"
    )


def _file_target(tree: Tree, store: Store, files: dict[str, FileRow], path: str) -> Target | None:
    rel = tree.confine(path)
    if rel in files:
        rows = store.chunks_of_file(rel)
        return Target(path, "file", (rel,), tuple(group_definitions(rows, {rel: rows})))
    if tree.is_file(rel):
        return Target(path, "file", (rel,), (), indexed=False, notes=(f"{rel} is not indexed",))
    if tree.is_dir(rel):
        # A package or module directory stands for its entry file.
        for name in _PACKAGE_ENTRY_FILES:
            entry = name if rel == "." else f"{rel}/{name}"
            if entry in files:
                return _file_target(tree, store, files, entry)
        raise QueryError(f"{rel} is a directory; give a file in it, or a symbol name")
    return None
