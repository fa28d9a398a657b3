"""What is related to a file or a symbol: definitions, imports both ways, references, tests, history.

Everything here is deterministic and cites ``path:start-end``:

* **Definitions** come from the indexed chunks (a symbol split into several
  chunks is reported once, with its whole range).
* **Imports** are extracted with tree-sitter from the current file text and
  resolved inside the repository for Python (absolute, relative, packages,
  ``src`` layouts), JavaScript/TypeScript (relative specifiers with extension
  and ``index`` resolution, ``.js`` specifiers naming ``.ts`` sources) and Go
  (module path from ``go.mod``, one package = one directory). Extraction is
  cached per (path, content hash). "Who imports this" parses only the files
  whose indexed text names the module (a lexical lookup in the store), not the whole tree.
* **References** are found with the store's lexical index (one token per name) and
  confirmed with a word-boundary regex on the chunk text, so a hit is a real
  occurrence of the identifier, not a stemmed or split token.
* **Tests** are test files (by naming convention) that import the target,
  mention its symbols, or are named after it.
* **History** is ``git log``: co-changed files and recent commits.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conexus.errors import PathError, QueryError
from conexus.gitinfo import Commit, co_changed, is_git_repo, recent_commits
from conexus.models import content_hash, decode_text
from conexus.paths import confine
from conexus.search.localize import FileGraph
from conexus.search.read import looks_binary, read_bytes, split_lines
from conexus.store.base import ChunkRow, FileRow, Store
from conexus.tokens import MAX_TOKEN_LEN, index_form

logger = logging.getLogger(__name__)

MAX_IMPORT_FILE_BYTES = 2 * 1024 * 1024
MAX_REFERENCE_CANDIDATES = 400
MAX_REFERENCE_NAMES = 40
IMPORT_LANGUAGES = frozenset({"python", "javascript", "typescript", "tsx", "go"})
_JS_LANGUAGES = frozenset({"javascript", "typescript", "tsx"})
_FUNCTION_KINDS = frozenset({"function", "method"})
_PACKAGE_ENTRY_FILES = ("__init__.py", "index.ts", "index.tsx", "index.js", "index.jsx", "mod.rs", "lib.rs")
_JS_EXTENSIONS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
_JS_SWAPS = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}

_SYMBOL_TARGET = re.compile(r"[A-Za-z_$][\w$]*(?:(?:\.|::|#)[A-Za-z_$][\w$]*)*")
_CITATION_TARGET = re.compile(r"(.+?):(\d+)(?:-(\d+))?")
_WORD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IMPORT_LINE = re.compile(r"^\s*(?:import\b|from\s+\S+\s+import\b|export\s.*\bfrom\b|.*\brequire\s*\()")
_PACKAGE_RELATIVE = re.compile(r"^\s*from\s+\.+\s+import\b|[\"'`]\.\.?/?[\"'`]", re.M)
_GO_MODULE = re.compile(r"^\s*module\s+\"?([^\s\"]+)\"?", re.M)

_TEST_DIRS = frozenset({"tests", "test", "__tests__", "spec", "specs", "testing", "e2e"})
_NOT_TEST_DIRS = frozenset(
    {"fixtures", "fixture", "__fixtures__", "testdata", "snapshots", "__snapshots__", "__mocks__", "data"}
)
_CODE_EXTENSIONS = frozenset(
    {".py", ".pyi", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts", ".go", ".rs", ".java",
     ".kt", ".kts", ".scala", ".rb", ".php", ".cs", ".c", ".cc", ".cpp", ".h", ".hpp", ".swift", ".sh"}
)  # fmt: skip
_TEST_NAME_PATTERNS = (
    re.compile(r"^test_(?P<s>.+)\.pyi?$"),
    re.compile(r"^(?P<s>.+)_test\.(?:py|go|rb|rs|cc|cpp|c)$"),
    re.compile(r"^(?P<s>.+)\.(?:test|spec)\.[cm]?[jt]sx?$"),
    re.compile(r"^(?P<s>.+?)(?:Tests?|IT|Spec)\.(?:java|kt|scala|cs|swift|php)$"),
    re.compile(r"^Test(?P<s>[A-Z].*)\.(?:java|kt|cs|php)$"),
    re.compile(r"^(?P<s>.+)_spec\.rb$"),
)


# ----------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class RelatedItem:
    """One related thing, with the lines that show it.

    ``kind`` says what it is: a symbol kind for definitions (``function``,
    ``class``...), ``import`` for import statements, ``call``/``reference``/
    ``import`` for references, ``test``, ``co_change``. ``name`` is the symbol,
    import specifier or enclosing symbol; ``detail`` a one-line excerpt or
    explanation; ``resolved`` the repository file an import resolves to.
    """

    path: str
    start_line: int
    end_line: int
    kind: str
    name: str | None = None
    detail: str = ""
    resolved: str | None = None
    count: int | None = None

    @property
    def citation(self) -> str:
        return f"{self.path}:{self.start_line}-{self.end_line}"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "citation": self.citation,
            "kind": self.kind,
            "name": self.name,
            "detail": self.detail,
        }
        if self.resolved is not None:
            out["resolved"] = self.resolved
        if self.count is not None:
            out["count"] = self.count
        return out


@dataclass(frozen=True, slots=True)
class RelatedInfo:
    """Everything :func:`related_info` found about one target.

    ``target_kind`` is ``file`` or ``symbol``; ``files`` the file(s) the target
    lives in. Each list is capped at the request's ``limit``; ``notes`` say
    when something was cut, ambiguous or unavailable (no git, not indexed).
    """

    target: str
    target_kind: str
    files: tuple[str, ...]
    definitions: tuple[RelatedItem, ...]
    imports: tuple[RelatedItem, ...]
    importers: tuple[RelatedItem, ...]
    references: tuple[RelatedItem, ...]
    tests: tuple[RelatedItem, ...]
    co_changes: tuple[RelatedItem, ...]
    recent_commits: tuple[Commit, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "target_kind": self.target_kind,
            "files": list(self.files),
            "definitions": [i.to_dict() for i in self.definitions],
            "imports": [i.to_dict() for i in self.imports],
            "importers": [i.to_dict() for i in self.importers],
            "references": [i.to_dict() for i in self.references],
            "tests": [i.to_dict() for i in self.tests],
            "co_changes": [i.to_dict() for i in self.co_changes],
            "recent_commits": [c.to_dict() for c in self.recent_commits],
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class Definition:
    """A symbol as the index knows it; a symbol split over several chunks is one Definition."""

    path: str
    start_line: int
    end_line: int
    symbol: str
    parent: str | None
    kind: str
    language: str
    signature: str | None
    docstring: str | None
    chunk_ids: tuple[int, ...]

    @property
    def qualified_name(self) -> str:
        return f"{self.parent}.{self.symbol}" if self.parent else self.symbol

    @property
    def citation(self) -> str:
        return f"{self.path}:{self.start_line}-{self.end_line}"

    def contains(self, path: str, line: int) -> bool:
        return path == self.path and self.start_line <= line <= self.end_line


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved ``target`` string: a file (``definitions`` are its symbols) or a symbol."""

    text: str
    kind: str  # "file" | "symbol"
    files: tuple[str, ...]
    definitions: tuple[Definition, ...]
    indexed: bool = True
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reference:
    """One confirmed occurrence of a name in an indexed chunk."""

    path: str
    line: int
    name: str
    text: str
    kind: str  # "call" | "import" | "reference"
    chunk_id: int
    enclosing: str | None  # qualified symbol of the chunk the line is in

    def to_item(self) -> RelatedItem:
        return RelatedItem(self.path, self.line, self.line, self.kind, self.name, self.text)


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
    """The import statements of ``text`` in ``language`` (Python, JavaScript, TypeScript/TSX, Go).

    Returns an empty tuple for other languages or when no grammar is available.
    """
    if language not in IMPORT_LANGUAGES:
        return ()
    from tree_sitter import QueryCursor

    from conexus.indexing.languages import get_parser

    parser = get_parser(language)
    query = _compiled_query(language)
    if parser is None or query is None:
        return ()
    tree = parser.parse(text.encode("utf-8", "surrogatepass"))
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
    unique = sorted(set(out), key=lambda r: (r.line, r.specifier, r.names))
    return tuple(unique)


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

    @classmethod
    def build(cls, root: Path, files: dict[str, FileRow]) -> RepoLayout:
        layout = cls(files=files)
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
        if cached is None or cached.generation != generation:
            cached = _CachedLayout(generation, RepoLayout.build(root, store.files()))
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
    if stem in ("__init__", "index"):
        return posixpath.basename(directory), directory
    return stem, None


