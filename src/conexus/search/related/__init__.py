"""What is related to a file or a symbol: definitions, imports both ways, references, tests, history.

The package, by job: ``imports`` (extraction, resolution, the import graph),
``definitions``, ``references``, ``tests`` (test <-> subject), ``results`` (the
data); this module assembles the bundle (``related_info``, history from git).

Everything here is deterministic and cites ``path:start-end``:

* **Definitions** come from the indexed chunks (a symbol split into several
  chunks is reported once, with its whole range).
* **Imports** are extracted with tree-sitter at index time and kept in the store
  with each content; they are resolved inside the repository for Python
  (absolute, relative, packages, ``src`` layouts), JavaScript/TypeScript
  (relative specifiers with extension and ``index`` resolution, ``.js``
  specifiers naming ``.ts`` sources), Go (module path from ``go.mod``, one
  package = one directory) and the languages of ``native_imports``. "Who
  imports this" is a lookup of the stored import terms, then a resolution of
  those files' stored imports: nothing is parsed per request.
* **References** are found with the store's lexical index (one token per name) and
  confirmed with a word-boundary regex on the chunk text, so a hit is a real
  occurrence of the identifier, not a stemmed or split token.
* **Tests** are test files (by naming convention) that import the target,
  mention its symbols, or are named after it.
* **History** is ``git log``: co-changed files and recent commits.

Files are read from the root's tree (:mod:`conexus.search.tree`): the checkout,
or on a replica without one the indexed texts (there is no git history then).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from conexus.errors import PathError, QueryError
from conexus.gitinfo import Commit, co_changed, is_git_repo, recent_commits
from conexus.paths import is_test_path
from conexus.priority import checkpoint
from conexus.search.read import split_lines
from conexus.search.related.definitions import find_definitions, group_definitions, resolve_target
from conexus.search.related.imports import (
    IMPORT_LANGUAGES,
    MAX_GRAPH_FILES,
    MAX_IMPORT_FILE_BYTES,
    ImportEdge,
    ImportRef,
    RepoLayout,
    _spec_text,
    extract_imports,
    file_graph,
    find_importers,
    imports_of,
    index_token,
    repo_layout,
    tree_imports,
)
from conexus.search.related.references import MemberOwner, find_references
from conexus.search.related.results import Definition, Reference, RelatedInfo, RelatedItem, Target
from conexus.search.related.tests import _subject_stem, subject_of_test
from conexus.search.tree import Tree, as_tree
from conexus.store.base import FileRow, Store

__all__ = [
    "IMPORT_LANGUAGES",
    "MAX_GRAPH_FILES",
    "MAX_IMPORT_FILE_BYTES",
    "Definition",
    "ImportEdge",
    "ImportRef",
    "MemberOwner",
    "Reference",
    "RelatedInfo",
    "RelatedItem",
    "RepoLayout",
    "Target",
    "extract_imports",
    "file_graph",
    "find_definitions",
    "find_importers",
    "find_references",
    "group_definitions",
    "imports_of",
    "index_token",
    "is_test_path",
    "member_names",
    "member_owners",
    "reference_names",
    "reference_scope",
    "related_info",
    "related_tests",
    "repo_layout",
    "resolve_target",
    "subject_of_test",
    "tree_imports",
]

logger = logging.getLogger(__name__)

MAX_REFERENCE_NAMES = 40
MAX_SCOPE_FILES = 200
_ENTRY_STEMS = frozenset({"__init__", "index", "mod", "lib"})


# ----------------------------------------------------------------------------------- the bundle


def _file_lines(tree: Tree, rel: str, files: dict[str, FileRow]) -> int:
    """Line count for a whole-file citation: from the tree's text, else from the index."""
    try:
        text = tree.load(rel, MAX_IMPORT_FILE_BYTES).text
        if text is not None:
            return max(1, len(split_lines(text)))
    except (PathError, OSError):
        pass
    row = files.get(rel)
    return max(1, row.n_lines) if row else 1


def _capped(items: list[RelatedItem], limit: int, label: str, notes: list[str]) -> tuple[RelatedItem, ...]:
    if len(items) > limit:
        notes.append(f"{label}: showing {limit} of {len(items)}")
    return tuple(items[:limit])


