"""Imports: extraction with tree-sitter, resolution inside the repository, the import graph.

Python (absolute, relative, packages, ``src`` layouts), JavaScript/TypeScript
(relative specifiers with extension and ``index`` resolution, ``.js`` naming ``.ts``
sources) and Go (module path from ``go.mod``, one package = one directory) here;
Java, Rust, C/C++, PHP and Ruby in :mod:`conexus.search.related.native_imports`.

The imports of indexed files were extracted at index time and are read from the
store (:meth:`~conexus.store.base.Store.file_imports`); "who imports this" looks
the imported name up among the stored import terms
(:meth:`~conexus.store.base.Store.importing_files`) and resolves only those
files' imports: no file is read or parsed per request, with or without a
checkout (:mod:`conexus.search.tree`). Only a file the store holds no imports
for (not indexed, or indexed before imports were kept) is parsed from the
working tree, cached per (path, content hash). The repository layout and the
whole-tree graph are built once per index generation, keyed by the store's ``key``.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conexus.indexing.imports import (
    IMPORT_LANGUAGES,
    NATIVE_LANGUAGES,
    PACKAGE_RELATIVE_TERM,
    ImportRef,
    extract_imports,
    index_token,
    name_terms,
)
from conexus.models import content_hash, decode_text
from conexus.search.localize import FileGraph
from conexus.search.read import looks_binary, read_bytes
from conexus.search.related.native_imports import NativeResolver, import_name
from conexus.search.tree import Tree, as_tree, config_text
from conexus.store.base import FileRow, Store

__all__ = [  # with what this module re-exports from the extraction it resolves
    "IMPORT_LANGUAGES",
    "MAX_GRAPH_FILES",
    "MAX_IMPORT_FILE_BYTES",
    "NATIVE_LANGUAGES",
    "ImportEdge",
    "ImportRef",
    "RepoLayout",
    "extract_imports",
    "file_graph",
    "find_importers",
    "imports_of",
    "index_token",
    "repo_layout",
    "tree_imports",
]

logger = logging.getLogger(__name__)

MAX_IMPORT_FILE_BYTES = 2 * 1024 * 1024
_JS_LANGUAGES = frozenset({"javascript", "typescript", "tsx"})
_JS_EXTENSIONS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
_JS_SWAPS = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}
_GO_MODULE = re.compile(r"^\s*module\s+\"?([^\s\"]+)\"?", re.M)


# ----------------------------------------------------------------------------------- imports


@dataclass
class _CachedImports:
    size: int
    mtime_ns: int
    hash: str
    refs: tuple[ImportRef, ...]


_IMPORT_CACHE: dict[tuple[str, str], _CachedImports] = {}
_IMPORT_CACHE_MAX = 200_000
_IMPORT_LOCK = threading.Lock()


def imports_of(root: Path, rel: str, language: str) -> tuple[ImportRef, ...]:
    """The imports of one file as it is on disk, cached per (path, content hash).

    A file whose size and mtime are unchanged is not read again; a touched but
    identical file is read and hashed but not re-parsed.
    """
    if language not in IMPORT_LANGUAGES:
        return ()
    absolute = os.path.join(root, rel)
    key = (str(root), rel)
    try:
        st = os.stat(absolute)
    except OSError:
        return ()
    with _IMPORT_LOCK:
        cached = _IMPORT_CACHE.get(key)
    if cached is not None and cached.size == st.st_size and cached.mtime_ns == st.st_mtime_ns:
        return cached.refs
    try:
        data, st = read_bytes(absolute, MAX_IMPORT_FILE_BYTES)
    except OSError:
        return ()
    if st.st_size > MAX_IMPORT_FILE_BYTES:
        return ()
    if looks_binary(data):
        return ()
    text, _ = decode_text(data)
    digest = content_hash(text)
    if cached is not None and cached.hash == digest:
        refs = cached.refs
    else:
        try:
            refs = extract_imports(language, text)
        except (ValueError, RuntimeError):  # one unparsable file must not break the graph
            logger.warning("import extraction failed for %s", rel, exc_info=True)
            refs = ()
    with _IMPORT_LOCK:
        if len(_IMPORT_CACHE) >= _IMPORT_CACHE_MAX:
            _IMPORT_CACHE.clear()
        _IMPORT_CACHE[key] = _CachedImports(st.st_size, st.st_mtime_ns, digest, refs)
    return refs


# ----------------------------------------------------------------------------------- resolution


@dataclass
class RepoLayout:
    """What import resolution needs to know about the indexed files (built once per generation)."""

    files: dict[str, FileRow]
    py_modules: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # dotted -> [(path, prefix)]
    go_modules: list[tuple[str, str]] = field(default_factory=list)  # (module path, dir), longest first
    go_packages: dict[str, list[str]] = field(default_factory=dict)  # dir -> non-test .go files
    native: NativeResolver | None = None  # Java, Rust, C/C++, PHP, Ruby

    @classmethod
    def build(cls, root: Tree | Path, files: dict[str, FileRow]) -> RepoLayout:
        """The layout of ``files``; ``go.mod`` and ``Cargo.toml`` are read from the tree ``root``."""
        tree = as_tree(root)
        layout = cls(files=files)
        layout.native = NativeResolver(tree, files)
        packages = {posixpath.dirname(p) for p in files if p.endswith("/__init__.py") or p == "__init__.py"}
        for path in files:
            if path.endswith((".py", ".pyi")):
                stem = path.rsplit(".", 1)[0]
                parts = stem.split("/")
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                for i in range(len(parts)):
                    prefix = "/".join(parts[:i])
                    if prefix and prefix in packages:
                        continue  # a module inside a package is importable only with its package name
                    layout.py_modules.setdefault(".".join(parts[i:]), []).append((path, prefix))
            elif path.endswith(".go") and not path.endswith("_test.go"):
                layout.go_packages.setdefault(posixpath.dirname(path), []).append(path)
        mod_dirs = {posixpath.dirname(p) for p in files if posixpath.basename(p) == "go.mod"}
        for pkg_dir in list(layout.go_packages):
            d = pkg_dir
            while True:
                if d not in mod_dirs and tree.is_file(posixpath.join(d, "go.mod")):
                    mod_dirs.add(d)
                if not d:
                    break
                d = posixpath.dirname(d)
        for d in mod_dirs:
            text = config_text(tree, posixpath.join(d, "go.mod"))
            m = _GO_MODULE.search(text) if text is not None else None
            if m:
                layout.go_modules.append((m.group(1), d))
        layout.go_modules.sort(key=lambda md: -len(md[0]))
        for paths in layout.go_packages.values():
            paths.sort()
        return layout

    # -- Python ----------------------------------------------------------------------------------
    def _py_file(self, module_path: str) -> str | None:
        for cand in (f"{module_path}.py", f"{module_path}/__init__.py", f"{module_path}.pyi"):
            if cand in self.files:
                return cand
        return None

    def _py_absolute(self, dotted: str, importer: str) -> str | None:
        cands = self.py_modules.get(dotted)
        if not cands:
            return None
        importer_dir = posixpath.dirname(importer)
        if "." not in dotted:
            # A bare top-level name: only from the root, a source root, or the importer's own
            # directory (scripts, pytest rootdir insertion); elsewhere it is likely stdlib or a package.
            cands = [c for c in cands if c[1] in ("", "src", "lib", "python", importer_dir)]
            if not cands:
                return None

        def rank(c: tuple[str, str]) -> tuple[int, int, int, str]:
            path, prefix = c
            return (prefix != importer_dir, path.endswith(".pyi"), prefix.count("/") + bool(prefix), path)

        return min(cands, key=rank)[0]

    def resolve_python(self, importer: str, ref: ImportRef) -> list[str]:
        wanted = [n for n in ref.names if n != "*"]
        if ref.level:
            base = posixpath.dirname(importer)
            for _ in range(ref.level - 1):
                if not base:
                    return []
                base = posixpath.dirname(base)
            mod = posixpath.join(base, *ref.specifier.split(".")) if ref.specifier else base
            subs = [self._py_file(posixpath.join(mod, n) if mod else n) for n in wanted]
            whole = self._py_file(mod) if mod else self._py_file("__init__")
        else:
            subs = [self._py_absolute(f"{ref.specifier}.{n}", importer) for n in wanted]
            whole = self._py_absolute(ref.specifier, importer)
        out = [s for s in subs if s]
        # "from pkg import name": name is a submodule or something defined in pkg itself.
        if whole and (not wanted or "*" in ref.names or len(out) < len(wanted)):
            out.append(whole)
        return list(dict.fromkeys(p for p in out if p != importer))

    # -- JavaScript / TypeScript -----------------------------------------------------------------
    def resolve_js(self, importer: str, ref: ImportRef) -> list[str]:
        spec = ref.specifier
        if not spec.startswith(("./", "../")) and spec not in (".", ".."):
            return []  # a package, not a file of this repository
        base = posixpath.normpath(posixpath.join(posixpath.dirname(importer), spec))
        if base == ".." or base.startswith("../"):
            return []
        cands: list[str] = []
        ext = posixpath.splitext(base)[1]
        if ext:
            cands.append(base)
            cands += [base[: -len(ext)] + swap for swap in _JS_SWAPS.get(ext, ())]
        cands += [base + e for e in _JS_EXTENSIONS]
        cands += [f"{base}/index{e}" for e in _JS_EXTENSIONS]
        for cand in cands:
            if cand in self.files and cand != importer:
                return [cand]
        return []

    # -- Go --------------------------------------------------------------------------------------
    def resolve_go(self, importer: str, ref: ImportRef) -> list[str]:
        spec = ref.specifier
        for module, mod_dir in self.go_modules:
            if spec == module or spec.startswith(module + "/"):
                sub = spec[len(module) :].lstrip("/")
                pkg_dir = posixpath.normpath(posixpath.join(mod_dir, sub)) if (mod_dir or sub) else ""
                pkg_dir = "" if pkg_dir == "." else pkg_dir
                return [p for p in self.go_packages.get(pkg_dir, []) if p != importer]
        return []

    def resolve(self, importer: str, language: str, ref: ImportRef) -> list[str]:
        """The repository files ``ref`` (an import in ``importer``) refers to; empty when external."""
        if language == "python":
            return self.resolve_python(importer, ref)
        if language in _JS_LANGUAGES:
            return self.resolve_js(importer, ref)
        if language == "go":
            return self.resolve_go(importer, ref)
        if language in NATIVE_LANGUAGES and self.native is not None:
            return self.native.resolve(importer, language, ref.specifier, ref.names)
        return []


@dataclass(frozen=True, slots=True)
class ImportEdge:
    """``importer`` imports ``target`` with the statement at ``line..end_line``."""

    importer: str
    target: str
    line: int
    end_line: int
    specifier: str


@dataclass
class _CachedLayout:
    generation: str
    layout: RepoLayout
    #: Indexed files the store holds no imports for (indexed before imports were kept).
    unstored: frozenset[str] = frozenset()
    # The store it was built from: an index cleared and built again (by any process) is opened
    # as a new store whose generations count from the start again, so the number alone can repeat.
    store: Store | None = None
    importers: dict[tuple[str, ...], list[ImportEdge]] = field(default_factory=dict)
    graph: _WholeGraph | None = None


@dataclass(frozen=True)
class _WholeGraph:
    imports: dict[str, tuple[str, ...]]
    in_degree: dict[str, int]
    complete: bool = True  # False past MAX_GRAPH_FILES: only the imports of the files asked about


_LAYOUTS: dict[tuple[str, str, bool], _CachedLayout] = {}
_LAYOUT_LOCK = threading.Lock()
MAX_IMPORTER_CANDIDATE_CHUNKS = 50_000


def _cached_layout(tree: Tree, store: Store) -> _CachedLayout:
    key = (str(tree.root), store.key, tree.working)
    generation = store.meta().get("generation", "0")
    with _LAYOUT_LOCK:
        cached = _LAYOUTS.get(key)
        if cached is None or cached.generation != generation or cached.store is not store:
            files = store.files()
            layout = RepoLayout.build(tree, files)
            cached = _CachedLayout(generation, layout, frozenset(store.unstored_files()), store)
            _LAYOUTS[key] = cached
        return cached


def repo_layout(root: Tree | Path, store: Store) -> RepoLayout:
    """The :class:`RepoLayout` of the indexed files, rebuilt only when the store generation changes."""
    return _cached_layout(as_tree(root), store).layout


def tree_imports(root: Tree | Path, store: Store, rel: str, language: str) -> tuple[ImportRef, ...]:
    """The imports of one file: as indexed (from the store) when the store holds them, else
    parsed from the working tree (an unindexed file); none from an indexed tree that lacks them."""
    if language not in IMPORT_LANGUAGES:
        return ()
    stored = store.file_imports([rel]).get(rel)
    if stored is not None:
        return stored
    tree = as_tree(root)
    return imports_of(tree.root, rel, language) if tree.working else ()


def _imports_by_file(tree: Tree, store: Store, paths: Sequence[str]) -> dict[str, tuple[ImportRef, ...]]:
    """The imports of indexed ``paths``: one store read, plus a parse of any the store lacks."""
    found = store.file_imports(paths)
    if tree.working:
        for path in paths:
            if path not in found:
                row = store.file(path)
                found[path] = imports_of(tree.root, path, row.language) if row is not None else ()
    return found


#: Trees with more importable files than this get no whole-repository graph (no centrality lift);
#: the imports of the files being ranked are still read.
MAX_GRAPH_FILES = 20_000


def _resolved(layout: RepoLayout, path: str, refs: tuple[ImportRef, ...]) -> tuple[str, ...]:
    row = layout.files.get(path)
    if row is None or row.language not in IMPORT_LANGUAGES:
        return ()
    targets: dict[str, None] = {}
    for ref in refs:
        for target in layout.resolve(path, row.language, ref):
            targets[target] = None
    return tuple(targets)


def _whole_graph(tree: Tree, store: Store, layout: RepoLayout) -> _WholeGraph:
    importable = sorted(p for p, row in layout.files.items() if row.language in IMPORT_LANGUAGES)
    if len(importable) > MAX_GRAPH_FILES:
        return _WholeGraph({}, {}, complete=False)
    refs = _imports_by_file(tree, store, importable)
    imports = {p: _resolved(layout, p, refs.get(p, ())) for p in importable}
    in_degree: dict[str, int] = {}
    for targets in imports.values():
        for target in targets:
            in_degree[target] = in_degree.get(target, 0) + 1
    return _WholeGraph(imports, in_degree)


def file_graph(root: Tree | Path, store: Store, paths: Sequence[str]) -> FileGraph:
    """The import graph around ``paths``: what each imports, and how many files import each of them.

    The whole repository's graph is built once per store generation from the
    stored imports and kept with the layout; past ``MAX_GRAPH_FILES``
    importable files only the imports of ``paths`` are read and no in-degree
    is known.
    """
    tree = as_tree(root)
    cached = _cached_layout(tree, store)
    with _LAYOUT_LOCK:
        whole = cached.graph
    if whole is None:
        whole = _whole_graph(tree, store, cached.layout)
        with _LAYOUT_LOCK:
            cached.graph = whole
    imports: dict[str, tuple[str, ...]] = {}
    if whole.complete:
        for path in paths:
            if whole.imports.get(path):
                imports[path] = whole.imports[path]
        involved = set(paths).union(*imports.values())
        return FileGraph(imports, {p: whole.in_degree[p] for p in sorted(involved) if p in whole.in_degree})
    indexed = [p for p in paths if p in cached.layout.files]
    refs = _imports_by_file(tree, store, indexed)
    for path in indexed:
        found = _resolved(cached.layout, path, refs.get(path, ()))
        if found:
            imports[path] = found
    return FileGraph(imports, {})


def _import_name(path: str) -> tuple[str, str | None]:
    """The name an import of ``path`` must spell out, and the directory its relative importers live under.

    ``pkg/mod.py`` is imported as ``…mod`` or ``from pkg import mod``; a
    package ``pkg/__init__.py`` or ``dir/index.ts`` as ``…pkg`` / ``…dir``, or
    relatively from inside it (``from .. import X``, ``import '..'``) without
    naming it, hence the directory. A Go file is imported through its
    package directory.
    """
    directory, name = posixpath.split(path)
    stem = name.split(".", 1)[0]
    if path.endswith(".go"):
        return posixpath.basename(directory), None
    native = import_name(path)
    if native is not None:
        return native, None
    if stem in ("__init__", "index"):
        return posixpath.basename(directory), directory
    return stem, None


def _candidate_importers(tree: Tree, store: Store, cached: _CachedLayout, paths: Sequence[str]) -> set[str]:
    """Indexed files that may import ``paths``: their stored imports spell the module's name, or
    they sit inside it and import their own package without naming it.

    Every import statement spells the imported module's last name (``from
    shop import pricing``, ``'./format'``, ``".../internal/store"``), so the
    stored import terms of that name narrow the files to resolve from the whole
    tree to the few that may import it.
    """
    out: set[str] = set()
    relative: list[str] | None = None
    for path in paths:
        name, inside = _import_name(path)
        if inside is not None:
            if relative is None:
                relative = store.importing_files([PACKAGE_RELATIVE_TERM])
            out.update(p for p in relative if inside == "" or p.startswith(inside + "/"))
        terms = name_terms(name)
        if terms:
            out.update(store.importing_files(terms))
        if cached.unstored and tree.working:
            out.update(_unstored_candidates(store, cached, name, inside, terms))
    return out


def _unstored_candidates(
    store: Store, cached: _CachedLayout, name: str, inside: str | None, terms: list[str]
) -> set[str]:
    """Among files indexed before imports were kept (until the next index run stores them), those
    whose chunk text names the module or that sit inside it: they are parsed from the working tree."""
    out = {p for p in cached.unstored if inside is not None and (inside == "" or p.startswith(inside + "/"))}
    if terms:
        found = store.lexical(terms, MAX_IMPORTER_CANDIDATE_CHUNKS, require_all=True, fields=("body",))
        rows = store.get_chunks([cid for cid, _ in found]).values()
        out.update(row.path for row in rows if row.path in cached.unstored)
    return out


def find_importers(root: Tree | Path, store: Store, paths: Sequence[str]) -> list[ImportEdge]:
    """Import statements of indexed files that resolve to one of ``paths``, by importer and line.

    The candidates come from the stored import terms (see :func:`_candidate_importers`),
    their imports from the store, and the answer is kept until the store
    generation changes, so a call reads no file and parses nothing.
    """
    tree = as_tree(root)
    cached = _cached_layout(tree, store)
    key = tuple(sorted(set(paths)))
    with _LAYOUT_LOCK:
        hit = cached.importers.get(key)
    if hit is not None:
        return list(hit)
    edges = _find_importers(tree, store, cached, key)
    with _LAYOUT_LOCK:
        if len(cached.importers) >= 512:
            cached.importers.clear()
        cached.importers[key] = edges
    return list(edges)


def _find_importers(
    tree: Tree, store: Store, cached: _CachedLayout, paths: Sequence[str]
) -> list[ImportEdge]:
    wanted = set(paths)
    layout = cached.layout
    candidates = []
    for importer in sorted(_candidate_importers(tree, store, cached, paths)):
        row = layout.files.get(importer)
        if row is not None and row.language in IMPORT_LANGUAGES and importer not in wanted:
            candidates.append(importer)
    refs = _imports_by_file(tree, store, candidates)
    edges: list[ImportEdge] = []
    for importer in candidates:
        language = layout.files[importer].language
        for ref in refs.get(importer, ()):
            for target in layout.resolve(importer, language, ref):
                if target in wanted:
                    edges.append(ImportEdge(importer, target, ref.line, ref.end_line, _spec_text(ref)))
    edges.sort(key=lambda e: (e.importer, e.line, e.target))
    return list({(e.importer, e.line): e for e in edges}.values())


def _spec_text(ref: ImportRef) -> str:
    """How an import reads in a result: the statement for Python, the specifier elsewhere."""
    module = "." * ref.level + ref.specifier
    if not ref.names:
        return module
    shown = ", ".join(ref.names[:5]) + (", …" if len(ref.names) > 5 else "")
    return f"from {module} import {shown}"
