"""A parse that runs away is halted by its CPU budget, and the file is still chunked (as text).

``kotlin_error_recovery.kt`` is a 591-byte input found by random testing on which the Kotlin
grammar's error recovery runs for minutes (tree-sitter-kotlin 1.1.0) while its memory grows.
"""

from __future__ import annotations

from pathlib import Path

from fuzz.invariants import assert_well_formed

from conexus.indexing.chunking import chunk_text
from conexus.indexing.languages import get_parser, parse_source

RUNAWAY = Path(__file__).resolve().parent.parent / "fixtures" / "pathological" / "kotlin_error_recovery.kt"


def test_a_runaway_parse_is_halted_and_the_parser_works_again_afterwards() -> None:
    assert parse_source("kotlin", RUNAWAY.read_bytes(), budget_s=0.2) is None
    tree = parse_source("kotlin", b"fun f() { return 1 }\n")
    assert tree is not None and not tree.root_node.has_error
    assert tree.root_node.children[0].type == "function_declaration"


def test_an_ordinary_parse_is_the_same_tree_as_the_parsers_own() -> None:
    source = b"class A {\n  fun f(x: Int): Int = x + 1\n}\n"
    parser = get_parser("kotlin")
    assert parser is not None
    tree = parse_source("kotlin", source)
    assert tree is not None and str(tree.root_node) == str(parser.parse(source).root_node)


def test_a_file_whose_parse_is_halted_is_chunked_as_text_with_every_line_covered() -> None:
    text = RUNAWAY.read_bytes().decode("utf-8", "replace")
    chunks = chunk_text("src/Runaway.kt", text, language="kotlin")
    assert chunks and all(c.kind == "window" for c in chunks)
    assert_well_formed(text, chunks)
