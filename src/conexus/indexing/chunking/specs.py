"""Per-language node specs: which tree-sitter nodes are declarations, and of what kind.

A ``_Spec`` maps node types to resolvers that read a node's kind, name, body,
parent override and member list (``_Def``); it also names a language's comment,
wrapper, transparent and attribute nodes. ``_SPECS`` (language -> spec) is
filled at import by ``_build_specs``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tree_sitter import Node

from conexus.indexing.chunking._common import _node_text

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
    # `impl Into<Option<Id>> for &'a Id` is an impl of `Id`: look through references and pointers.
    while type_node is not None and type_node.type in ("reference_type", "pointer_type"):
        type_node = _field(type_node, "type")
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
