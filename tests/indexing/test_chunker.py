"""Tests of the chunker: per-language fixtures, the coverage property, sizes and edge cases."""

from __future__ import annotations

import ast
import itertools
import json
import logging
import threading
from pathlib import Path

import pytest
from fuzz.invariants import assert_well_formed, file_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conexus.indexing import chunking as chunker_module
from conexus.indexing.chunking import SMALL_CONTAINER_LINES, chunk_text
from conexus.indexing.languages import TREE_SITTER_LANGUAGES, detect_language, get_parser
from conexus.models import Chunk

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "languages"
FIXTURE_DIRS = sorted(p for p in FIXTURES.iterdir() if p.is_dir())


def symbols(chunks: list[Chunk]) -> dict[str, Chunk]:
    """First chunk of each qualified name."""
    out: dict[str, Chunk] = {}
    for chunk in chunks:
        if chunk.qualified_name and chunk.qualified_name not in out:
            out[chunk.qualified_name] = chunk
    return out


def fixture_chunks(name: str) -> tuple[str, list[Chunk]]:
    directory = FIXTURES / name
    sample = next(p for p in directory.iterdir() if p.name != "expected.json")
    text = sample.read_text(encoding="utf-8")
    return text, chunk_text(f"{name}/{sample.name}", text)


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize("directory", FIXTURE_DIRS, ids=[p.name for p in FIXTURE_DIRS])
def test_each_language_fixture_yields_its_expected_symbols_and_covers_every_line(directory: Path) -> None:
    expected = json.loads((directory / "expected.json").read_text(encoding="utf-8"))
    sample = directory / expected["file"]
    text = sample.read_text(encoding="utf-8")

    chunks = chunk_text(f"src/{sample.name}", text)

    assert_well_formed(text, chunks)
    assert {c.language for c in chunks} == {expected["language"]}
    assert sorted({c.kind for c in chunks}) == expected["kinds"]
    found = []
    for chunk in chunks:
        if chunk.symbol is not None and [chunk.kind, chunk.qualified_name] not in found:
            found.append([chunk.kind, chunk.qualified_name])
    assert found == expected["symbols"]


def test_every_tree_sitter_language_has_a_fixture() -> None:
    names = {p.name for p in FIXTURE_DIRS}
    assert names >= TREE_SITTER_LANGUAGES | {"markdown", "rst", "yaml", "json", "toml"}


def test_fixtures_are_detected_as_the_language_of_their_directory() -> None:
    for directory in FIXTURE_DIRS:
        expected = json.loads((directory / "expected.json").read_text(encoding="utf-8"))
        first = (directory / expected["file"]).read_text(encoding="utf-8").split("\n", 1)[0]
        assert detect_language(expected["file"], first) == directory.name


# --------------------------------------------------------------------------- symbols


def test_methods_carry_their_class_as_parent_and_nested_classes_their_outer_path() -> None:
    _, chunks = fixture_chunks("python")
    by_name = symbols(chunks)
    assert by_name["Warehouse.add"].symbol == "add"
    assert by_name["Warehouse.add"].parent == "Warehouse"
    assert by_name["Warehouse.add"].kind == "method"
    assert by_name["Warehouse.AuditEntry"].parent == "Warehouse"
    assert by_name["load_items"].parent is None
    assert by_name["load_items"].kind == "function"


def test_go_methods_take_the_receiver_type_as_parent() -> None:
    _, chunks = fixture_chunks("go")
    get = symbols(chunks)["LRU.Get"]
    assert (get.kind, get.symbol, get.parent) == ("method", "Get", "LRU")
    assert get.signature == "func (c *LRU) Get(key string) ([]byte, error)"


def test_rust_impl_methods_take_the_implemented_type_as_parent() -> None:
    _, chunks = fixture_chunks("rust")
    method = symbols(chunks)["SimpleLexer.next_token"]
    assert (method.kind, method.parent) == ("method", "SimpleLexer")
    impl = next(c for c in chunks if c.kind == "impl" and "Lexer for" in (c.signature or ""))
    assert impl.symbol == "SimpleLexer"