def member_owners(store: Store, target: Target) -> dict[str, MemberOwner]:
    """For a method target, its class and the other classes that define a method of the same name."""
    if target.kind != "symbol":
        return {}
    out: dict[str, MemberOwner] = {}
    for name in member_names(target):
        owners = {d.parent.rsplit(".", 1)[-1] for d in target.definitions if d.symbol == name and d.parent}
        if len(owners) != 1:
            continue  # several targets at once: any of them may be meant
        found = store.chunks_by_symbol([name], 400)
        rows = store.get_chunks([cid for cid, _ in found]).values()
        others = {r.parent.rsplit(".", 1)[-1] for r in rows if r.symbol == name and r.parent} - owners
        if others:
            out[name] = MemberOwner(owners.pop(), frozenset(others))
    return out


def member_names(target: Target) -> list[str]:
    """Names of ``target`` that are only ever methods: their references need a member access."""
    if target.kind != "symbol":
        return []
    out: dict[str, bool] = {}
    for d in target.definitions:
        out[d.symbol] = out.get(d.symbol, True) and d.parent is not None and d.kind == "method"
    return [name for name, only_methods in out.items() if only_methods]


def reference_names(target: Target) -> list[str]:
    """The names whose references matter for ``target``: the symbol, or a file's public top-level symbols."""
    if target.kind == "symbol":
        return list(dict.fromkeys(d.symbol for d in target.definitions))
    names = [
        d.symbol
        for d in target.definitions
        if d.parent is None and not d.symbol.startswith("_") and len(d.symbol) >= 3
    ]
    return list(dict.fromkeys(names))[:MAX_REFERENCE_NAMES]


def reference_scope(
    root: Tree | Path, store: Store, files: Sequence[str], edges: Sequence[ImportEdge]
) -> list[str]:
    """The files where uses of a target are: its own, its importers, and the importers of a package
    entry file (``__init__.py``, ``index.ts``) that re-exports it, at most ``MAX_SCOPE_FILES``."""
    scope = dict.fromkeys([*files, *(e.importer for e in edges)])
    entries = [e.importer for e in edges if e.importer.rsplit("/", 1)[-1].split(".", 1)[0] in _ENTRY_STEMS]
    if entries:
        scope.update(dict.fromkeys(e.importer for e in find_importers(root, store, sorted(set(entries)))))
    return list(scope)[:MAX_SCOPE_FILES]


def related_tests(
    root: Tree | Path,
    target: Target,
    files: dict[str, FileRow],
    importers: Sequence[ImportEdge],
    references: Sequence[Reference],
) -> list[RelatedItem]:
    """Test files that use the target: for a symbol, those that name it in code; for a file, also
    those that import it or are named after it."""
    tree = as_tree(root)
    found: dict[str, tuple[int, RelatedItem, list[str]]] = {}

    def add(priority: int, item: RelatedItem, reason: str) -> None:
        current = found.get(item.path)
        if current is None:
            found[item.path] = (priority, item, [reason])
            return
        if reason not in current[2]:
            current[2].append(reason)
        if priority < current[0]:
            found[item.path] = (priority, item, current[2])

    target_files = set(target.files)
    for ref in references:
        if is_test_path(ref.path) and ref.path not in target_files and ref.kind != "mention":
            add(
                0,
                RelatedItem(ref.path, ref.line, ref.line, "test", ref.name, ref.text),
                f"mentions {ref.name}",
            )
    if target.kind == "symbol":
        # A test that imports the module but never names the symbol tests something else in it
        # (bench.tool_accuracy: most of the tests listed for a symbol were of that kind).
        return _ordered_tests(found)
    for edge in importers:
        if is_test_path(edge.importer):
            add(
                1,
                RelatedItem(edge.importer, edge.line, edge.end_line, "test", edge.specifier),
                f"imports {edge.target}",
            )
    stems = {_subject_stem(p) for p in target.files if not is_test_path(p)}
    if stems:
        for path in sorted(files):
            if path in target_files:
                continue
            subject = subject_of_test(path)
            if subject is not None and subject in stems and is_test_path(path):
                add(
                    2, RelatedItem(path, 1, _file_lines(tree, path, files), "test", subject), "named after it"
                )
    return _ordered_tests(found)


def _ordered_tests(found: dict[str, tuple[int, RelatedItem, list[str]]]) -> list[RelatedItem]:
    ordered = sorted(found.values(), key=lambda v: (v[0], v[1].path, v[1].start_line))
    return [
        RelatedItem(item.path, item.start_line, item.end_line, "test", item.name, "; ".join(reasons))
        for _, item, reasons in ordered
    ]


