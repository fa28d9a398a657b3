"""Imports: extraction with tree-sitter, resolution inside the repository, the import graph.

Python (absolute, relative, packages, ``src`` layouts), JavaScript/TypeScript
(relative specifiers with extension and ``index`` resolution, ``.js`` naming ``.ts``
sources) and Go (module path from ``go.mod``, one package = one directory) here;
Java, Rust, C/C++, PHP and Ruby in :mod:`conexus.search.related.native_imports`.
Extraction is cached per (path, content hash); the repository layout and the
whole-tree graph once per index generation, keyed by the store's ``key``. "Who
imports this" parses only the files whose indexed text names the module.
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
from typing import Any

from conexus.models import content_hash, decode_text
from conexus.search.localize import FileGraph
from conexus.search.read import looks_binary, read_bytes
from conexus.search.related.native_imports import (
    NATIVE_LANGUAGES,
    NativeResolver,
    import_name,
    java_type_names,
    statement_specifiers,
)
from conexus.store.base import FileRow, Store
from conexus.tokens import MAX_TOKEN_LEN, index_form

logger = logging.getLogger(__name__)

MAX_IMPORT_FILE_BYTES = 2 * 1024 * 1024
IMPORT_LANGUAGES = frozenset({"python", "javascript", "typescript", "tsx", "go"}) | NATIVE_LANGUAGES
_JS_LANGUAGES = frozenset({"javascript", "typescript", "tsx"})
_JS_EXTENSIONS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
_JS_SWAPS = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}
_PACKAGE_RELATIVE = re.compile(r"^\s*from\s+\.+\s+import\b|[\"'`]\.\.?/?[\"'`]", re.M)
_GO_MODULE = re.compile(r"^\s*module\s+\"?([^\s\"]+)\"?", re.M)


# ----------------------------------------------------------------------------------- imports


@dataclass(frozen=True, slots=True)
class ImportRef:
    """One import as written: ``specifier`` is the module text, ``level`` the leading dots (Python)."""

    line: int
    end_line: int
    specifier: str
    names: tuple[str, ...] = ()
    level: int = 0


def _query(language: str, source: str) -> Any:
    from tree_sitter import Query

    from conexus.indexing.languages import get_language

    lang = get_language(language)
    return Query(lang, source) if lang is not None else None


_QUERIES: dict[str, Any] = {}
_QUERY_SOURCES = {
    "python": "(import_statement) @imp (import_from_statement) @imp",
    "go": "(import_spec path: (_) @path)",
    "js": """
        (import_statement source: (string) @src)
        (export_statement source: (string) @src)
        (call_expression function: (identifier) @fn arguments: (arguments . (string) @src))
        (call_expression function: (import) @fn arguments: (arguments . (string) @src))
    """,
    "ts": """
        (import_statement source: (string) @src)
        (export_statement source: (string) @src)
        (import_require_clause source: (string) @src)
        (call_expression function: (identifier) @fn arguments: (arguments . (string) @src))
        (call_expression function: (import) @fn arguments: (arguments . (string) @src))
    """,
    "java": "(import_declaration) @stmt",
    "rust": "(use_declaration) @stmt (mod_item) @stmt",
    "c": "(preproc_include path: (_) @stmt)",
    "cpp": "(preproc_include path: (_) @stmt)",
    "php": """
        (namespace_use_declaration) @stmt
        (require_expression (_) @stmt) (require_once_expression (_) @stmt)
        (include_expression (_) @stmt) (include_once_expression (_) @stmt)
    """,
    "ruby": """
        (call method: (identifier) @fn arguments: (argument_list . (string (string_content) @stmt)))
    """,
}
_QUERY_LOCK = threading.Lock()


def _compiled_query(language: str) -> Any:
    key = "js" if language == "javascript" else "ts" if language in ("typescript", "tsx") else language
    with _QUERY_LOCK:
        if language not in _QUERIES:
            try:
                _QUERIES[language] = _query(language, _QUERY_SOURCES[key])
            except (ValueError, RuntimeError):  # tree_sitter.QueryError is a ValueError: no imports, no crash
                logger.warning("import query unavailable for %s", language, exc_info=True)
                _QUERIES[language] = None
        return _QUERIES[language]


def _text(node: Any) -> str:
    data: bytes = node.text or b""
    return data.decode("utf-8", errors="replace")


def _unquote(literal: str) -> str:
    if len(literal) >= 2 and literal[0] in "\"'`" and literal[-1] == literal[0]:
        return literal[1:-1]
    return literal


def extract_imports(language: str, text: str) -> tuple[ImportRef, ...]:
    """The import statements of ``text`` in ``language`` (Python, JavaScript, TypeScript/TSX, Go,
    Java, Rust, C/C++, PHP, Ruby).

    Returns an empty tuple for other languages or when no grammar is available.
    """
    if language not in IMPORT_LANGUAGES:
        return ()
    from tree_sitter import QueryCursor

    from conexus.indexing.languages import parse_source

    query = _compiled_query(language)
    if query is None:
        return ()
    tree = parse_source(language, text.encode("utf-8", "surrogatepass"))
    if tree is None:
        return ()
    out: list[ImportRef] = []
    matches = QueryCursor(query).matches(tree.root_node)
    for _pattern, caps in matches:
        if language == "python":
            for node in caps.get("imp", []):
                out.extend(_python_imports(node))
        elif language == "go":
            for node in caps.get("path", []):
                line = node.start_point[0] + 1
                out.append(ImportRef(line, node.end_point[0] + 1, _unquote(_text(node))))
        elif language in NATIVE_LANGUAGES:
            out.extend(_native_refs(language, caps))
        else:
            fn = caps.get("fn", [])
            if fn and _text(fn[0]) not in ("require", "import"):
                continue
            for node in caps.get("src", []):
                # The whole statement or call, so a multi-line import is cited in full.
                stmt = node.parent.parent if fn and node.parent is not None else node.parent
                start = (stmt or node).start_point[0] + 1
                end = (stmt or node).end_point[0] + 1
                out.append(ImportRef(start, end, _unquote(_text(node))))
    if language == "java" and any(r.specifier.endswith("*") for r in out):
        used = java_type_names(text)
        out = [ImportRef(r.line, r.end_line, r.specifier, used) if r.specifier[-1] == "*" else r for r in out]
    unique = sorted(set(out), key=lambda r: (r.line, r.specifier, r.names))
    return tuple(unique)


_RUBY_REQUIRES = {"require": "", "require_relative": "relative:", "load": ""}


def _native_refs(language: str, caps: dict[str, Any]) -> list[ImportRef]:
    """Import references of one match of a Java, Rust, C/C++, PHP or Ruby import query."""
    prefix = ""
    if language == "ruby":
        fn = caps.get("fn", [])
        if not fn or _text(fn[0]) not in _RUBY_REQUIRES:
            return []
        prefix = _RUBY_REQUIRES[_text(fn[0])]
    out = []
    for node in caps.get("stmt", []):
        text = _text(node)
        if language == "php" and node.type != "namespace_use_declaration":
            # ``require __DIR__ . '/x.php'``: the literal part names the file.
            literals = [c for c in _walk(node) if c.type == "string_content"]
            if not literals:
                continue
            text = _text(literals[-1])
        # The whole statement, so a multi-line import is cited in full.
        stmt = node.parent if node.type in ("string_literal", "system_lib_string", "string_content") else node
        start, end = (stmt or node).start_point[0] + 1, (stmt or node).end_point[0] + 1
        for spec in statement_specifiers(language, node.type, text):
            out.append(ImportRef(start, end, prefix + spec))
    return out


def _walk(node: Any) -> list[Any]:
    out, stack = [], [node]
    while stack:
        cur = stack.pop()
        out.append(cur)
        stack.extend(reversed(cur.children))
    return out


def _python_imports(node: Any) -> list[ImportRef]:
    line, end = node.start_point[0] + 1, node.end_point[0] + 1
    if node.type == "import_statement":
        refs = []
        for child in node.children_by_field_name("name"):
            name = child.child_by_field_name("name") if child.type == "aliased_import" else child
            if name is not None:
                refs.append(ImportRef(line, end, _text(name)))
        return refs
    module = node.child_by_field_name("module_name")
    if module is None:
        return []
    level = 0
    spec = _text(module)
    if module.type == "relative_import":
        prefix = next((c for c in module.children if c.type == "import_prefix"), None)
        level = len(_text(prefix)) if prefix is not None else 0
        dotted = next((c for c in module.children if c.type == "dotted_name"), None)
        spec = _text(dotted) if dotted is not None else ""
    names: list[str] = []
    for child in node.children_by_field_name("name"):
        name = child.child_by_field_name("name") if child.type == "aliased_import" else child
        if name is not None:
            names.append(_text(name))
    if any(c.type == "wildcard_import" for c in node.children):
        names.append("*")
    return [ImportRef(line, end, spec, tuple(names), level)]


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
    def build(cls, root: Path, files: dict[str, FileRow]) -> RepoLayout:
        layout = cls(files=files)
        layout.native = NativeResolver(root, files)
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
                if d not in mod_dirs and os.path.isfile(os.path.join(root, d, "go.mod")):
                    mod_dirs.add(d)
                if not d:
                    break
                d = posixpath.dirname(d)
        for d in mod_dirs:
            try:
                with open(os.path.join(root, d, "go.mod"), encoding="utf-8", errors="replace") as fh:
                    m = _GO_MODULE.search(fh.read(65536))
            except OSError:
                continue
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
    # The store it was built from: an index cleared and built again (by any process) is opened
    # as a new store whose generations count from the start again, so the number alone can repeat.
    store: Store | None = None
    importers: dict[tuple[str, ...], list[ImportEdge]] = field(default_factory=dict)
    graph: _WholeGraph | None = None


@dataclass(frozen=True)
class _WholeGraph:
    imports: dict[str, tuple[str, ...]]
    in_degree: dict[str, int]
    complete: bool = True  # False past MAX_GRAPH_FILES: nothing read, imports are read per request


_LAYOUTS: dict[tuple[str, str], _CachedLayout] = {}
_LAYOUT_LOCK = threading.Lock()
MAX_IMPORTER_CANDIDATE_CHUNKS = 50_000


def _cached_layout(root: Path, store: Store) -> _CachedLayout:
    key = (str(root), store.key)
    generation = store.meta().get("generation", "0")
    with _LAYOUT_LOCK:
        cached = _LAYOUTS.get(key)
        if cached is None or cached.generation != generation or cached.store is not store:
            cached = _CachedLayout(generation, RepoLayout.build(root, store.files()), store)
            _LAYOUTS[key] = cached
        return cached


def repo_layout(root: Path, store: Store) -> RepoLayout:
    """The :class:`RepoLayout` of the indexed files, rebuilt only when the store generation changes."""
    return _cached_layout(root, store).layout


#: Trees with more importable files than this get no whole-repository graph (no centrality lift);
#: the imports of the files being ranked are still read. Building it parses each file once
#: (about 1 ms a file here; later generations re-read only changed files).
MAX_GRAPH_FILES = 20_000


def _file_imports(root: Path, layout: RepoLayout, path: str) -> tuple[str, ...]:
    row = layout.files.get(path)
    if row is None or row.language not in IMPORT_LANGUAGES:
        return ()
    targets: dict[str, None] = {}
    for ref in imports_of(root, path, row.language):
        for target in layout.resolve(path, row.language, ref):
            targets[target] = None
    return tuple(targets)


def _whole_graph(root: Path, layout: RepoLayout) -> _WholeGraph:
    importable = [p for p, row in layout.files.items() if row.language in IMPORT_LANGUAGES]
    if len(importable) > MAX_GRAPH_FILES:
        return _WholeGraph({}, {}, complete=False)
    imports = {p: _file_imports(root, layout, p) for p in sorted(importable)}
    in_degree: dict[str, int] = {}
    for targets in imports.values():
        for target in targets:
            in_degree[target] = in_degree.get(target, 0) + 1
    return _WholeGraph(imports, in_degree)


def file_graph(root: Path, store: Store, paths: Sequence[str]) -> FileGraph:
    """The import graph around ``paths``: what each imports, and how many files import each of them.

    The whole repository's graph is built once per store generation (imports
    come from the per-(path, hash) cache, so a new generation re-parses only
    changed files) and kept with the layout; past ``MAX_GRAPH_FILES``
    importable files only the imports of ``paths`` are read and no in-degree
    is known.
    """
    cached = _cached_layout(root, store)
    with _LAYOUT_LOCK:
        whole = cached.graph
    if whole is None:
        whole = _whole_graph(root, cached.layout)
        with _LAYOUT_LOCK:
            cached.graph = whole
    imports: dict[str, tuple[str, ...]] = {}
    for path in paths:
        found = whole.imports.get(path, ()) if whole.complete else _file_imports(root, cached.layout, path)
        if found:
            imports[path] = found
    if not whole.complete:
        return FileGraph(imports, {})
    involved = set(paths).union(*imports.values())
    return FileGraph(imports, {p: whole.in_degree[p] for p in sorted(involved) if p in whole.in_degree})


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


# (root, path) -> (size, mtime_ns, answer) of _has_package_relative_import: the importers of a
# package's __init__ are searched among every file below it, which read them all on each call
# (the load test's `related` calls timed out on numpy's).
_RELATIVE_CACHE: dict[tuple[str, str], tuple[int, int, bool]] = {}


def _has_package_relative_import(root: Path, rel: str) -> bool:
    """Whether a file may import its package without naming it (``from .. import X``, ``'..'``).

    Cached per file while its size and modification time stay the same.
    """
    absolute = os.path.join(root, rel)
    key = (str(root), rel)
    try:
        st = os.stat(absolute)
    except OSError:
        return False
    with _IMPORT_LOCK:
        cached = _RELATIVE_CACHE.get(key)
    if cached is not None and cached[:2] == (st.st_size, st.st_mtime_ns):
        return cached[2]
    try:
        data, st = read_bytes(absolute, MAX_IMPORT_FILE_BYTES)
    except OSError:
        return False
    text = decode_text(data)[0]
    answer = st.st_size <= MAX_IMPORT_FILE_BYTES and _PACKAGE_RELATIVE.search(text) is not None
    with _IMPORT_LOCK:
        if len(_RELATIVE_CACHE) >= _IMPORT_CACHE_MAX:
            _RELATIVE_CACHE.clear()
        _RELATIVE_CACHE[key] = (st.st_size, st.st_mtime_ns, answer)
    return answer


def _candidate_importers(root: Path, store: Store, layout: RepoLayout, paths: Sequence[str]) -> set[str]:
    """Indexed files that may import ``paths``: their chunk text names the module, or they sit inside it.

    Every import statement spells the imported module's last name (``from
    shop import pricing``, ``'./format'``, ``".../internal/store"``), so a lexical
    lookup of all its words in the body field narrows the files to parse from the whole tree
    to the few that mention the name.
    """
    out: set[str] = set()
    for path in paths:
        name, inside = _import_name(path)
        if inside is not None:
            below = [p for p in layout.files if inside == "" or p.startswith(inside + "/")]
            out.update(p for p in below if _has_package_relative_import(root, p))
        words = [w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+", name) if w]
        if not words:
            continue
        terms = [index_token(w) for w in words]
        found = store.lexical(terms, MAX_IMPORTER_CANDIDATE_CHUNKS, require_all=True, fields=("body",))
        ids = [cid for cid, _ in found]
        out.update(row.path for row in store.get_chunks(ids).values())
    return out


def find_importers(root: Path, store: Store, paths: Sequence[str]) -> list[ImportEdge]:
    """Import statements of indexed files that resolve to one of ``paths``, by importer and line.

    Only candidate files (see :func:`_candidate_importers`) are parsed, their
    imports come from the per-(path, hash) cache, and the answer is kept until
    the store generation changes, so repeated calls are cheap on large trees.
    """
    cached = _cached_layout(root, store)
    key = tuple(sorted(set(paths)))
    with _LAYOUT_LOCK:
        hit = cached.importers.get(key)
    if hit is not None:
        return list(hit)
    edges = _find_importers(root, store, cached.layout, key)
    with _LAYOUT_LOCK:
        if len(cached.importers) >= 512:
            cached.importers.clear()
        cached.importers[key] = edges
    return list(edges)


def _find_importers(root: Path, store: Store, layout: RepoLayout, paths: Sequence[str]) -> list[ImportEdge]:
    wanted = set(paths)
    edges: list[ImportEdge] = []
    for importer in sorted(_candidate_importers(root, store, layout, paths)):
        row = layout.files.get(importer)
        if row is None or row.language not in IMPORT_LANGUAGES or importer in wanted:
            continue
        for ref in imports_of(root, importer, row.language):
            for target in layout.resolve(importer, row.language, ref):
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


def index_token(word: str) -> str:
    """The index token of a whole identifier (as :func:`conexus.tokens.iter_code_tokens` makes it)."""
    return index_form(word[:MAX_TOKEN_LEN])