def test_cpp_out_of_line_method_takes_its_qualifier_as_parent() -> None:
    _, chunks = fixture_chunks("cpp")
    area = symbols(chunks)["Circle.area"]
    assert (area.kind, area.symbol, area.parent) == ("method", "area", "Circle")
    assert area.docstring == "Defined out of line on purpose."


def test_python_docstrings_and_signatures_are_extracted() -> None:
    _, chunks = fixture_chunks("python")
    load = symbols(chunks)["load_items"]
    assert load.signature == "def load_items(path: str) -> list[Item]:"
    assert load.docstring == "Load items from a JSON file.\n\nEach record must carry ``sku`` and ``name``."
    assert symbols(chunks)["Item"].docstring == "One stock-keeping unit."


def test_comment_blocks_above_a_declaration_are_its_docstring_and_part_of_its_range() -> None:
    _, chunks = fixture_chunks("javascript")
    parse = symbols(chunks)["parseTopic"]
    assert parse.text.startswith("/**\n * Parse a topic string into its segments.")
    assert parse.docstring is not None
    assert parse.docstring.startswith("Parse a topic string into its segments.\n@param {string} topic")
    assert parse.signature == "function parseTopic(topic)"

    _, rust = fixture_chunks("rust")
    token = symbols(rust)["Token"]
    assert token.text.startswith("/// The kinds of token the lexer produces.\n#[derive(")
    assert token.docstring == "The kinds of token the lexer produces."


def test_a_comment_separated_by_a_blank_line_is_not_attached() -> None:
    text = "// file header\n\n// helper doc\nfunction helper() {\n  return 1;\n}\n"
    chunks = chunk_text("a.js", text)
    helper = symbols(chunks)["helper"]
    assert (helper.start_line, helper.end_line) == (3, 6)
    assert helper.docstring == "helper doc"
    assert chunks[0].kind == "module"
    assert chunks[0].text == "// file header"


def test_a_trailing_comment_on_the_previous_line_is_not_attached() -> None:
    text = "x = 1  # trailing note\ndef f():\n    return x\n"
    chunks = chunk_text("a.py", text)
    f = symbols(chunks)["f"]
    assert f.start_line == 2
    assert f.docstring is None


def test_decorators_belong_to_the_decorated_function() -> None:
    _, chunks = fixture_chunks("python")
    size = symbols(chunks)["Warehouse.size"]
    assert size.text.lstrip().startswith("@property\n")
    assert size.signature == "def size(self) -> int:"


def test_small_classes_stay_one_chunk_with_their_methods() -> None:
    _, chunks = fixture_chunks("python")
    audit = [c for c in chunks if c.qualified_name == "Warehouse.AuditEntry"]
    assert len(audit) == 1
    assert "def describe(self)" in audit[0].text
    assert audit[0].end_line - audit[0].start_line + 1 <= SMALL_CONTAINER_LINES
    assert "Warehouse.AuditEntry.describe" not in symbols(chunks)


def test_class_lines_outside_methods_become_chunks_of_the_class() -> None:
    _, chunks = fixture_chunks("python")
    warehouse = [c for c in chunks if c.qualified_name == "Warehouse"]
    assert [c.kind for c in warehouse] == ["class", "class", "class"]
    header, field_run, tail = warehouse
    assert header.text.startswith("class Warehouse:")
    assert header.docstring == "A named collection of items with an audit log."
    assert field_run.text.strip() == 'kind = "warehouse"'
    assert field_run.header == "class Warehouse:"
    assert tail.text.strip() == 'default_tags = ("new",)'


def test_methods_carry_the_class_signature_as_header() -> None:
    _, chunks = fixture_chunks("typescript")
    run_one = symbols(chunks)["Scheduler.runOne"]
    assert run_one.header == "class Scheduler extends BaseScheduler"
    assert run_one.text.startswith("  private async runOne(")


def test_a_closing_brace_extends_the_last_member_instead_of_standing_alone() -> None:
    text, chunks = fixture_chunks("java")
    main = symbols(chunks)["Sample.main"]
    lines = file_lines(text)
    assert main.end_line == len(lines)
    assert main.text.endswith("    }\n}")
    assert all(c.text.strip() not in {"}", "};", "end"} for c in chunks)


