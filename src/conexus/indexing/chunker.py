"""Split a file's text into chunks: symbols for code, sections for docs, windows for the rest.

Rules (``CHUNKER_VERSION`` changes whenever they change the output):

* **Lines.** A file's lines are ``text.split("\\n")`` with one trailing ``"\\r"``
  removed from each (CRLF files) and no empty last line after a final newline.
  ``Chunk.text`` is exactly lines ``start_line..end_line`` (1-based, inclusive)
  joined with ``"\\n"``, so a citation can be checked against the file.
* **Code** (``TREE_SITTER_LANGUAGES``). Functions, methods, classes and their
  kin (struct, interface, enum, trait, impl, module, namespace, object,
  protocol, extension, type alias) become chunks carrying symbol, kind,
  qualified parent, signature and docstring. A comment block (or Rust
  attribute, TypeScript decorator) directly above a declaration, with no blank
  line between, belongs to the declaration's range and is its docstring unless
  the language has real docstrings (Python).
* **Containers** (classes and kin). A container of at most ``SMALL_CONTAINER_LINES``
  lines is one chunk, members included. A larger one gives each member
  function its own chunk (``parent`` = the container's qualified name); the
  container's other lines (header, docstring, fields, nested declarations
  without a body) form chunks of the container's own kind, one per contiguous
  run. Namespaces of C++, C# and PHP are
  containers but do not appear in their members' ``parent`` (like Java
  packages); Ruby modules, Rust ``mod``, TypeScript namespaces do.
* **Module code.** Lines outside any symbol (imports, constants, top-level
  statements) form ``module`` chunks, one per contiguous run.
* **Glue.** Between symbols, a run holding only closing brackets / ``end`` /
  ``#endif`` extends the chunk above it; a run holding only an access label
  (``private:``) or ``#if``, or a short comment block (not at the top of the
  scope), extends the chunk below it, so no chunk is a lone ``}``. A merge
  never makes a chunk longer than ``max_chunk_lines``.
* **Size.** Any chunk longer than ``max_chunk_lines`` is split between
  top-level statements of its body (descending into a statement that alone is
  too long, then falling back to line windows). Every part keeps symbol, kind
  and parent; parts of a split symbol carry its signature in ``header``.
* **Docs.** Markdown splits at ATX and setext headings (outside fenced code),
  reStructuredText at underlined (optionally overlined) titles: ``kind
  "section"``, ``symbol`` = heading text, ``parent`` = the enclosing headings
  joined with ``" > "``. Oversized sections are split into line windows.
* **Everything else** (YAML, JSON, TOML, unknown text): line windows of
  ``window_lines`` lines overlapping by ``window_overlap``, ``kind "window"``.
* No chunk is longer than ``max_chunk_lines``. Chunks never start or end on
  a blank line and are never entirely blank;
  every non-blank line of the file is in at least one chunk. ``chunk_text``
  never raises: if the syntax path fails, the file is chunked into windows.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from inspect import cleandoc

from tree_sitter import Node

from conexus.indexing.languages import TREE_SITTER_LANGUAGES, detect_language, get_parser
from conexus.models import Chunk

__all__ = ["CHUNKER_VERSION", "SMALL_CONTAINER_LINES", "chunk_text"]

logger = logging.getLogger(__name__)

CHUNKER_VERSION = "1"

# A class (or struct, impl, module...) this short stays one chunk, members included:
# splitting it would only produce fragments of a few lines each.
SMALL_CONTAINER_LINES = 15

_SIGNATURE_MAX_CHARS = 500
_DOCSTRING_MAX_CHARS = 2000
_SPLIT_MAX_DEPTH = 8
_END_SCAN_MAX_DEPTH = 32
# Containers / transparent blocks nested deeper than this are treated as plain symbols / statements,
# which keeps recursion bounded on pathological input.
_MAX_NESTING = 40
_COMMENT_RUN_LINES = 6  # a comment-only run shorter than this joins the symbol below it

# Kinds whose functions are methods; other containers (module, namespace) hold functions.
_CLASS_LIKE = frozenset(
    {"class", "interface", "struct", "enum", "trait", "impl", "object", "protocol", "extension", "union"}
)
_CONTAINER_KINDS = _CLASS_LIKE | {"module", "namespace"}
_FUNCTION_KINDS = frozenset({"function", "method"})

_CLOSER_LINE = re.compile(
    r"^\s*(?:[\])};,]+|end|#\s*endif\b.*)\s*[\])};,]*\s*(?://.*|#.*|/\*.*\*/)?\s*$", re.IGNORECASE
)
# Lines that introduce what follows: access labels, preprocessor conditionals.
_LABEL_LINE = re.compile(
    r"^\s*(?:(?:public|private|protected|internal|private\s+protected)\s*:?|#\s*(?:if|ifdef|ifndef|elif|else)\b.*)\s*$"
)


# --------------------------------------------------------------------------- helpers


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return lines


def _node_text(src: bytes, node: Node) -> str:
    return src[node.start_byte : node.end_byte].decode("utf-8", "replace")


_NAME_NOISE = re.compile(r"[<\[(*&\s]")


def _clean_name(text: str) -> str:
    """Drop generic arguments and pointer marks from a type name: ``*Foo[T]`` -> ``Foo``."""
    if not _NAME_NOISE.search(text):
        return text.strip().replace("::", ".").replace("\\", ".")
    out = []
    depth = 0
    for ch in text:
        if ch in "<[(":
            depth += 1
        elif ch in ">])":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    name = "".join(out).strip().lstrip("*&").strip()
    name = re.sub(r"\s+", " ", name)
    return name.replace("::", ".").replace("\\", ".")


# --------------------------------------------------------------------------- language specs


@dataclass(frozen=True, slots=True)
class _Def:
    """What a declaration node is: the chunker's view of one symbol."""

    kind: str
    name: str | None
    body: Node | None
    parent: str | None = None  # overrides the lexical parent (Go receivers, C++ Foo::bar)
    members: Node | None = None  # where a container's member declarations live


_Resolver = Callable[[Node, bytes], "_Def | None"]


