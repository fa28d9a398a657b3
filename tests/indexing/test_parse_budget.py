"""Parsing hostile input: a parse that runs away is halted by its CPU budget (the file is then
chunked as text), and characters that crash a grammar's scanner never reach it.

``kotlin_error_recovery.kt`` is a 591-byte input found by random testing on which the Kotlin
grammar's error recovery was still running after 60 s of CPU (tree-sitter-kotlin 1.1.0).
"""

from __future__ import annotations

import subprocess
import sys
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


def test_a_character_that_crashes_the_bash_scanner_is_parsed_safely_in_a_child_process() -> None:
    # tree-sitter-bash 0.25.1 segfaults (on most attempts) on "{" + U+E71B4; found by hypothesis.
    # Run where a crash cannot take the test run down, several times since it is not every time.
    code = (
        "from conexus.indexing.chunking import chunk_text\n"
        "for _ in range(20):\n"
        "    chunks = chunk_text('run.sh', '{\\U000e71b4\\n{\\U0010fffd}\\necho ok\\n', language='bash')\n"
        "assert chunks\n"
    )
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (done.returncode, done.stderr[-2000:])


def test_characters_outside_the_bmp_keep_every_offset_of_the_tree() -> None:
    source = 'def f():\n    return "🎉 \U000e71b4"\n\ndef g():\n    pass\n'.encode()
    tree = parse_source("python", source)
    assert tree is not None and not tree.root_node.has_error
    defs = [n for n in tree.root_node.children if n.type == "function_definition"]
    assert [source[n.start_byte : n.end_byte].split(b"(")[0] for n in defs] == [b"def f", b"def g"]
    assert defs[0].end_byte == source.index(b"\n\ndef g")