def test_an_access_label_joins_the_member_below_it() -> None:
    _, chunks = fixture_chunks("ruby")
    debug = symbols(chunks)["Config.Settings.debug?"]
    assert debug.text.lstrip().startswith("private\n")


def test_a_short_comment_block_above_a_blank_line_joins_the_symbol_below() -> None:
    text = "import os\n\n\n# --- helpers ---\n\ndef helper():\n    return os.sep\n"
    chunks = chunk_text("a.py", text)
    helper = symbols(chunks)["helper"]
    assert (helper.start_line, helper.end_line) == (4, 7)
    assert helper.docstring is None
    assert [c.text for c in chunks if c.kind == "module"] == ["import os"]


def test_a_comment_at_the_top_of_the_file_stays_module_code() -> None:
    text = "# Copyright 2026 Example\n\ndef main():\n    return 0\n"
    chunks = chunk_text("a.py", text)
    assert [(c.kind, c.start_line, c.end_line) for c in chunks] == [("module", 1, 1), ("function", 3, 4)]


def test_functions_in_a_rust_module_are_functions_with_the_module_as_parent() -> None:
    _, chunks = fixture_chunks("rust")
    count = symbols(chunks)["util.count_idents"]
    assert (count.kind, count.parent) == ("function", "util")


def test_namespaces_of_csharp_do_not_prefix_their_members() -> None:
    _, chunks = fixture_chunks("csharp")
    names = symbols(chunks)
    assert names["Order.AddLine"].parent == "Order"
    assert names["Order.Builder.With"].parent == "Order.Builder"
    assert names["Order"].parent is None


def test_javascript_functions_assigned_to_names_are_functions() -> None:
    text = (
        "const add = (a, b) => {\n  return a + b;\n};\n\n"
        "Counter.prototype.bump = function () {\n  this.n += 1;\n};\n\n"
        "exports.handler = async (event) => {\n  return event;\n};\n"
    )
    chunks = chunk_text("a.js", text)
    names = symbols(chunks)
    assert names["add"].kind == "function"
    assert (names["Counter.bump"].kind, names["Counter.bump"].parent) == ("method", "Counter")
    assert names["handler"].kind == "function"


def test_python_definitions_inside_module_level_if_and_try_are_found() -> None:
    text = (
        "import sys\n\n"
        "if sys.platform == 'win32':\n"
        "    def open_file(path):\n        return path\n"
        "else:\n"
        "    def open_file(path):\n        return path.strip()\n\n"
        "try:\n    import fast\nexcept ImportError:\n    def fast():\n        return None\n"
    )
    chunks = chunk_text("a.py", text)
    assert [c.symbol for c in chunks if c.kind == "function"] == ["open_file", "open_file", "fast"]
    assert_well_formed(text, chunks)


def test_c_functions_inside_preprocessor_conditionals_are_found() -> None:
    text = (
        "#ifndef X_H\n#define X_H\n\n"
        "#ifdef DEBUG\nstatic int dbg(void)\n{\n    return 1;\n}\n#endif\n\n"
        "#endif\n"
    )
    chunks = chunk_text("x.h", text)
    dbg = symbols(chunks)["dbg"]
    assert dbg.kind == "function"
    assert_well_formed(text, chunks)


def test_declarations_without_a_body_stay_in_their_class_chunk() -> None:
    _, chunks = fixture_chunks("php")
    invoiceable = symbols(chunks)["Invoiceable"]
    assert "public function invoiceLines(): array;" in invoiceable.text
    assert "Invoiceable.invoiceLines" not in symbols(chunks)


# --------------------------------------------------------------------------- sizes


def test_an_oversized_function_is_split_at_statement_boundaries_with_its_signature_as_header() -> None:
    text, chunks = fixture_chunks("python")
    parts = [c for c in chunks if c.symbol == "reconcile"]
    assert len(parts) >= 2
    signature = (
        "def reconcile(warehouse: Warehouse, counted: dict[str, int], *, strict: bool = False)"
        " -> dict[str, object]:"
    )
    for part in parts:
        assert (part.kind, part.parent, part.signature) == ("function", None, signature)
        assert part.header == signature
        assert part.end_line - part.start_line + 1 <= 120
    assert parts[0].docstring is not None
    assert all(p.docstring is None for p in parts[1:])
    # Parts are contiguous apart from blank lines and each later part starts a statement.
    function = next(
        node
        for node in ast.parse(text).body
        if isinstance(node, ast.FunctionDef) and node.name == "reconcile"
    )
    statement_starts = {stmt.lineno for stmt in function.body}
    for earlier, later in itertools.pairwise(parts):
        assert later.start_line in statement_starts
        gap = file_lines(text)[earlier.end_line : later.start_line - 1]
        assert all(not line.strip() for line in gap)