@dataclass(frozen=True, slots=True)
class _Spec:
    defs: dict[str, _Resolver]
    comments: frozenset[str]
    wrappers: frozenset[str] = frozenset()
    transparent: frozenset[str] = frozenset()
    attributes: frozenset[str] = frozenset()
    # Containers that do not show up in their members' parent (C++/C#/PHP namespaces).
    unnamed_scopes: frozenset[str] = frozenset()
    # Functions inside these container kinds stay "function" (a Rust mod, a TS namespace).
    function_scopes: frozenset[str] = frozenset({"module", "namespace"})
    python_docstrings: bool = False


def _field(node: Node, name: str) -> Node | None:
    return node.child_by_field_name(name)


def _child_of_type(node: Node, types: Iterable[str]) -> Node | None:
    wanted = frozenset(types)
    for child in node.named_children:
        if child.type in wanted:
            return child
    return None


def _name_of(node: Node, src: bytes, field_name: str = "name") -> str | None:
    name = _field(node, field_name)
    if name is None:
        return None
    return _clean_name(_node_text(src, name)) or None


def _simple(kind: str, *, body_field: str = "body", need_body: bool = False) -> _Resolver:
    def resolve(node: Node, src: bytes) -> _Def | None:
        body = _field(node, body_field)
        if need_body and body is None:
            return None
        return _Def(kind, _name_of(node, src), body, members=body)

    return resolve


def _function(node: Node, src: bytes) -> _Def | None:
    body = _field(node, "body")
    if body is None:
        return None
    return _Def("function", _name_of(node, src), body)


def _type_alias(node: Node, src: bytes) -> _Def | None:
    """A one-line kind of declaration: its signature is its first line."""
    return _Def("type", _name_of(node, src) or _name_of(node, src, "type"), None)


def _function_any_body(node: Node, src: bytes) -> _Def | None:
    """A function whose body may be absent (Ruby ``def x; end``)."""
    return _Def("function", _name_of(node, src), _field(node, "body"))


# JavaScript / TypeScript ------------------------------------------------------

_JS_FUNCTION_VALUES = frozenset(
    {
        "arrow_function",
        "function_expression",
        "function",
        "generator_function",
        "generator_function_expression",
    }
)


def _js_function_value(value: Node | None) -> Node | None:
    """The function node of ``= () => {}``, ``= function () {}`` or ``= memo(() => {})``."""
    if value is None:
        return None
    if value.type in _JS_FUNCTION_VALUES:
        return value
    if value.type == "call_expression":
        args = _field(value, "arguments")
        if args is not None:
            for arg in args.named_children:
                if arg.type in _JS_FUNCTION_VALUES:
                    return arg
    return None


def _js_variable(node: Node, src: bytes) -> _Def | None:
    declarators = [c for c in node.named_children if c.type == "variable_declarator"]
    if len(declarators) != 1:
        return None
    declarator = declarators[0]
    value = _field(declarator, "value")
    name_node = _field(declarator, "name")
    if name_node is None or name_node.type != "identifier":
        return None
    name = _node_text(src, name_node)
    if value is not None and value.type in ("class", "class_expression"):
        body = _field(value, "body")
        return _Def("class", name, body, members=body)
    func = _js_function_value(value)
    if func is None:
        return None
    return _Def("function", name, _field(func, "body"))


def _js_assignment(node: Node, src: bytes) -> _Def | None:
    """``exports.run = function () {}`` and ``Foo.prototype.run = () => {}``."""
    expr = node.named_children[0] if node.named_child_count else None
    if expr is None or expr.type != "assignment_expression":
        return None
    func = _js_function_value(_field(expr, "right"))
    left = _field(expr, "left")
    if func is None or left is None or left.type != "member_expression":
        return None
    prop = _field(left, "property")
    if prop is None:
        return None
    parent = None
    obj = _field(left, "object")
    if obj is not None and obj.type == "member_expression":
        obj_prop = _field(obj, "property")
        obj_obj = _field(obj, "object")
        if obj_prop is not None and obj_obj is not None and _node_text(src, obj_prop) == "prototype":
            parent = _clean_name(_node_text(src, obj_obj))
    return _Def(
        "method" if parent else "function", _node_text(src, prop), _field(func, "body"), parent=parent
    )


def _js_field(node: Node, src: bytes) -> _Def | None:
    """A class field holding a function: ``handle = () => {...}``."""
    func = _js_function_value(_field(node, "value"))
    if func is None:
        return None
    name = _name_of(node, src) or _name_of(node, src, "property")
    return _Def("function", name, _field(func, "body"))


def _js_defs(typescript: bool) -> dict[str, _Resolver]:
    defs: dict[str, _Resolver] = {
        "function_declaration": _function,
        "generator_function_declaration": _function,
        "method_definition": _function,
        "class_declaration": _simple("class"),
        "lexical_declaration": _js_variable,
        "variable_declaration": _js_variable,
        "expression_statement": _js_assignment,
        "field_definition": _js_field,
    }
    if typescript:
        defs.update(
            {
                "abstract_class_declaration": _simple("class"),
                "public_field_definition": _js_field,
                "interface_declaration": _simple("interface"),
                "enum_declaration": _simple("enum"),
                "type_alias_declaration": _type_alias,
                "internal_module": _simple("namespace", need_body=True),
                "module": _simple("module", need_body=True),
            }
        )
    return defs


# Python ----------------------------------------------------------------------


def _py_class(node: Node, src: bytes) -> _Def | None:
    body = _field(node, "body")
    return _Def("class", _name_of(node, src), body, members=body)


# Go ----------------------------------------------------------------------------


def _go_method(node: Node, src: bytes) -> _Def | None:
    body = _field(node, "body")
    if body is None:
        return None
    receiver = _field(node, "receiver")
    parent = None
    if receiver is not None:
        for param in receiver.named_children:
            type_node = _field(param, "type")
            if type_node is not None:
                parent = _clean_name(_node_text(src, type_node)) or None
                break
    return _Def("method", _name_of(node, src), body, parent=parent)


def _go_type(node: Node, src: bytes) -> _Def | None:
    spec = _child_of_type(node, ("type_spec", "type_alias"))
    if spec is None:
        return None
    type_node = _field(spec, "type")
    kind = "type"
    if type_node is not None and type_node.type == "struct_type":
        kind = "struct"
    elif type_node is not None and type_node.type == "interface_type":
        kind = "interface"
    # No body: the signature is the first line ("type LRU struct").
    return _Def(kind, _name_of(spec, src), None)