def _has_package_relative_import(root: Path, rel: str) -> bool:
    """Whether a file may import its package without naming it (``from .. import X``, ``'..'``)."""
    try:
        data, st = read_bytes(os.path.join(root, rel), MAX_IMPORT_FILE_BYTES)
    except OSError:
        return False
    return st.st_size <= MAX_IMPORT_FILE_BYTES and _PACKAGE_RELATIVE.search(decode_text(data)[0]) is not None


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


def resolve_target(root: Path, store: Store, target: str) -> Target:
    """Decide whether ``target`` is a file (path, ``path:line`` or ``path:start-end``) or a symbol.

    Raises:
        QueryError: empty target, or no file or symbol of that name (the
            message lists candidates when a file name is ambiguous).
        PathError: a path-looking target that leaves the root.
    """
    text = target.strip()
    if not text:
        raise QueryError("empty target: give a file path relative to the root or a symbol name")
    files = store.files()

    m = _CITATION_TARGET.fullmatch(text)
    if m and not _is_symbol_like(text):
        path_part, start = m.group(1), int(m.group(2))
        end = int(m.group(3)) if m.group(3) else start
        file_target = _file_target(root, store, files, path_part)
        if file_target is not None:
            inside = [d for d in file_target.definitions if d.start_line <= start and end <= d.end_line]
            if inside:
                best = min(inside, key=lambda d: d.end_line - d.start_line)
                return Target(text, "symbol", (best.path,), (best,))
            return file_target

    try:
        file_target = _file_target(root, store, files, text)
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
            ft = _file_target(root, store, files, matches[0])
            if ft is not None:
                return ft
        if len(matches) > 1:
            shown = ", ".join(matches[:10])
            raise QueryError(f"{text!r} matches {len(matches)} files; give the full path: {shown}")
    raise QueryError(
        f"no file or symbol named {text!r} in the index; give a root-relative path or a symbol "
        "name (e.g. 'Class.method'), or use search to find it"
    )