@pytest.mark.parametrize("max_lines", [3, 5, 8, 20])
def test_no_chunk_exceeds_max_chunk_lines_when_statements_fit(max_lines: int) -> None:
    body = "".join(f"    value_{i} = compute({i})\n" for i in range(60))
    text = f"import os\n\ndef long_function(a, b):\n{body}    return a\n"
    chunks = chunk_text("a.py", text, max_chunk_lines=max_lines)
    assert_well_formed(text, chunks)
    assert all(c.end_line - c.start_line + 1 <= max_lines for c in chunks)
    assert {c.symbol for c in chunks} == {None, "long_function"}


def test_a_single_oversized_statement_is_split_inside_not_left_whole() -> None:
    entries = "".join(f"    'key{i}': {i},\n" for i in range(300))
    text = f"TABLE = {{\n{entries}}}\n"
    chunks = chunk_text("table.py", text, max_chunk_lines=50)
    assert_well_formed(text, chunks)
    assert all(c.end_line - c.start_line + 1 <= 50 for c in chunks)
    assert {c.kind for c in chunks} == {"module"}


def test_a_statement_without_inner_structure_falls_back_to_line_windows() -> None:
    lines = "\n".join(f"line {i}" for i in range(200))
    text = f'def f():\n    return """\n{lines}\n"""\n'
    chunks = chunk_text("a.py", text, max_chunk_lines=40, window_lines=30, window_overlap=5)
    assert_well_formed(text, chunks)
    assert all(c.end_line - c.start_line + 1 <= 40 for c in chunks)
    assert all(c.symbol == "f" for c in chunks)


def test_module_code_between_symbols_is_merged_and_split_at_max_chunk_lines() -> None:
    constants = "".join(f"CONST_{i} = {i}\n" for i in range(30))
    text = f"import os\nimport sys\n\n{constants}\ndef f():\n    return 1\n\nX = f()\n"
    chunks = chunk_text("a.py", text, max_chunk_lines=10)
    assert_well_formed(text, chunks)
    modules = [c for c in chunks if c.kind == "module"]
    assert len(modules) == 5  # 32 lines before f in parts of <= 10, then the line after f
    assert modules[0].text.startswith("import os\nimport sys")
    assert modules[-1].text == "X = f()"
    assert all(c.end_line - c.start_line + 1 <= 10 for c in chunks)


# --------------------------------------------------------------------------- documents and windows


def test_markdown_sections_follow_headings_with_their_parent_path() -> None:
    _, chunks = fixture_chunks("markdown")
    by_symbol = {c.symbol: c for c in chunks}
    assert by_symbol["Searching by symbol"].parent == "Getting started > Usage"
    assert by_symbol["Configuration"].parent == "Getting started"
    assert by_symbol["Options"].parent == "Reference"
    install = by_symbol["Install"]
    assert "# this is a comment in a fenced block, not a heading" in install.text
    assert chunks[0].symbol is None
    assert chunks[0].text.startswith("---\ntitle: Conexus sample")


def test_rst_sections_follow_underlined_titles_and_ignore_transitions() -> None:
    _, chunks = fixture_chunks("rst")
    by_symbol = {c.symbol: c for c in chunks}
    assert by_symbol["Conexus"].parent is None
    assert by_symbol["From source"].parent == "Conexus > Installation"
    assert by_symbol["Tuning"].parent == "Conexus > Usage > Searching"
    assert "----" in by_symbol["Indexing"].text