# Rust --------------------------------------------------------------------------


def _rust_impl(node: Node, src: bytes) -> _Def | None:
    body = _field(node, "body")
    type_node = _field(node, "type")
    name = _clean_name(_node_text(src, type_node)) if type_node is not None else None
    return _Def("impl", name, body, members=body)


# C / C++ -----------------------------------------------------------------------

_C_DECLARATOR_WRAPPERS = frozenset(
    {
        "function_declarator",
        "pointer_declarator",
        "reference_declarator",
        "parenthesized_declarator",
        "array_declarator",
        "attributed_declarator",
    }
)


def _c_function(node: Node, src: bytes) -> _Def | None:
    body = _field(node, "body")
    if body is None:
        return None
    declarator = _field(node, "declarator")
    for _ in range(12):
        if declarator is None or declarator.type not in _C_DECLARATOR_WRAPPERS:
            break
        inner = _field(declarator, "declarator")
        if inner is None:
            named = declarator.named_children
            inner = named[0] if named else None
        declarator = inner
    if declarator is None:
        return _Def("function", None, body)
    full = _clean_name(_node_text(src, declarator))
    if declarator.type == "qualified_identifier" and "." in full:
        parent, _, name = full.rpartition(".")
        return _Def("method", name, body, parent=parent)
    return _Def("function", full or None, body)


def _c_record(kind: str, container: bool) -> _Resolver:
    def resolve(node: Node, src: bytes) -> _Def | None:
        body = _field(node, "body")
        if body is None:
            return None  # a forward declaration or a use as a type
        return _Def(kind, _name_of(node, src), body, members=body if container else None)

    return resolve


_C_RECORD_KINDS = {
    "struct_specifier": "struct",
    "union_specifier": "union",
    "enum_specifier": "enum",
    "class_specifier": "class",
}


def _c_typedef(node: Node, src: bytes) -> _Def | None:
    type_node = _field(node, "type")
    if type_node is None or type_node.type not in _C_RECORD_KINDS or _field(type_node, "body") is None:
        return None
    declarator = _field(node, "declarator")
    name = _clean_name(_node_text(src, declarator)) if declarator is not None else None
    return _Def(_C_RECORD_KINDS[type_node.type], name or _name_of(type_node, src), _field(type_node, "body"))


def _cpp_namespace(node: Node, src: bytes) -> _Def | None:
    body = _field(node, "body")
    if body is None:
        return None
    return _Def("namespace", _name_of(node, src) or "(anonymous)", body, members=body)


# Kotlin ------------------------------------------------------------------------


def _kotlin_class(node: Node, src: bytes) -> _Def | None:
    kind = "class"
    for child in node.children:
        if child.type == "interface":
            kind = "interface"
        elif child.type == "modifiers" and b"enum" in src[child.start_byte : child.end_byte]:
            kind = "enum"
    body = _child_of_type(node, ("class_body", "enum_class_body"))
    return _Def(kind, _name_of(node, src), body, members=body)


def _kotlin_object(node: Node, src: bytes) -> _Def | None:
    body = _child_of_type(node, ("class_body",))
    return _Def("object", _name_of(node, src) or "Companion", body, members=body)


def _kotlin_function(node: Node, src: bytes) -> _Def | None:
    body = _child_of_type(node, ("function_body",))
    if body is None:
        return None
    receiver = None
    for child in node.children:
        if child.type in ("user_type", "nullable_type"):
            receiver = child
        elif child.type == "." and receiver is not None:
            return _Def("method", _name_of(node, src), body, parent=_clean_name(_node_text(src, receiver)))
        elif child.type in ("function_value_parameters", "identifier"):
            break
    return _Def("function", _name_of(node, src), body)


def _kotlin_constructor(node: Node, src: bytes) -> _Def | None:
    body = _child_of_type(node, ("block",))
    if body is None:
        return None
    return _Def("function", "constructor", body)


# Swift -------------------------------------------------------------------------

_SWIFT_KINDS = {
    "class": "class",
    "struct": "struct",
    "enum": "enum",
    "extension": "extension",
    "actor": "class",
}


def _swift_class(node: Node, src: bytes) -> _Def | None:
    kind = "class"
    for child in node.children:
        if child.type in _SWIFT_KINDS:
            kind = _SWIFT_KINDS[child.type]
            break
    body = _field(node, "body")
    return _Def(kind, _name_of(node, src), body, members=body)


def _swift_named_function(name: str) -> _Resolver:
    def resolve(node: Node, src: bytes) -> _Def | None:
        body = _field(node, "body") or _child_of_type(node, ("function_body", "block"))
        if body is None:
            return None
        return _Def("function", name, body)

    return resolve


# Ruby --------------------------------------------------------------------------


def _ruby_container(kind: str) -> _Resolver:
    def resolve(node: Node, src: bytes) -> _Def | None:
        body = _field(node, "body")
        return _Def(kind, _name_of(node, src), body, members=body)

    return resolve


# Spec table --------------------------------------------------------------------

_C_COMMENTS = frozenset({"comment"})

_SPECS: dict[str, _Spec] = {}