def related_info(
    root: Tree | Path,
    store: Store,
    target: str,
    *,
    limit: int = 20,
    history: bool = True,
    max_commits: int = 500,
) -> RelatedInfo:
    """Definitions, imports, importers, references, tests and git history of a file or symbol.

    ``target`` is a root-relative file path (optionally ``path:line`` or
    ``path:start-end``, which narrows to the symbol at those lines) or a symbol
    name, plain or qualified (``Class.method``, ``module.function``).

    Raises:
        QueryError: empty or unknown target, ``limit`` out of 1..200.
        PathError: a path that leaves the root.
    """
    if not 1 <= limit <= 200:
        raise QueryError(f"limit must be between 1 and 200, got {limit}")
    tree = as_tree(root)
    resolved = resolve_target(tree, store, target)
    notes = list(resolved.notes)
    layout = repo_layout(tree, store)
    files = layout.files

    definitions = [
        RelatedItem(d.path, d.start_line, d.end_line, d.kind, d.qualified_name, d.signature or "")
        for d in resolved.definitions
    ]
    if resolved.kind == "symbol" and len(resolved.definitions) > 1:
        notes.append(
            f"{target!r} is defined in {len(resolved.definitions)} places; results cover all of them"
        )

    imports: list[RelatedItem] = []
    for path in resolved.files:
        row = files.get(path)
        language = row.language if row is not None else _detect(tree, path)
        for ref in tree_imports(tree, store, path, language):
            spec = _spec_text(ref)
            targets: list[str | None] = [*layout.resolve(path, language, ref)] or [None]
            for tgt in targets:
                detail = "external" if tgt is None else ""
                imports.append(RelatedItem(path, ref.line, ref.end_line, "import", spec, detail, tgt))

    checkpoint()  # background work: searches in flight go first (conexus.priority)
    edges = find_importers(tree, store, resolved.files)
    checkpoint()
    importers = [
        RelatedItem(e.importer, e.line, e.end_line, "import", e.specifier, "", e.target) for e in edges
    ]

    names = reference_names(resolved)
    exclude_paths = resolved.files if resolved.kind == "file" else ()
    refs = find_references(
        store,
        names,
        # A symbol's own body holds real uses (recursion, ``Class.attr`` in its methods); only its
        # declaration line is skipped, which find_references does for every definition it meets.
        exclude=resolved.definitions if resolved.kind == "file" else (),
        exclude_paths=exclude_paths,
        member_names=member_names(resolved),
        owners=member_owners(store, resolved),
        prefer_paths=reference_scope(tree, store, resolved.files, edges),
    )
    importer_paths = {e.importer for e in edges} | set(resolved.files)
    refs.sort(key=lambda r: (r.kind == "mention", is_test_path(r.path), r.path not in importer_paths))
    references = [r.to_item() for r in refs]

    checkpoint()
    tests = related_tests(tree, resolved, files, edges, refs)
    checkpoint()
    if resolved.kind == "symbol" and not tests and resolved.files:
        notes.append(
            f"no test names {target!r}; ask about its file ({resolved.files[0]}) for the tests that "
            "import it or are named after it"
        )

    co_changes: list[RelatedItem] = []
    commits: list[Commit] = []
    if resolved.files and not history:
        notes.append("git history is off: no co-change or commit history")
    elif resolved.files:
        main_file = resolved.files[0]
        if not tree.working:
            notes.append("no working tree on this replica: no co-change or commit history")
        elif is_git_repo(tree.root):
            for cc in co_changed(tree.root, main_file, limit=limit, max_commits=max_commits):
                n = _file_lines(tree, cc.path, files)
                co_changes.append(
                    RelatedItem(cc.path, 1, n, "co_change", None, f"changed together in {cc.count} commits",
                                count=cc.count)
                )  # fmt: skip
            commits = recent_commits(tree.root, main_file, limit=min(limit, 10))
        else:
            notes.append("not a git repository: no co-change or commit history")

    return RelatedInfo(
        target=target,
        target_kind=resolved.kind,
        files=resolved.files,
        definitions=_capped(definitions, limit, "definitions", notes),
        imports=_capped(imports, limit, "imports", notes),
        importers=_capped(importers, limit, "importers", notes),
        references=_capped(references, limit, "references", notes),
        tests=_capped(tests, limit, "tests", notes),
        co_changes=tuple(co_changes),
        recent_commits=tuple(commits),
        notes=tuple(notes),
    )


def _detect(tree: Tree, rel: str) -> str:
    from conexus.indexing.languages import detect_language

    try:
        text = tree.load(rel, MAX_IMPORT_FILE_BYTES).text or ""
    except (PathError, OSError):
        text = ""
    first = text[:200].split("\n", 1)[0]
    return detect_language(rel, first) or "text"