def test_an_oversized_section_is_split_into_windows_that_keep_the_heading() -> None:
    body = "\n".join(f"Paragraph line {i}." for i in range(100))
    text = f"# Title\n\n## Big\n\n{body}\n\n## Small\n\nshort\n"
    chunks = chunk_text("doc.md", text, max_chunk_lines=30, window_lines=20, window_overlap=5)
    assert_well_formed(text, chunks)
    big = [c for c in chunks if c.symbol == "Big"]
    assert len(big) > 1
    assert all(c.header == "## Big" and c.parent == "Title" for c in big)
    assert all(c.end_line - c.start_line + 1 <= 30 for c in chunks)


@pytest.mark.parametrize("name", ["config.yaml", "data.json", "Cargo.toml", "notes.unknownext"])
def test_data_and_unknown_files_are_chunked_in_overlapping_windows(name: str) -> None:
    text = "".join(f"key_{i}: value {i}\n" for i in range(100))
    chunks = chunk_text(name, text, window_lines=30, window_overlap=10)
    assert_well_formed(text, chunks)
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 30), (21, 50), (41, 70), (61, 90), (81, 100)]
    assert {c.kind for c in chunks} == {"window"}


def test_windows_skip_blank_edges_and_blank_windows() -> None:
    text = "a\n" + "\n" * 40 + "b\n"
    chunks = chunk_text("x.txt", text, window_lines=10, window_overlap=0)
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 1), (42, 42)]


# --------------------------------------------------------------------------- robustness


def test_empty_and_blank_files_yield_no_chunks() -> None:
    assert chunk_text("a.py", "") == []
    assert chunk_text("a.py", "\n\n   \n\t\n") == []
    assert chunk_text("a.md", "\n") == []


def test_crlf_files_give_texts_without_carriage_returns() -> None:
    text = "def f():\r\n    return 1\r\n\r\nx = f()\r\n"
    chunks = chunk_text("a.py", text)
    assert [c.text for c in chunks] == ["def f():\n    return 1", "x = f()"]
    assert_well_formed(text, chunks)


def test_a_file_without_final_newline_keeps_its_last_line() -> None:
    chunks = chunk_text("a.go", "package p\n\nfunc F() int { return 1 }")
    assert chunks[-1].text == "func F() int { return 1 }"
    assert chunks[-1].end_line == 3


def test_a_parser_failure_falls_back_to_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("grammar exploded")

    monkeypatch.setattr(chunker_module, "_chunk_code", broken)
    text = "def f():\n    return 1\n"
    chunks = chunk_text("a.py", text)
    assert [(c.kind, c.text) for c in chunks] == [("window", text.rstrip("\n"))]


def test_syntax_errors_still_yield_symbols_and_full_coverage() -> None:
    text = "def ok():\n    return 1\n\ndef broken(:\n    ((( [\n\nclass C:\n    def m(self):\n        pass\n"
    chunks = chunk_text("a.py", text)
    assert_well_formed(text, chunks)
    assert "ok" in symbols(chunks)