def _build_specs() -> None:
    for name, typescript in (("javascript", False), ("typescript", True), ("tsx", True)):
        _SPECS[name] = _Spec(
            defs=_js_defs(typescript),
            comments=frozenset({"comment", "html_comment"}),
            wrappers=frozenset({"export_statement", "ambient_declaration"}),
            attributes=frozenset({"decorator"}),
        )
    _SPECS["python"] = _Spec(
        defs={"function_definition": _function, "class_definition": _py_class},
        comments=frozenset({"comment"}),
        wrappers=frozenset({"decorated_definition"}),
        transparent=frozenset(
            {
                "if_statement",
                "elif_clause",
                "else_clause",
                "try_statement",
                "except_clause",
                "except_group_clause",
                "finally_clause",
                "block",
            }
        ),
        python_docstrings=True,
    )
    _SPECS["go"] = _Spec(
        defs={
            "function_declaration": _function,
            "method_declaration": _go_method,
            "type_declaration": _go_type,
        },
        comments=_C_COMMENTS,
    )
    _SPECS["rust"] = _Spec(
        defs={
            "function_item": _function,
            "struct_item": _simple("struct"),
            "union_item": _simple("union"),
            "enum_item": _simple("enum"),
            "trait_item": _simple("trait"),
            "impl_item": _rust_impl,
            "mod_item": _simple("module", need_body=True),
            "type_item": _type_alias,
            "macro_definition": lambda n, s: _Def("macro", _name_of(n, s), None),
        },
        comments=frozenset({"line_comment", "block_comment"}),
        attributes=frozenset({"attribute_item"}),
    )
    c_preproc = frozenset(
        {
            "preproc_if",
            "preproc_ifdef",
            "preproc_else",
            "preproc_elif",
            "preproc_elifdef",
            "linkage_specification",
        }
    )
    c_defs: dict[str, _Resolver] = {
        "function_definition": _c_function,
        "type_definition": _c_typedef,
        **{t: _c_record(k, container=False) for t, k in _C_RECORD_KINDS.items() if t != "class_specifier"},
    }
    _SPECS["c"] = _Spec(
        defs=c_defs,
        comments=_C_COMMENTS,
        wrappers=frozenset({"declaration"}),
        transparent=c_preproc | {"declaration_list"},
    )
    _SPECS["cpp"] = _Spec(
        defs={
            "function_definition": _c_function,
            "type_definition": _c_typedef,
            "namespace_definition": _cpp_namespace,
            **{t: _c_record(k, container=True) for t, k in _C_RECORD_KINDS.items()},
        },
        comments=_C_COMMENTS,
        wrappers=frozenset({"declaration", "field_declaration", "template_declaration"}),
        transparent=c_preproc | {"declaration_list"},
        unnamed_scopes=frozenset({"namespace"}),
    )
    _SPECS["java"] = _Spec(
        defs={
            "class_declaration": _simple("class"),
            "interface_declaration": _simple("interface"),
            "enum_declaration": _simple("enum"),
            "record_declaration": _simple("class"),
            "annotation_type_declaration": _simple("interface"),
            "method_declaration": _function,
            "constructor_declaration": _function,
            "compact_constructor_declaration": _function,
        },
        comments=frozenset({"line_comment", "block_comment"}),
        transparent=frozenset({"enum_body_declarations"}),
    )
    _SPECS["csharp"] = _Spec(
        defs={
            "class_declaration": _simple("class"),
            "struct_declaration": _simple("struct"),
            "interface_declaration": _simple("interface"),
            "enum_declaration": _simple("enum"),
            "record_declaration": _simple("class"),
            "record_struct_declaration": _simple("struct"),
            "namespace_declaration": _simple("namespace", need_body=True),
            "method_declaration": _function,
            "constructor_declaration": _function,
            "destructor_declaration": _function,
            "operator_declaration": _function,
            "local_function_statement": _function,
        },
        comments=_C_COMMENTS,
        transparent=frozenset({"preproc_if", "preproc_elif", "preproc_else", "preproc_region"}),
        unnamed_scopes=frozenset({"namespace"}),
    )
    _SPECS["ruby"] = _Spec(
        defs={
            "class": _ruby_container("class"),
            "module": _ruby_container("module"),
            "method": _function_any_body,
            "singleton_method": _function_any_body,
        },
        comments=_C_COMMENTS,
        transparent=frozenset({"singleton_class", "body_statement"}),
        function_scopes=frozenset(),
    )
    _SPECS["php"] = _Spec(
        defs={
            "class_declaration": _simple("class"),
            "interface_declaration": _simple("interface"),
            "trait_declaration": _simple("trait"),
            "enum_declaration": _simple("enum"),
            "namespace_definition": _simple("namespace", need_body=True),
            "function_definition": _function,
            "method_declaration": _function,
        },
        comments=_C_COMMENTS,
        transparent=frozenset({"compound_statement"}),
        unnamed_scopes=frozenset({"namespace"}),
    )
    _SPECS["kotlin"] = _Spec(
        defs={
            "class_declaration": _kotlin_class,
            "object_declaration": _kotlin_object,
            "companion_object": _kotlin_object,
            "function_declaration": _kotlin_function,
            "secondary_constructor": _kotlin_constructor,
            "type_alias": _type_alias,
        },
        comments=frozenset({"line_comment", "block_comment"}),
    )
    _SPECS["swift"] = _Spec(
        defs={
            "class_declaration": _swift_class,
            "protocol_declaration": _simple("protocol"),
            "function_declaration": _function,
            "init_declaration": _swift_named_function("init"),
            "deinit_declaration": _swift_named_function("deinit"),
            "typealias_declaration": _type_alias,
        },
        comments=frozenset({"comment", "multiline_comment"}),
    )
    _SPECS["scala"] = _Spec(
        defs={
            "class_definition": _simple("class"),
            "object_definition": _simple("object"),
            "trait_definition": _simple("trait"),
            "enum_definition": _simple("enum"),
            "function_definition": _function,
            "type_definition": _type_alias,
        },
        comments=frozenset({"comment", "block_comment"}),
    )
    _SPECS["bash"] = _Spec(
        defs={"function_definition": _function},
        comments=_C_COMMENTS,
    )


_build_specs()


# --------------------------------------------------------------------------- the code chunker


@dataclass(slots=True)
class _Sym:
    kind: str
    name: str | None
    parent: str | None
    start: int  # 0-based rows, inclusive, leading comments included
    end: int
    node: Node  # the declaration itself (inside any wrapper)
    body: Node | None
    signature: str | None
    docstring: str | None
    members: list[_Sym] = field(default_factory=list)
    member_items: list[Node] = field(default_factory=list)
    is_container: bool = False
    context: str = ""  # the enclosing container's signature


@dataclass(slots=True)
class _Piece:
    """A chunk before it becomes a ``Chunk``: rows are 0-based and inclusive."""

    start: int
    end: int
    kind: str
    symbol: str | None = None
    parent: str | None = None
    signature: str | None = None
    docstring: str | None = None
    header: str = ""


