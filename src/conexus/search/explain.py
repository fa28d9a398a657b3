"""An evidence bundle for a symbol, a file or a free-text question. No model writes anything here.

For each symbol explained: its definition (signature, docstring), its callers
(call sites found by :func:`conexus.search.related.find_references`), its
callees (names called inside the definition that resolve to indexed symbols,
preferring the same file, then files it imports), the tests that exercise it
and a few usage examples (snippets around call sites).

Every claim cites ``path:start-end`` and is checked before it is returned:
the file must exist and the lines be in range, or the claim is dropped
(``dropped`` counts them); the cited text must still hash to what was
indexed, or the claim is kept with ``status="stale"``. A claim on a file
whose content is unchanged since indexing is ``verified`` without slicing.

Files are read from the root's tree (:mod:`conexus.search.tree`): on a replica
without a checkout, the indexed texts, against which every claim is verified.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from conexus.errors import PathError, QueryError
from conexus.models import Hit
from conexus.paths import is_test_path
from conexus.search.freshness import FreshnessChecker
from conexus.search.hybrid import HybridSearcher, SearchRequest
from conexus.search.read import split_lines
from conexus.search.related import (
    Definition,
    Reference,
    RelatedItem,
    RepoLayout,
    Target,
    find_importers,
    find_references,
    group_definitions,
    member_owners,
    reference_names,
    reference_scope,
    related_tests,
    repo_layout,
    resolve_target,
    tree_imports,
)
from conexus.search.tree import Tree, as_tree
from conexus.store.base import ChunkRow, FileRow, Store

# A call: an optional receiver and member access (``obj.``, ``ptr->``, ``ns::``), a name, optional
# generic arguments, an opening parenthesis.
_CALLEE = re.compile(
    r"(?:([A-Za-z_$][\w$]*|\))\s*(\.|->|::)\s*)?(?<![\w$])([A-Za-z_$][\w$]*)\s*(?:<[^<>()\n]*>\s*)?\("
)
_DEFINES = re.compile(r"\b(?:def|func|function|fn|fun)\s*(?:\([^()\n]*\)\s*)?$")
_WORDS = re.compile(r"[A-Za-z_$][\w$]*")
_SELF_NAMES = frozenset({"self", "this", "cls", "super"})
# Keywords and builtins that look like calls (``if (``, ``return (``) but name no symbol.
# fmt: off
_NOT_CALLEES = frozenset({
    "if", "elif", "else", "for", "while", "switch", "case", "return", "yield", "await", "catch",
    "except", "with", "assert", "match", "when", "try", "def", "function", "func", "fn", "class",
    "struct", "interface", "enum", "new", "delete", "sizeof", "typeof", "instanceof", "not", "and",
    "or", "in", "is", "lambda", "print", "super", "self", "this", "import", "require", "from",
    "export", "package", "go", "defer", "raise", "throw",
})
# fmt: on
MAX_CALLEE_NAMES = 60
EXAMPLE_CONTEXT = 2


@dataclass(frozen=True, slots=True)
class Claim:
    """One cited piece of evidence.

    ``status`` is ``verified`` (the cited lines are what was indexed),
    ``stale`` (the file changed and these lines no longer match the index) or
    ``unverified`` (nothing indexed covers these lines, e.g. an unindexed file).
    """

    kind: str  # definition | caller | callee | test | example | hit | symbol
    path: str
    start_line: int
    end_line: int
    name: str | None
    text: str
    status: str

    @property
    def citation(self) -> str:
        return f"{self.path}:{self.start_line}-{self.end_line}"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "citation": self.citation,
            "name": self.name,
            "text": self.text,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class SymbolExplanation:
    """The evidence about one symbol."""

    name: str  # qualified
    kind: str
    definition: Claim
    signature: str | None
    docstring: str | None
    callers: tuple[Claim, ...]
    callees: tuple[Claim, ...]
    tests: tuple[Claim, ...]
    examples: tuple[Claim, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "definition": self.definition.to_dict(),
            "signature": self.signature,
            "docstring": self.docstring,
            "callers": [c.to_dict() for c in self.callers],
            "callees": [c.to_dict() for c in self.callees],
            "tests": [c.to_dict() for c in self.tests],
            "examples": [c.to_dict() for c in self.examples],
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    """The answer of :func:`explain`.

    ``target_kind`` is ``symbol``, ``file`` or ``query``. ``subjects`` are the
    symbols explained in depth; ``outline`` lists the other symbols of a file
    target; ``hits`` are the search hits of a query target. ``dropped`` counts
    claims whose citation no longer exists on disk.
    """

    target: str
    target_kind: str
    subjects: tuple[SymbolExplanation, ...]
    outline: tuple[Claim, ...]
    hits: tuple[Claim, ...]
    dropped: int
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "target_kind": self.target_kind,
            "subjects": [s.to_dict() for s in self.subjects],
            "outline": [c.to_dict() for c in self.outline],
            "hits": [c.to_dict() for c in self.hits],
            "dropped": self.dropped,
            "notes": list(self.notes),
        }


class CitationChecker:
    """Checks citations against the tree and the index; caches each file once per request."""

    def __init__(
        self,
        root: Tree | Path,
        store: Store,
        files: dict[str, FileRow],
        freshness: FreshnessChecker | None = None,
    ) -> None:
        self.tree = as_tree(root)
        self.store = store
        self.files = files
        self.dropped = 0
        self.freshness = freshness or FreshnessChecker(self.tree)
        self._disk: dict[str, list[str] | None] = {}
        self._chunks: dict[str, list[ChunkRow]] = {}

    def _load(self, path: str) -> list[str] | None:
        if path not in self._disk:
            text = self.freshness.current_text(path)
            self._disk[path] = split_lines(text) if text is not None else None
        return self._disk[path]

    def _file_chunks(self, path: str) -> list[ChunkRow]:
        if path not in self._chunks:
            self._chunks[path] = self.store.chunks_of_file(path)
        return self._chunks[path]

    def status(self, path: str, start: int, end: int, chunk_ids: Sequence[int] = ()) -> str | None:
        """``verified``, ``stale`` or ``unverified``; None (counted as dropped) when the lines are gone."""
        loaded = self._load(path)
        if loaded is None or start < 1 or end < start or end > len(loaded):
            self.dropped += 1
            return None
        lines = loaded
        row = self.files.get(path)
        if row is not None and self.freshness.check(path, row.hash, row.size, row.mtime_ns).is_fresh:
            return "verified"
        chunks = self._file_chunks(path)
        if chunk_ids:
            wanted = set(chunk_ids)
            covering = [c for c in chunks if c.id in wanted]
        else:
            covering = [c for c in chunks if c.start_line <= end and start <= c.end_line]
        if not covering:
            return "unverified"
        for chunk in covering:
            if chunk.end_line > len(lines):
                return "stale"
            current = "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
            rebuilt = dataclasses.replace(chunk.to_chunk(), text=current)
            if rebuilt.hash() != chunk.hash:
                return "stale"
        return "verified"

    def claim(
        self,
        kind: str,
        path: str,
        start: int,
        end: int,
        name: str | None,
        text: str,
        chunk_ids: Sequence[int] = (),
    ) -> Claim | None:
        state = self.status(path, start, end, chunk_ids)
        if state is None:
            return None
        return Claim(kind, path, start, end, name, text, state)


def _keep(claims: Sequence[Claim | None], limit: int) -> tuple[Claim, ...]:
    return tuple(c for c in claims if c is not None)[:limit]


def _calls(rows: Sequence[ChunkRow], own: str) -> dict[str, set[str | None]]:
    """Names called in ``rows`` with their receivers (None for a plain call), first seen first."""
    calls: dict[str, set[str | None]] = {}
    for row in rows:
        for m in _CALLEE.finditer(row.text):
            receiver, access, name = m.group(1), m.group(2), m.group(3)
            if _DEFINES.search(row.text, max(0, m.start() - 80), m.start()):
                continue  # "def name(" declares, it does not call
            if (name == own and receiver is None) or name in _NOT_CALLEES or len(name) < 2:
                continue
            if name not in calls and len(calls) >= MAX_CALLEE_NAMES:
                continue
            calls.setdefault(name, set()).add((receiver or "") if access else None)
    return calls


def _imported_files(tree: Tree, store: Store, layout: RepoLayout, path: str) -> set[str]:
    row = layout.files.get(path)
    if row is None:
        return set()
    out: set[str] = set()
    for ref in tree_imports(tree, store, path, row.language):
        out.update(layout.resolve(path, row.language, ref))
    return out


def _pick_callee(
    defn: Definition, receivers: set[str | None], candidates: list[Definition], imported: set[str]
) -> Definition | None:
    """The definition a call from ``defn`` most likely reaches, or None rather than a guess.

    A plain call prefers functions in the same file, then in imported files,
    then a name defined exactly once. A member call ``recv.name(`` on
    ``self``/``this`` must stay in the caller's class; on a class or module
    name it must land in that class or module; on anything else it may only
    reach a method of the same file or an imported one (``text.replace(``
    must not resolve to some unrelated ``replace`` method).
    """
    if not candidates:
        return None
    near = {defn.path} | imported
    # A method of the caller's own class is reached through self/this, not through another receiver.
    own_classes = {defn.parent, defn.qualified_name}
    tests: list[Callable[[Definition], bool]] = []
    if None in receivers:
        tests += [
            lambda c: c.path == defn.path and c.parent is None,
            lambda c: c.path in imported and c.parent is None,
        ]
    for recv in sorted(r for r in receivers if r is not None):
        if recv in _SELF_NAMES:
            tests.append(lambda c: c.path == defn.path and c.parent == defn.parent and c.parent is not None)
        else:
            tests += [
                _on_class(recv),
                _in_module(recv),
                lambda c: c.parent is not None and c.path in near and c.parent not in own_classes,
            ]
    for test in tests:
        chosen = [c for c in candidates if test(c)]
        if chosen:
            return chosen[0]
    plain = [c for c in candidates if c.parent is None]
    if None in receivers and len(plain) == 1:
        return plain[0]
    return None


def _on_class(receiver: str) -> Callable[[Definition], bool]:
    return lambda c: c.parent is not None and c.parent.rsplit(".", 1)[-1] == receiver


def _in_module(receiver: str) -> Callable[[Definition], bool]:
    return lambda c: c.parent is None and _stem(c.path) == receiver


def _stem(path: str) -> str:
    name = path.rsplit("/", 1)[-1].split(".", 1)[0]
    return path.rsplit("/", 2)[-2] if name in ("__init__", "index") and "/" in path else name


def _snippet(row: ChunkRow, line: int) -> tuple[int, int, str]:
    lines = row.text.split("\n")
    idx = line - row.start_line
    lo = max(0, idx - EXAMPLE_CONTEXT)
    hi = min(len(lines), idx + EXAMPLE_CONTEXT + 1)
    return row.start_line + lo, row.start_line + hi - 1, "\n".join(lines[lo:hi])


def _explain_symbol(
    root: Tree,
    store: Store,
    checker: CitationChecker,
    layout: RepoLayout,
    defn: Definition,
    limit: int,
) -> SymbolExplanation | None:
    doc = (defn.docstring or "").strip()
    head = defn.signature or ""
    definition = checker.claim(
        "definition", defn.path, defn.start_line, defn.end_line, defn.qualified_name, head, defn.chunk_ids
    )
    if definition is None:
        return None

    # Callers and examples: confirmed call sites, in files importing this one first.
    methods = [defn.symbol] if defn.parent is not None and defn.kind == "method" else []
    edges = find_importers(root, store, [defn.path])
    refs = find_references(
        store,
        [defn.symbol],
        exclude=(),  # a recursive call is a caller; the declaration line is skipped as such
        member_names=methods,
        owners=member_owners(store, Target(defn.qualified_name, "symbol", (defn.path,), (defn,))),
        prefer_paths=reference_scope(root, store, [defn.path], edges),
    )
    importer_paths = {e.importer for e in edges} | {defn.path}
    refs.sort(key=lambda r: (r.path not in importer_paths, is_test_path(r.path)))
    calls = [r for r in refs if r.kind == "call"]
    callers = _keep(
        [
            checker.claim("caller", r.path, r.line, r.line, r.enclosing or "<module>", r.text, (r.chunk_id,))
            for r in calls[: limit * 2]
        ],
        limit,
    )
    examples = _examples(store, checker, calls, limit)

    # Callees: names called in the definition's own chunks that resolve to indexed symbols.
    rows = list(store.get_chunks(list(defn.chunk_ids)).values())
    called = _calls(rows, defn.symbol)
    found = store.chunks_by_symbol(list(called), 1000)
    by_name: dict[str, list[Definition]] = {}
    for d in group_definitions(store.get_chunks([cid for cid, _ in found]).values()):
        own = d.path == defn.path and defn.start_line <= d.start_line and d.end_line <= defn.end_line
        if d.symbol in called and not own:  # a class's own methods are not its callees
            by_name.setdefault(d.symbol, []).append(d)
    imported = _imported_files(root, store, layout, defn.path)
    callee_claims: list[Claim | None] = []
    for name, receivers in called.items():
        target = _pick_callee(defn, receivers, by_name.get(name, []), imported)
        if target is not None:
            callee_claims.append(
                checker.claim(
                    "callee",
                    target.path,
                    target.start_line,
                    target.end_line,
                    target.qualified_name,
                    target.signature or "",
                    target.chunk_ids,
                )
            )
    callees = _keep(callee_claims, limit)

    tests_items = related_tests(
        root, Target(defn.qualified_name, "symbol", (defn.path,), (defn,)), layout.files, edges, refs
    )
    tests = _keep([_item_claim(checker, "test", i) for i in tests_items[: limit * 2]], limit)
    return SymbolExplanation(
        name=defn.qualified_name,
        kind=defn.kind,
        definition=definition,
        signature=defn.signature,
        docstring=doc or None,
        callers=callers,
        callees=callees,
        tests=tests,
        examples=examples,
    )


def _examples(
    store: Store, checker: CitationChecker, calls: Sequence[Reference], limit: int
) -> tuple[Claim, ...]:
    """Snippets around call sites, at most one per file, non-test files first."""
    chosen: list[Reference] = []
    seen: set[str] = set()
    for ref in sorted(calls, key=lambda r: is_test_path(r.path)):
        if ref.path not in seen:
            seen.add(ref.path)
            chosen.append(ref)
        if len(chosen) >= min(limit, 3):
            break
    rows = store.get_chunks([r.chunk_id for r in chosen])
    out: list[Claim | None] = []
    for ref in chosen:
        row = rows.get(ref.chunk_id)
        if row is None:
            continue
        start, end, text = _snippet(row, ref.line)
        out.append(checker.claim("example", ref.path, start, end, ref.enclosing, text, (ref.chunk_id,)))
    return _keep(out, limit)


def _first_line(hit: Hit) -> str:
    return hit.signature or hit.snippet.split("\n", 1)[0].strip()


def _item_claim(checker: CitationChecker, kind: str, item: RelatedItem) -> Claim | None:
    text = item.detail if not item.name else f"{item.name}: {item.detail}" if item.detail else item.name
    return checker.claim(kind, item.path, item.start_line, item.end_line, item.name, text)


def explain(
    root: Tree | Path,
    store: Store,
    searcher: HybridSearcher,
    target: str,
    *,
    limit: int = 8,
    max_subjects: int = 3,
) -> Explanation:
    """Gather checked evidence about ``target``: a symbol, a file, or a free-text question.

    A symbol (``parse``, ``Parser.parse``) is explained with its definition,
    callers, callees, tests and usage examples; a file by its main symbols
    (``max_subjects`` in depth, the rest in ``outline``); anything else runs
    the hybrid search and explains the symbols of its top hits. Each list is
    capped at ``limit``.

    Raises:
        QueryError: empty target or limits out of range.
    """
    if not 1 <= limit <= 50:
        raise QueryError(f"limit must be between 1 and 50, got {limit}")
    if not 1 <= max_subjects <= 10:
        raise QueryError(f"max_subjects must be between 1 and 10, got {max_subjects}")
    if not target.strip():
        raise QueryError("empty target: give a symbol, a file path or a question")
    tree = as_tree(root)
    layout = repo_layout(tree, store)
    freshness = FreshnessChecker(searcher.source) if searcher.source is not None else None
    checker = CitationChecker(tree, store, layout.files, freshness)
    notes: list[str] = []
    if tree.note is not None:
        notes.append(f"claims are checked against the indexed text: {tree.note}")

    try:
        resolved: Target | None = resolve_target(tree, store, target)
    except (QueryError, PathError):
        resolved = None

    subjects: list[SymbolExplanation] = []
    outline: list[Claim | None] = []
    hits: list[Claim | None] = []
    if resolved is not None and resolved.kind == "symbol":
        kind = "symbol"
        defs = list(resolved.definitions)
        if len(defs) > max_subjects:
            notes.append(f"{target!r} has {len(defs)} definitions; explaining the first {max_subjects}")
    elif resolved is not None:
        kind = "file"
        if not resolved.indexed:
            notes.append(f"{resolved.files[0]} is not indexed; index it to explain its symbols")
        # Main symbols first: public top-level ones that importers name most, then the biggest.
        names = set(reference_names(resolved))
        edges = find_importers(tree, store, resolved.files)
        named = Counter(w for e in edges for w in _WORDS.findall(e.specifier))
        ordered = sorted(
            resolved.definitions,
            key=lambda d: (
                d.parent is not None,
                d.symbol not in names,
                -named[d.symbol],
                d.start_line - d.end_line,
                d.start_line,
            ),
        )
        defs = ordered
        for d in sorted(ordered[max_subjects:], key=lambda d: d.start_line)[: limit * 4]:
            outline.append(
                checker.claim("symbol", d.path, d.start_line, d.end_line, d.qualified_name, d.signature or "",
                              d.chunk_ids)
            )  # fmt: skip
    else:
        kind = "query"
        result = searcher.search(SearchRequest(query=target, top_k=min(100, max(limit, 10))))
        defs = []
        seen: set[tuple[str, str | None, str]] = set()
        for hit in result.hits:
            hits.append(
                checker.claim("hit", hit.path, hit.start_line, hit.end_line, hit.symbol, _first_line(hit),
                              (hit.chunk_id,))
            )  # fmt: skip
            if hit.symbol is None or hit.kind in ("section", "window", "module"):
                continue
            key = (hit.path, hit.parent, hit.symbol)
            if key in seen:
                continue
            seen.add(key)
            rows = [r for r in store.chunks_of_file(hit.path) if (r.path, r.parent, r.symbol) == key]
            defs.extend(group_definitions(rows))
        if not defs:
            notes.append("no symbol among the search hits; see hits")

    for defn in defs[:max_subjects]:
        explained = _explain_symbol(tree, store, checker, layout, defn, limit)
        if explained is not None:
            subjects.append(explained)
    if checker.dropped:
        notes.append(f"{checker.dropped} claims were dropped: their files or lines no longer exist")
    return Explanation(
        target=target,
        target_kind=kind,
        subjects=tuple(subjects),
        outline=_keep(outline, limit * 4),
        hits=_keep(hits, limit),
        dropped=checker.dropped,
        notes=tuple(notes),
    )
