"""Imports, extracted at index time: what each import statement of a file names.

The indexer extracts them with tree-sitter (:func:`extract_imports`) while the
text is in hand and the store keeps them with the file's content
(:class:`~conexus.store.base.FileContent`), so "what does this import" and "who
imports this" (:mod:`conexus.search.related.imports`, which resolves them
against the indexed files) need neither the checkout nor a parse per request.

Python, JavaScript/TypeScript/TSX and Go by their grammars' import nodes; Java,
Rust, C/C++, PHP and Ruby through :func:`statement_specifiers`, which turns one
statement's text into the specifiers it names.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from conexus.models import ImportRef
from conexus.tokens import MAX_TOKEN_LEN, index_form

__all__ = [
    "IMPORT_LANGUAGES",
    "NATIVE_LANGUAGES",
    "PACKAGE_RELATIVE_TERM",
    "ImportRef",
    "extract_imports",
    "import_terms",
    "index_token",
    "java_type_names",
    "name_terms",
    "statement_specifiers",
]

logger = logging.getLogger(__name__)

NATIVE_LANGUAGES = frozenset({"java", "rust", "c", "cpp", "php", "ruby"})
IMPORT_LANGUAGES = frozenset({"python", "javascript", "typescript", "tsx", "go"}) | NATIVE_LANGUAGES
#: The import term of an import of a file's own package that names no module.
PACKAGE_RELATIVE_TERM = "."
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_JS_PACKAGE_SPECIFIERS = frozenset({".", "..", "./", "../"})
_JAVA_IMPORT = re.compile(r"^\s*import\s+(?:static\s+)?([\w.$]+(?:\s*\.\s*\*)?)\s*;", re.S)
_RUST_USE = re.compile(r"^\s*(?:pub(?:\s*\([^)]*\))?\s+)?use\s+(.*?);?\s*$", re.S)
_RUST_MOD = re.compile(r"^\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\s*\([^)]*\))?\s+)?mod\s+(r#)?(\w+)\s*;\s*$", re.S)
_PHP_USE = re.compile(r"^\s*use\s+(?:function\s+|const\s+)?(.*?);?\s*$", re.S)


# -------------------------------------------------------------------------------- extraction


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


# -------------------------------------------------------------------------------- specifiers


def _split_top(text: str) -> list[str]:
    """Split at the commas outside braces."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    return [p for p in parts if p]


def _expand_braces(text: str) -> list[str]:
    """``a::{b, c::{d, e}}`` -> ``a::b``, ``a::c::d``, ``a::c::e`` (Rust use trees; PHP groups with ``\\``).

    Commas outside braces separate independent names (``use A\\B, C\\D;``).
    """
    out: list[str] = []
    for part in _split_top(re.sub(r"\s+", "", text)):
        start = part.find("{")
        if start < 0:
            out.append(part)
            continue
        end = part.rfind("}")
        if end < start:
            continue
        prefix = part[:start]
        out.extend(prefix + expanded for expanded in _expand_braces(part[start + 1 : end]))
    return out


def statement_specifiers(language: str, kind: str, text: str) -> list[str]:
    """The specifiers one import statement names (``kind`` is the tree-sitter node type).

    Rust ``mod m;`` becomes ``self::m``; a C include keeps its delimiters
    (``"x.h"`` or ``<x.h>``) because they say where to look first.
    """
    if language == "java":
        m = _JAVA_IMPORT.match(text)
        return [re.sub(r"\s+", "", m.group(1))] if m else []
    if language == "rust":
        if kind == "mod_item":
            m = _RUST_MOD.match(text)
            return [f"self::{m.group(2)}"] if m else []
        m = _RUST_USE.match(text)
        if not m:
            return []
        return _expand_braces(re.sub(r"\s+as\s+\w+", "", m.group(1)))
    if language in ("c", "cpp"):
        spec = text.strip()
        return [spec] if len(spec) > 2 and spec[0] in '"<' else []
    if language == "php":
        if kind == "namespace_use_declaration":
            m = _PHP_USE.match(text)
            if not m:
                return []
            body = re.sub(r"\s+as\s+\w+", "", m.group(1))
            return [s.lstrip("\\") for s in _expand_braces(body) if s]
        return [text]
    if language == "ruby":
        return [text]
    return []


_JAVA_TYPE_NAME = re.compile(r"\b[A-Z][A-Za-z0-9_$]*")


def java_type_names(text: str) -> tuple[str, ...]:
    """The capitalised names a Java file mentions: which classes a wildcard import really brings in."""
    return tuple(sorted(set(_JAVA_TYPE_NAME.findall(text))))


# -------------------------------------------------------------------------------- index terms


def index_token(word: str) -> str:
    """The index token of a whole identifier (as :func:`conexus.tokens.iter_code_tokens` makes it)."""
    return index_form(word[:MAX_TOKEN_LEN])


def name_terms(name: str) -> list[str]:
    """The index terms of the words of ``name`` (a module, file or package name), in order."""
    return [index_token(w) for w in _WORD.findall(name)]


def import_terms(refs: tuple[ImportRef, ...]) -> frozenset[str]:
    """The terms "who imports X" looks up: every word of each specifier and imported name, and
    :data:`PACKAGE_RELATIVE_TERM` for an import of the file's own package that names no module
    (``from .. import x``, ``import '..'``)."""
    out: set[str] = set()
    for ref in refs:
        for text in (ref.specifier, *ref.names):
            out.update(name_terms(text))
        if (ref.level and not ref.specifier) or ref.specifier in _JS_PACKAGE_SPECIFIERS:
            out.add(PACKAGE_RELATIVE_TERM)
    return frozenset(out)