class _CodeChunker:
    def __init__(
        self,
        spec: _Spec,
        src: bytes,
        lines: list[str],
        max_lines: int,
        window_lines: int,
        window_overlap: int,
    ) -> None:
        self.spec = spec
        self.src = src
        self.lines = lines
        self.max_lines = max_lines
        self.window_lines = window_lines
        self.window_overlap = window_overlap
        self.last_row = len(lines) - 1
        self.pieces: list[_Piece] = []
        self.blank = [not line.strip() for line in lines]

    # ---- symbols

    def collect(
        self,
        nodes: Iterable[Node],
        parent: str | None,
        parent_kind: str | None,
        context: str,
        lo: int,
        hi: int,
        depth: int = 0,
    ) -> tuple[list[_Sym], list[Node]]:
        """Find the declarations among ``nodes`` (a module or a container body)."""
        syms: list[_Sym] = []
        items: list[Node] = []
        orphans: dict[int, int] = {}  # end row -> start row of comments cut off a previous symbol's end
        for node in self._flatten(nodes, 0):
            found = self._resolve(node)
            if found is None:
                items.append(node)
                continue
            inner, info = found
            kind = info.kind
            sym_parent = parent
            if info.parent is not None:
                sym_parent = info.parent
            if kind in _FUNCTION_KINDS and info.parent is None:
                in_class = parent_kind is not None and parent_kind not in self.spec.function_scopes
                kind = "method" if in_class else "function"
            start, comments = self._leading(node)
            while start - 1 in orphans:
                start = orphans.pop(start - 1)
            end = self._end_row(node, orphans)
            start = max(start, lo)
            end = min(end, hi)
            if end < start:
                items.append(node)
                continue
            body = info.body
            signature = self._signature(inner, body)
            docstring = self._docstring(body, comments)
            sym = _Sym(
                kind=kind,
                name=info.name,
                parent=sym_parent,
                start=start,
                end=end,
                node=inner,
                body=body,
                signature=signature,
                docstring=docstring,
                context=context,
            )
            if (
                kind in _CONTAINER_KINDS
                and info.members is not None
                and end - start + 1 > min(SMALL_CONTAINER_LINES, self.max_lines)
                and depth < _MAX_NESTING
            ):
                sym.is_container = True
                if kind in self.spec.unnamed_scopes:
                    member_parent = parent
                else:
                    member_parent = f"{sym_parent}.{info.name}" if sym_parent and info.name else info.name
                sym.members, sym.member_items = self.collect(
                    info.members.children, member_parent, kind, signature or "", start, end, depth + 1
                )
            syms.append(sym)
        return syms, items

    def _flatten(self, nodes: Iterable[Node], depth: int) -> Iterator[Node]:
        transparent = self.spec.transparent
        for node in nodes:
            if not node.is_named:
                continue
            if node.type in transparent and depth < _MAX_NESTING:
                yield from self._flatten(node.children, depth + 1)
            else:
                yield node

    def _resolve(self, node: Node) -> tuple[Node, _Def] | None:
        spec = self.spec
        inner = node
        for _ in range(4):
            if inner.type in spec.defs:
                break
            if inner.type not in spec.wrappers:
                return None
            nxt = None
            for child in inner.named_children:
                if child.type in spec.defs or child.type in spec.wrappers:
                    nxt = child
                    break
            if nxt is None:
                return None
            inner = nxt
        resolver = spec.defs.get(inner.type)
        if resolver is None:
            return None
        info = resolver(inner, self.src)
        if info is None:
            return None
        return inner, info

    def _leading(self, node: Node) -> tuple[int, list[Node]]:
        """First row of ``node`` including the comments and attributes directly above it."""
        start = node.start_point.row
        comments: list[Node] = []
        glue = self.spec.comments | self.spec.attributes
        prev = node.prev_sibling
        while prev is not None and prev.type in glue:
            if _end_row_of(prev) < start - 1:
                break  # a blank line separates it
            before = prev.prev_sibling
            if before is not None and _end_row_of(before) >= prev.start_point.row:
                break  # a trailing comment of the line above
            start = prev.start_point.row
            if prev.type in self.spec.comments:
                comments.append(prev)
            prev = before
        comments.reverse()
        return start, comments

    def _end_row(self, node: Node, orphans: dict[int, int]) -> int:
        """Last row with content of ``node``.

        Grammars end some nodes on the next line (column 0) or at the next
        line's indentation, and some (Scala, Python at a dedent) swallow a
        comment meant for the next declaration; such a comment, if not indented
        deeper than the declaration, is cut off and remembered in ``orphans``.
        """
        column = node.start_point.column
        current = node
        end_row = _end_row_of(node)
        for _ in range(_END_SCAN_MAX_DEPTH):
            count = current.child_count
            if count == 0:
                break
            index = count - 1
            last: Node | None = current.child(index)
            while last is not None and (
                last.start_byte == last.end_byte
                or (last.type in self.spec.comments and last.start_point.column <= column)
            ):
                if last.start_byte != last.end_byte and last.start_point.row > node.start_point.row:
                    orphans[_end_row_of(last)] = last.start_point.row
                index -= 1
                last = current.child(index) if index >= 0 else None
            if last is None:
                break
            end_row = min(end_row, _end_row_of(last))
            current = last
        return max(end_row, node.start_point.row)

    def _signature(self, node: Node, body: Node | None) -> str | None:
        src = self.src
        if body is not None and body.start_byte > node.start_byte:
            raw = src[node.start_byte : body.start_byte].decode("utf-8", "replace")
        else:
            line_end = src.find(b"\n", node.start_byte, node.end_byte)
            stop = node.end_byte if line_end < 0 else line_end
            raw = src[node.start_byte : stop].decode("utf-8", "replace")
        parts = [part.strip() for part in raw.splitlines()]
        text = "\n".join(part for part in parts if part).rstrip()
        if text.endswith("{"):
            text = text[:-1].rstrip()
        if text.endswith("=") and body is not None:
            text = text[:-1].rstrip()
        if len(text) > _SIGNATURE_MAX_CHARS:
            text = text[:_SIGNATURE_MAX_CHARS]
        return text or None

    def _docstring(self, body: Node | None, comments: list[Node]) -> str | None:
        if self.spec.python_docstrings and body is not None:
            doc = _python_docstring(body, self.src)
            if doc:
                return doc[:_DOCSTRING_MAX_CHARS]
        if not comments:
            return None
        text = "\n".join(_node_text(self.src, c) for c in comments)
        doc = _clean_comment(text)
        return doc[:_DOCSTRING_MAX_CHARS] or None

    # ---- emission

    def emit_scope(
        self,
        lo: int,
        hi: int,
        syms: list[_Sym],
        items: list[Node],
        gap: Callable[[int, int, bool], _Piece],
    ) -> None:
        """Emit ``syms`` and the runs of rows between them inside ``lo..hi``."""
        syms = _coalesce(syms)
        spans: list[tuple[int, int]] = []  # (first, last) piece index per symbol
        runs: list[tuple[int, int, int]] = []  # (start, end, index of the symbol just before or -1)
        cursor = lo
        for index, sym in enumerate(syms):
            if sym.start > cursor:
                runs.append((cursor, sym.start - 1, index - 1))
            cursor = max(cursor, sym.end + 1)
            first = len(self.pieces)
            self.emit_symbol(sym)
            spans.append((first, len(self.pieces) - 1))
        if cursor <= hi:
            runs.append((cursor, hi, len(syms) - 1))
        scope_start = self._trim(lo, hi)[0]
        item_rows = [item.start_point.row for item in items]
        for start, end, before in runs:
            start, end = self._trim(start, end)
            if start > end:
                continue
            after = before + 1 if before + 1 < len(syms) else -1
            if (
                before >= 0
                and self._all_match(start, end, _CLOSER_LINE)
                and self._extend_down(spans[before], end)
            ):
                continue
            if (
                after >= 0
                and self._all_match(start, end, _LABEL_LINE)
                and self._extend_up(spans[after], start)
            ):
                continue
            # A short comment block with a blank line below it introduces what follows
            # (a banner like "# --- helpers ---"), unless it opens the file or class.
            block = self._trailing_comments(start, end, items, item_rows)
            if block >= 0 and end - block < _COMMENT_RUN_LINES:
                if block == start and start != scope_start:
                    if after >= 0 and self._extend_up(spans[after], start):
                        continue
                    if after < 0 and before >= 0 and self._extend_down(spans[before], end):
                        continue
                elif (
                    block > start
                    and self.blank[block - 1]
                    and after >= 0
                    and self._extend_up(spans[after], block)
                ):
                    end = self._trim(start, block - 1)[1]
            at_scope_start = start == scope_start

            def make(s: int, e: int, first: bool, at_start: bool = at_scope_start) -> _Piece:
                return gap(s, e, first and at_start)

            self._emit_split(start, end, items, make)

    def emit_symbol(self, sym: _Sym) -> None:
        if sym.is_container:
            own_parent = sym.parent

            def gap(s: int, e: int, is_header: bool) -> _Piece:
                return _Piece(
                    s,
                    e,
                    sym.kind,
                    sym.name,
                    own_parent,
                    sym.signature,
                    sym.docstring if is_header else None,
                    sym.context if is_header else (sym.signature or ""),
                )

            self.emit_scope(sym.start, sym.end, sym.members, sym.member_items, gap)
            return
        total = sym.end - sym.start + 1
        if total <= self.max_lines:
            self.pieces.append(
                _Piece(
                    sym.start,
                    sym.end,
                    sym.kind,
                    sym.name,
                    sym.parent,
                    sym.signature,
                    sym.docstring,
                    sym.context,
                )
            )
            return
        header = "\n".join(part for part in (sym.context, sym.signature) if part)
        items = sym.body.named_children if sym.body is not None else sym.node.named_children

        def part(s: int, e: int, first: bool) -> _Piece:
            return _Piece(
                s, e, sym.kind, sym.name, sym.parent, sym.signature, sym.docstring if first else None, header
            )

        self._emit_split(sym.start, sym.end, items, part)

    def _emit_split(
        self, start: int, end: int, items: list[Node], make: Callable[[int, int, bool], _Piece]
    ) -> None:
        first = True
        for s, e in self._split(start, end, items, 0):
            s, e = self._trim(s, e)
            if s > e:
                continue
            self.pieces.append(make(s, e, first))
            first = False

    def _split(self, start: int, end: int, items: list[Node], depth: int) -> list[tuple[int, int]]:
        """Cut ``start..end`` into ranges of at most ``max_lines`` rows between ``items``."""
        limit = self.max_lines
        if end - start + 1 <= limit:
            return [(start, end)]
        # Segments: maximal row ranges that no item crosses.
        segments: list[tuple[int, int, list[Node]]] = []
        seg_start = start
        seg_nodes: list[Node] = []
        reach = start - 1
        for item in items:
            row = item.start_point.row
            item_end = _end_row_of(item)
            if item_end < start or row > end:
                continue
            if row > seg_start and row > reach:
                segments.append((seg_start, row - 1, seg_nodes))
                seg_start = row
                seg_nodes = []
            seg_nodes.append(item)
            reach = max(reach, item_end)
        segments.append((seg_start, end, seg_nodes))
        out: list[tuple[int, int]] = []
        cur: tuple[int, int] | None = None
        for s, e, nodes in segments:
            if cur is not None and e - cur[0] + 1 <= limit:
                cur = (cur[0], e)
                continue
            if cur is not None:
                out.append(cur)
                cur = None
            if e - s + 1 <= limit:
                cur = (s, e)
                continue
            children = [c for n in nodes for c in n.named_children]
            if depth < _SPLIT_MAX_DEPTH and children:
                out.extend(self._split(s, e, children, depth + 1))
            else:
                out.extend(_windows(s, e, min(self.window_lines, limit), self.window_overlap))
        if cur is not None:
            out.append(cur)
        return out

    def _trim(self, start: int, end: int) -> tuple[int, int]:
        blank = self.blank
        while start <= end and blank[start]:
            start += 1
        while end >= start and blank[end]:
            end -= 1
        return start, end

    def _all_match(self, start: int, end: int, pattern: re.Pattern[str]) -> bool:
        lines = self.lines
        blank = self.blank
        return all(blank[r] or pattern.match(lines[r]) is not None for r in range(start, end + 1))

    def _trailing_comments(self, start: int, end: int, items: list[Node], item_rows: list[int]) -> int:
        """First row of the comments that end the run ``start..end``, or -1 if it ends with code."""
        first = bisect_left(item_rows, start)
        index = bisect_right(item_rows, end) - 1
        comments = self.spec.comments
        row = -1
        while index >= first and items[index].type in comments:
            row = item_rows[index]
            index -= 1
        if index >= first and _end_row_of(items[index]) >= row:
            return -1  # the "comment" shares a line with code
        return row

    def _extend_down(self, span: tuple[int, int], end: int) -> bool:
        """Stretch the last piece of a symbol down to ``end`` if it stays within the size limit."""
        first, last = span
        if last < first:
            return False
        piece = max(self.pieces[first : last + 1], key=lambda p: p.end)
        if piece.end >= end or end - piece.start + 1 > self.max_lines:
            return False
        piece.end = end
        return True

    def _extend_up(self, span: tuple[int, int], start: int) -> bool:
        """Stretch the first piece of a symbol up to ``start`` if it stays within the size limit."""
        first, last = span
        if last < first:
            return False
        piece = min(self.pieces[first : last + 1], key=lambda p: p.start)
        if piece.start <= start or piece.end - start + 1 > self.max_lines:
            return False
        piece.start = start
        return True