def test_declarations_sharing_one_line_give_one_chunk() -> None:
    text = ";".join(f"function f{i}(a){{return a+{i}}}" for i in range(50)) + "\n"
    chunks = chunk_text("bundle.js", text)
    assert [(c.kind, c.symbol, c.start_line, c.end_line) for c in chunks] == [("function", "f0", 1, 1)]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.py", "".join("    " * i + f"class C{i}:\n    x = {i}\n" for i in range(150))),
        ("deep_if.py", "".join("    " * i + "if x:\n" for i in range(300)) + "    " * 300 + "pass\n"),
        ("deep.cpp", "".join(f"namespace n{i} {{\nint v{i};\n" for i in range(300)) + "}\n" * 300),
    ],
)
def test_deeply_nested_code_is_chunked_by_syntax_without_falling_back(
    name: str, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    chunks = chunk_text(name, text, max_chunk_lines=40)
    assert_well_formed(text, chunks)
    assert "window" not in {c.kind for c in chunks}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_explicit_language_overrides_detection() -> None:
    chunks = chunk_text("script", "fn main() {\n    run();\n}\n", language="rust")
    assert (chunks[0].language, chunks[0].symbol) == ("rust", "main")


_FRAGMENTS = [
    "def f(x):",
    "    return x",
    "class A:",
    "    def m(self):",
    "        pass",
    '    """doc"""',
    "@decorator",
    "if x:",
    "else:",
    "try:",
    "except E:",
    "function f() {",
    "}",
    "};",
    "{",
    "class A extends B {",
    "  m() {",
    "const f = () => {",
    "/** doc */",
    "/*",
    " * star",
    " */",
    "// comment",
    "# comment",
    "func (r *R) M() {",
    "type S struct {",
    "fn f() {",
    "impl A {",
    "impl T for A {",
    "#[derive(Debug)]",
    "/// doc",
    "mod m {",
    "int f(void) {",
    "struct s {",
    "#ifdef X",
    "#endif",
    "namespace n {",
    "public:",
    "template <typename T>",
    "def m",
    "end",
    "module M",
    "private",
    "fun f() {",
    "object O {",
    "<?php",
    "function f() {",
    "f() {",
    "# Heading",
    "Title",
    "=====",
    "-----",
    "```",
    "(((",
    ")))",
    '"unterminated',
    "'''",
    "é日本語 🎉",
    "\t\t",
    "",
    "",
]

_LANGUAGES = [*sorted(TREE_SITTER_LANGUAGES), "markdown", "rst", "yaml", "text", None]

_line = st.one_of(
    st.sampled_from(_FRAGMENTS),
    st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"), max_size=30),
    st.builds(lambda indent, frag: " " * indent + frag, st.integers(0, 8), st.sampled_from(_FRAGMENTS)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(_line, max_size=80),
    language=st.sampled_from(_LANGUAGES),
    max_lines=st.integers(1, 40),
    window=st.integers(1, 30),
    overlap=st.integers(0, 35),
    newline=st.sampled_from(["\n", "\r\n"]),
    final_newline=st.booleans(),
)
def test_every_non_blank_line_is_covered_for_any_input(
    lines: list[str],
    language: str | None,
    max_lines: int,
    window: int,
    overlap: int,
    newline: str,
    final_newline: bool,
) -> None:
    text = newline.join(lines) + (newline if final_newline and lines else "")
    chunks = chunk_text(
        "generated.src",
        text,
        language=language,
        max_chunk_lines=max_lines,
        window_lines=window,
        window_overlap=overlap,
    )
    assert_well_formed(text, chunks)
    assert all(c.end_line - c.start_line + 1 <= max_lines for c in chunks)


@settings(max_examples=50, deadline=None)
@given(text=st.text(max_size=400), language=st.sampled_from(_LANGUAGES))
def test_arbitrary_text_never_raises_and_is_covered(text: str, language: str | None) -> None:
    chunks = chunk_text("any", text, language=language)
    assert_well_formed(text, chunks)


# --------------------------------------------------------------------------- languages


@pytest.mark.parametrize(
    ("path", "first_line", "expected"),
    [
        ("src/app.py", "", "python"),
        ("types.pyi", "", "python"),
        ("index.mjs", "", "javascript"),
        ("App.jsx", "", "javascript"),
        ("api.ts", "", "typescript"),
        ("lib/index.d.ts", "", "typescript"),
        ("App.tsx", "", "tsx"),
        ("main.go", "", "go"),
        ("lib.rs", "", "rust"),
        ("Main.java", "", "java"),
        ("ring.c", "", "c"),
        ("ring.h", "", "c"),
        ("geo.hpp", "", "cpp"),
        ("geo.cc", "", "cpp"),
        ("Program.cs", "", "csharp"),
        ("app.rb", "", "ruby"),
        ("index.php", "", "php"),
        ("Main.kt", "", "kotlin"),
        ("build.gradle.kts", "", "kotlin"),
        ("App.swift", "", "swift"),
        ("Graph.scala", "", "scala"),
        ("run.sh", "", "bash"),
        ("README.md", "", "markdown"),
        ("docs/index.rst", "", "rst"),
        ("ci.yml", "", "yaml"),
        ("package.json", "", "json"),
        ("pyproject.toml", "", "toml"),
        ("Makefile", "", "make"),
        ("Dockerfile", "", "dockerfile"),
        ("Dockerfile.dev", "", "dockerfile"),
        ("Gemfile", "", "ruby"),
        ("CMakeLists.txt", "", "cmake"),
        ("notes.txt", "", "text"),
        ("bin/tool", "#!/usr/bin/env python3", "python"),
        ("bin/tool", "#!/bin/bash -e", "bash"),
        ("bin/tool", "#!/usr/bin/env -S node --no-warnings", "javascript"),
        ("bin/tool", "", None),
        ("image.png", "", None),
        ("archive.tar.gz", "", None),
    ],
)
def test_detect_language_uses_extension_file_name_and_shebang(
    path: str, first_line: str, expected: str | None
) -> None:
    assert detect_language(path, first_line) == expected


def test_a_shebang_does_not_override_a_known_extension() -> None:
    assert detect_language("tool.rb", "#!/usr/bin/env python") == "ruby"


def test_every_tree_sitter_language_has_a_parser() -> None:
    for language in TREE_SITTER_LANGUAGES:
        assert get_parser(language) is not None, language
    assert get_parser("markdown") is None
    assert get_parser("no-such-language") is None


def test_parsers_are_cached_per_thread() -> None:
    mine = get_parser("python")
    assert get_parser("python") is mine
    theirs: list[object] = []
    thread = threading.Thread(target=lambda: theirs.append(get_parser("python")))
    thread.start()
    thread.join()
    assert theirs[0] is not None and theirs[0] is not mine


def test_chunking_from_several_threads_gives_the_same_chunks() -> None:
    text, expected = fixture_chunks("typescript")
    results: list[list[Chunk]] = []

    def work() -> None:
        for _ in range(5):
            results.append(chunk_text("typescript/sample.ts", text))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 20
    assert all(result == expected for result in results)


CPP_HEADER = """#pragma once
#include <string>

namespace pz {
class Options {
 public:
  Options() = default;
  int parse(const std::string& text) {
    return static_cast<int>(text.size());
  }
  bool verbose() const { return verbose_; }

 private:
  bool verbose_ = false;
};
}  // namespace pz
"""

C_HEADER = """#ifndef ZDICT_H
#define ZDICT_H
struct zd_params { int level; };
size_t ZDICT_train(void* dict, size_t cap);
#endif
"""


def test_a_cpp_header_named_dot_h_is_parsed_as_cpp_and_a_c_header_stays_c() -> None:
    from conexus.indexing.languages import refine_language

    assert refine_language("c", "contrib/pzstd/Options.h", CPP_HEADER) == "cpp"
    assert refine_language("c", "lib/zdict.h", C_HEADER) == "c"
    assert refine_language("c", "lib/zdict.c", CPP_HEADER) == "c"  # a .c file is C whatever it holds
    chunks = chunk_text("contrib/pzstd/Options.h", CPP_HEADER, max_chunk_lines=8)
    assert all(c.language == "cpp" for c in chunks)
    names = {(c.kind, c.symbol, c.parent) for c in chunks}
    assert {
        ("class", "Options", None),
        ("method", "parse", "Options"),
        ("method", "verbose", "Options"),
    } <= names


def test_a_rust_impl_for_a_reference_type_is_named_after_the_type() -> None:
    text = (
        "pub struct Id(u64);\n\n"
        "impl<'a> Into<Option<Id>> for &'a Id {\n"
        "    fn into(self) -> Option<Id> {\n        Some(Id(self.0))\n    }\n}\n\n"
        "impl<T> From<*const T> for Id {\n    fn from(_p: *const T) -> Id {\n        Id(0)\n    }\n}\n"
    )
    chunks = chunk_text("span.rs", text)
    impls = [c for c in chunks if c.kind == "impl"]
    assert [c.symbol for c in impls] == ["Id", "Id"], [(c.symbol, c.start_line) for c in chunks]


@pytest.mark.parametrize("language", ["scala", "kotlin", "python", "text"])
def test_a_node_ending_on_a_line_python_calls_blank_still_ends_its_chunk_on_code(language: str) -> None:
    # tree-sitter reads "\x1f" (unit separator) as code; str.strip() as whitespace (found by hypothesis).
    text = "object O {\n\x1f\n"
    chunks = chunk_text("a.src", text, language=language)
    assert_well_formed(text, chunks)
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 1)]