def _file_target(root: Path, store: Store, files: dict[str, FileRow], path: str) -> Target | None:
    absolute, rel = confine(root, path)
    if rel in files:
        rows = store.chunks_of_file(rel)
        return Target(path, "file", (rel,), tuple(group_definitions(rows, {rel: rows})))
    if absolute.is_file():
        return Target(path, "file", (rel,), (), indexed=False, notes=(f"{rel} is not indexed",))
    if absolute.is_dir():
        # A package or module directory stands for its entry file.
        for name in _PACKAGE_ENTRY_FILES:
            entry = name if rel == "." else f"{rel}/{name}"
            if entry in files:
                return _file_target(root, store, files, entry)
        raise QueryError(f"{rel} is a directory; give a file in it, or a symbol name")
    return None


# ----------------------------------------------------------------------------------- references


def _line_kind(line: str, name: str, col: int) -> str:
    if _IMPORT_LINE.match(line):
        return "import"
    rest = line[col + len(name) :]
    if re.match(r"\s*(?:<[^<>()]*>\s*)?\(", rest) or re.match(r"\s*!?\(", rest):
        return "call"
    return "reference"


def index_token(word: str) -> str:
    """The index token of a whole identifier (as :func:`conexus.tokens.iter_code_tokens` makes it)."""
    return index_form(word[:MAX_TOKEN_LEN])


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


# ----------------------------------------------------------------------------------- tests


def is_test_path(path: str) -> bool:
    """True for test files by the usual conventions (test_x.py, x_test.go, x.test.ts, tests/...)."""
    parts = path.split("/")
    name = parts[-1]
    dirs = set(parts[:-1])
    if dirs & _NOT_TEST_DIRS:
        return False
    if any(p.match(name) for p in _TEST_NAME_PATTERNS):
        return True
    ext = posixpath.splitext(name)[1].lower()
    return bool(dirs & _TEST_DIRS) and ext in _CODE_EXTENSIONS


def subject_of_test(path: str) -> str | None:
    """The file stem a test file is named after (``tests/test_grep.py`` -> ``grep``), if any."""
    name = path.rsplit("/", 1)[-1]
    for pattern in _TEST_NAME_PATTERNS:
        m = pattern.match(name)
        if m:
            return m.group("s")
    if is_test_path(path):
        return name.split(".", 1)[0]
    return None