def _coalesce(syms: list[_Sym]) -> list[_Sym]:
    """Sort symbols and fold any that share a line with the previous one into it.

    Declarations on one line (``function a(){} function b(){}``, minified code)
    would otherwise give many chunks with the same text.
    """
    out: list[_Sym] = []
    for sym in sorted(syms, key=lambda s: (s.start, s.end)):
        if out and sym.start <= out[-1].end:
            prev = out[-1]
            if sym.end > prev.end:
                prev.end = sym.end
                prev.is_container = False
                prev.members = []
            continue
        out.append(sym)
    return out


def _end_row_of(node: Node) -> int:
    point = node.end_point
    row = point.row
    if point.column == 0 and row > node.start_point.row:
        return row - 1
    return row


def _python_docstring(body: Node, src: bytes) -> str | None:
    first = body.named_children[0] if body.named_child_count else None
    if first is None or first.type != "expression_statement" or first.named_child_count != 1:
        return None
    string = first.named_children[0]
    if string.type != "string":
        return None
    raw = _node_text(src, string)
    raw = raw.lstrip("rRbBuUfF")
    for quote in ('"""', "'''", '"', "'"):
        if raw.startswith(quote) and raw.endswith(quote) and len(raw) >= 2 * len(quote):
            raw = raw[len(quote) : -len(quote)]
            break
    return cleandoc(raw) or None


_COMMENT_PREFIX = re.compile(r"^\s*(?:/\*+!?|\*+/?|//[/!]?|#+!?|--|<!--)\s?")
_COMMENT_SUFFIX = re.compile(r"\s*(?:\*+/|-->)\s*$")


def _clean_comment(text: str) -> str:
    out = []
    for line in text.splitlines():
        line = _COMMENT_SUFFIX.sub("", line)
        line = _COMMENT_PREFIX.sub("", line, count=1)
        out.append(line.rstrip())
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def _windows(start: int, end: int, size: int, overlap: int) -> list[tuple[int, int]]:
    size = max(1, size)
    step = max(1, size - max(0, overlap))
    out = []
    s = start
    while True:
        e = min(s + size - 1, end)
        out.append((s, e))
        if e >= end:
            return out
        s += step


def _chunk_code(
    path: str, language: str, text: str, lines: list[str], max_lines: int, window_lines: int, overlap: int
) -> list[_Piece] | None:
    parser = get_parser(language)
    spec = _SPECS.get(language)
    if parser is None or spec is None:
        return None
    src = text.encode("utf-8", "replace")
    tree = parser.parse(src)
    chunker = _CodeChunker(spec, src, lines, max_lines, window_lines, overlap)
    last = len(lines) - 1
    syms, items = chunker.collect(tree.root_node.children, None, None, "", 0, last)

    def module(s: int, e: int, first: bool) -> _Piece:
        return _Piece(s, e, "module")

    chunker.emit_scope(0, last, syms, items, module)
    return chunker.pieces


# --------------------------------------------------------------------------- docs


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_RST_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1+\s*$")


@dataclass(slots=True)
class _Heading:
    row: int  # first row of the heading (the overline or the text)
    level: int
    title: str
    line: str


def _markdown_headings(lines: list[str]) -> list[_Heading]:
    headings: list[_Heading] = []
    fence: str | None = None
    row = 0
    count = len(lines)
    if count and lines[0].strip() == "---":
        # YAML front matter: its closing "---" would read as a setext underline.
        for end in range(1, count):
            if lines[end].strip() in ("---", "..."):
                row = end + 1
                break
    prev_text = False
    while row < count:
        line = lines[row]
        match = _FENCE.match(line)
        if fence is not None:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            row += 1
            prev_text = False
            continue
        if match:
            fence = match.group(1)
            row += 1
            prev_text = False
            continue
        atx = _ATX.match(line)
        if atx:
            headings.append(_Heading(row, len(atx.group(1)), (atx.group(2) or "").strip(), line.strip()))
            prev_text = False
        elif prev_text and _SETEXT.match(line):
            level = 1 if line.strip()[0] == "=" else 2
            title = lines[row - 1].strip()
            if headings and headings[-1].row == row - 1:
                prev_text = False
            else:
                headings.append(_Heading(row - 1, level, title, title))
                prev_text = False
        else:
            prev_text = bool(line.strip()) and not line.startswith("    ")
        row += 1
    return headings


def _rst_headings(lines: list[str]) -> list[_Heading]:
    headings: list[_Heading] = []
    levels: dict[tuple[str, bool], int] = {}
    count = len(lines)
    row = 0
    while row < count - 1:
        line = lines[row]
        over = _RST_ADORNMENT.match(line)
        if over and row + 2 < count:
            title = lines[row + 1]
            under = lines[row + 2]
            if (
                title.strip()
                and not _RST_ADORNMENT.match(title)
                and under.rstrip() == line.rstrip()
                and len(line.rstrip()) >= len(title.strip())
            ):
                style = (line[0], True)
                level = levels.setdefault(style, len(levels) + 1)
                headings.append(_Heading(row, level, title.strip(), title.strip()))
                row += 3
                continue
        under_match = _RST_ADORNMENT.match(lines[row + 1])
        if (
            under_match
            and line.strip()
            and not line[0].isspace()
            and not _RST_ADORNMENT.match(line)
            and (row == 0 or not lines[row - 1].strip())
            and (len(lines[row + 1].rstrip()) >= len(line.rstrip()) or len(lines[row + 1].rstrip()) >= 4)
        ):
            style = (lines[row + 1][0], False)
            level = levels.setdefault(style, len(levels) + 1)
            headings.append(_Heading(row, level, line.strip(), line.strip()))
            row += 2
            continue
        row += 1
    return headings