def _subject_stem(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    stem = name.split(".", 1)[0]
    if stem in ("__init__", "index", "mod", "lib", "main") and "/" in path:
        return path.rsplit("/", 2)[-2]
    return stem


# ----------------------------------------------------------------------------------- the bundle


def _file_lines(root: Path, rel: str, files: dict[str, FileRow]) -> int:
    """Line count for a whole-file citation: from the disk text, else from the index."""
    try:
        data, st = read_bytes(os.path.join(root, rel), MAX_IMPORT_FILE_BYTES)
        if st.st_size <= MAX_IMPORT_FILE_BYTES and not looks_binary(data):
            return max(1, len(split_lines(decode_text(data)[0])))
    except OSError:
        pass
    row = files.get(rel)
    return max(1, row.n_lines) if row else 1


def _capped(items: list[RelatedItem], limit: int, label: str, notes: list[str]) -> tuple[RelatedItem, ...]:
    if len(items) > limit:
        notes.append(f"{label}: showing {limit} of {len(items)}")
    return tuple(items[:limit])


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


def related_tests(
    root: Path,
    target: Target,
    files: dict[str, FileRow],
    importers: Sequence[ImportEdge],
    references: Sequence[Reference],
) -> list[RelatedItem]:
    """Test files that import the target's files, mention its symbols, or are named after it."""
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
        if is_test_path(ref.path) and ref.path not in target_files:
            add(
                0,
                RelatedItem(ref.path, ref.line, ref.line, "test", ref.name, ref.text),
                f"mentions {ref.name}",
            )
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
                    2, RelatedItem(path, 1, _file_lines(root, path, files), "test", subject), "named after it"
                )
    ordered = sorted(found.values(), key=lambda v: (v[0], v[1].path, v[1].start_line))
    return [
        RelatedItem(item.path, item.start_line, item.end_line, "test", item.name, "; ".join(reasons))
        for _, item, reasons in ordered
    ]


def related_info(
    root: Path,
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
    resolved = resolve_target(root, store, target)
    notes = list(resolved.notes)
    layout = repo_layout(root, store)
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
        language = row.language if row is not None else _detect(root, path)
        for ref in imports_of(root, path, language):
            spec = _spec_text(ref)
            targets: list[str | None] = [*layout.resolve(path, language, ref)] or [None]
            for tgt in targets:
                detail = "external" if tgt is None else ""
                imports.append(RelatedItem(path, ref.line, ref.end_line, "import", spec, detail, tgt))

    edges = find_importers(root, store, resolved.files)
    importers = [
        RelatedItem(e.importer, e.line, e.end_line, "import", e.specifier, "", e.target) for e in edges
    ]

    names = reference_names(resolved)
    exclude_paths = resolved.files if resolved.kind == "file" else ()
    refs = find_references(
        store,
        names,
        exclude=resolved.definitions,
        exclude_paths=exclude_paths,
        member_names=member_names(resolved),
    )
    importer_paths = {e.importer for e in edges} | set(resolved.files)
    refs.sort(key=lambda r: (is_test_path(r.path), r.path not in importer_paths))
    references = [r.to_item() for r in refs]

    tests = related_tests(root, resolved, files, edges, refs)

    co_changes: list[RelatedItem] = []
    commits: list[Commit] = []
    if resolved.files and not history:
        notes.append("git history is off: no co-change or commit history")
    elif resolved.files:
        main_file = resolved.files[0]
        if is_git_repo(root):
            for cc in co_changed(root, main_file, limit=limit, max_commits=max_commits):
                n = _file_lines(root, cc.path, files)
                co_changes.append(
                    RelatedItem(cc.path, 1, n, "co_change", None, f"changed together in {cc.count} commits",
                                count=cc.count)
                )  # fmt: skip
            commits = recent_commits(root, main_file, limit=min(limit, 10))
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


def _detect(root: Path, rel: str) -> str:
    from conexus.indexing.languages import detect_language

    try:
        with open(os.path.join(root, rel), "rb") as fh:
            first = fh.read(200).decode("utf-8", errors="replace").split("\n", 1)[0]
    except OSError:
        first = ""
    return detect_language(rel, first) or "text"