def _chunk_sections(
    headings: list[_Heading], lines: list[str], max_lines: int, window_lines: int, overlap: int
) -> list[_Piece]:
    pieces: list[_Piece] = []
    last = len(lines) - 1
    stack: list[_Heading] = []
    bounds: list[tuple[int, int, _Heading | None, str | None]] = []
    first_row = headings[0].row if headings else last + 1
    if first_row > 0:
        bounds.append((0, first_row - 1, None, None))
    for index, heading in enumerate(headings):
        end = headings[index + 1].row - 1 if index + 1 < len(headings) else last
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        parent = " > ".join(h.title for h in stack) or None
        stack.append(heading)
        bounds.append((heading.row, end, heading, parent))
    blank = [not line.strip() for line in lines]
    for start, end, section, parent in bounds:
        start, end = _trim_rows(blank, start, end)
        if start > end:
            continue
        symbol = (section.title or None) if section else None
        signature = section.line if section else None
        if end - start + 1 <= max_lines:
            pieces.append(_Piece(start, end, "section", symbol, parent, signature))
            continue
        for s, e in _windows(start, end, min(window_lines, max_lines), overlap):
            s, e = _trim_rows(blank, s, e)
            if s <= e:
                pieces.append(_Piece(s, e, "section", symbol, parent, signature, header=signature or ""))
    return pieces


def _trim_rows(blank: list[bool], start: int, end: int) -> tuple[int, int]:
    while start <= end and blank[start]:
        start += 1
    while end >= start and blank[end]:
        end -= 1
    return start, end


def _chunk_windows(lines: list[str], window_lines: int, overlap: int, kind: str = "window") -> list[_Piece]:
    blank = [not line.strip() for line in lines]
    pieces: list[_Piece] = []
    seen: set[tuple[int, int]] = set()
    for s, e in _windows(0, len(lines) - 1, window_lines, overlap):
        s, e = _trim_rows(blank, s, e)
        if s <= e and (s, e) not in seen:
            seen.add((s, e))
            pieces.append(_Piece(s, e, kind))
    return pieces


# --------------------------------------------------------------------------- entry point


def chunk_text(
    path: str,
    text: str,
    *,
    language: str | None = None,
    max_chunk_lines: int = 120,
    window_lines: int = 60,
    window_overlap: int = 10,
) -> list[Chunk]:
    """Split ``text`` (the content of ``path``) into chunks sorted by start line.

    ``language`` defaults to ``detect_language(path, first line)``; unknown
    languages are chunked as text windows. Code in a tree-sitter language is
    chunked by symbol, Markdown and reStructuredText by section, anything else
    by overlapping line windows. Every non-blank line lands in at least one
    chunk and ``Chunk.text`` is exactly the cited lines. Never raises: a
    parser failure falls back to windows.
    """
    max_chunk_lines = max(1, max_chunk_lines)
    window_lines = max(1, min(window_lines, max_chunk_lines))
    window_overlap = max(0, min(window_overlap, window_lines - 1))
    lines = _split_lines(text)
    if not lines:
        return []
    if language is None:
        language = detect_language(path, lines[0]) or "text"
    pieces: list[_Piece] | None = None
    try:
        if language in TREE_SITTER_LANGUAGES:
            pieces = _chunk_code(path, language, text, lines, max_chunk_lines, window_lines, window_overlap)
        elif language == "markdown":
            pieces = _chunk_sections(
                _markdown_headings(lines), lines, max_chunk_lines, window_lines, window_overlap
            )
        elif language == "rst":
            pieces = _chunk_sections(
                _rst_headings(lines), lines, max_chunk_lines, window_lines, window_overlap
            )
    except Exception:  # a grammar or chunker bug must not lose the file: degrade to windows
        logger.warning("chunker failed on %s (%s); using line windows", path, language, exc_info=True)
        pieces = None
    if pieces is None:
        pieces = _chunk_windows(lines, window_lines, window_overlap)
    pieces = _cover_leftovers(pieces, lines, window_lines, window_overlap)
    return _to_chunks(path, language, lines, pieces)


def _cover_leftovers(pieces: list[_Piece], lines: list[str], window_lines: int, overlap: int) -> list[_Piece]:
    """Safety net: put any non-blank line no piece covers into a ``module`` window."""
    count = len(lines)
    covered = bytearray(count)
    for piece in pieces:
        s = max(piece.start, 0)
        e = min(piece.end, count - 1)
        if s <= e:
            covered[s : e + 1] = b"\x01" * (e - s + 1)
    row = covered.find(0)
    extra: list[_Piece] = []
    while 0 <= row < count:
        stop = covered.find(1, row)
        if stop < 0:
            stop = count
        blank = [not line.strip() for line in lines[row:stop]]
        if not all(blank):
            for s, e in _windows(row, stop - 1, window_lines, overlap):
                s, e = _trim_rows_offset(blank, row, s, e)
                if s <= e:
                    extra.append(_Piece(s, e, "module"))
        row = covered.find(0, stop)
    return pieces + extra if extra else pieces


def _trim_rows_offset(blank: list[bool], offset: int, start: int, end: int) -> tuple[int, int]:
    while start <= end and blank[start - offset]:
        start += 1
    while end >= start and blank[end - offset]:
        end -= 1
    return start, end


def _to_chunks(path: str, language: str, lines: list[str], pieces: list[_Piece]) -> list[Chunk]:
    count = len(lines)
    out: list[Chunk] = []
    for piece in sorted(pieces, key=lambda p: (p.start, p.end)):
        s = max(piece.start, 0)
        e = min(piece.end, count - 1)
        if s > e:
            continue
        body = "\n".join(lines[s : e + 1])
        if not body.strip():
            continue
        out.append(
            Chunk(
                path=path,
                start_line=s + 1,
                end_line=e + 1,
                language=language,
                kind=piece.kind,
                text=body,
                symbol=piece.symbol,
                parent=piece.parent,
                signature=piece.signature,
                docstring=piece.docstring,
                header=piece.header,
            )
        )
    return out
