"""bench.chunk_accuracy: its scoring on inline snippets, the reference extractors where the tools exist."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from bench.chunk_accuracy import sample_files, write_files
from bench.chunk_reference import available, ctags_declarations, declarations, python_declarations
from bench.chunk_scoring import (
    RefSymbol,
    conexus_symbols,
    declaration_start,
    normalize,
    score_file,
    top_causes,
)

from conexus.indexing.chunking import chunk_text
from tests.conftest import git, write


@dataclass(frozen=True)
class FakeChunk:
    start_line: int
    end_line: int
    kind: str
    symbol: str | None = None
    parent: str | None = None
    signature: str | None = None
    header: str = ""


def _score(
    path: str, language: str, text: str, refs: list[RefSymbol], **chunking: int
) -> dict[str, float | None]:
    chunks = chunk_text(path, text, language=language, **chunking)
    return score_file(path, language, text.split("\n"), refs, chunks).figures()


def test_the_parts_of_a_split_function_are_one_symbol_spanning_them_all() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(40))
    text = "def long():\n" + body + "    return x0\n"
    chunks = chunk_text("a.py", text, max_chunk_lines=10, window_lines=5, window_overlap=1)
    assert len([c for c in chunks if c.symbol == "long"]) > 1
    (sym,) = conexus_symbols(chunks)
    assert (sym.start, sym.end_within(1, 42)) == (1, 42)
    figures = _score("a.py", "python", text, python_declarations(text), max_chunk_lines=10, window_lines=5)
    assert figures["recall"] == figures["covered"] == figures["end_pm1"] == 1.0


def test_adjacent_overloads_stay_two_symbols_while_split_parts_merge() -> None:
    chunks = [
        FakeChunk(1, 3, "method", "f", "A", "void f()", "class A"),
        FakeChunk(4, 6, "method", "f", "A", "void f(int a)", "class A"),
        FakeChunk(7, 9, "method", "g", "A", "void g()", "class A\nvoid g()"),
        FakeChunk(10, 12, "method", "g", "A", "void g()", "class A\nvoid g()"),
    ]
    assert [(s.name, s.parts) for s in conexus_symbols(chunks)] == [
        ("f", [(1, 3)]),
        ("f", [(4, 6)]),
        ("g", [(7, 9), (10, 12)]),
    ]


def test_two_impls_of_one_rust_type_are_two_symbols() -> None:
    methods = "".join(f"    fn m{i}(&self) -> u32 {{\n        {i}\n    }}\n" for i in range(6))
    text = f"struct S;\n\nimpl S {{\n{methods}}}\n\nimpl Clone for S {{\n{methods}}}\n"
    impls = [s for s in conexus_symbols(chunk_text("a.rs", text)) if s.kind == "impl"]
    assert [s.start for s in impls] == [3, 24]


def test_a_go_method_outside_its_struct_does_not_stretch_the_struct() -> None:
    text = "package p\n\ntype T struct {\n\tA int\n}\n\nfunc (t *T) Get() int {\n\treturn t.A\n}\n"
    refs = [RefSymbol("T", "struct", 3, 5), RefSymbol("Get", "method", 7, 9, "T")]
    figures = _score("a.go", "go", text, refs)
    assert figures["recall"] == figures["end_pm1"] == figures["covered"] == 1.0


def test_a_declaration_starts_after_its_doc_comment_and_attributes_but_at_a_python_decorator() -> None:
    java = ["/**", " * Doc.", " */", "@Override", "void f() {}"]
    assert declaration_start(java, 1, 5, "java") == 4
    rust = ["/// Doc.", "#[inline]", "fn f() {}"]
    assert declaration_start(rust, 1, 3, "rust") == 3
    python = ["# comment", "@cache", "def f():", "    pass"]
    assert declaration_start(python, 1, 4, "python") == 2
    c = ["#ifdef X", "static int f(void) {", "}"]
    assert declaration_start(c, 1, 3, "c") == 2


def test_a_method_of_a_small_class_is_a_miss_found_inside_the_class_chunk() -> None:
    text = "class Small:\n    def a(self):\n        return 1\n\n    def b(self):\n        return 2\n"
    chunks = chunk_text("a.py", text)
    score = score_file("a.py", "python", text.split("\n"), python_declarations(text), chunks)
    figures = score.figures()
    assert figures["recall"] == round(1 / 3, 3)
    assert figures["recall_in_container"] == 1.0
    assert {m.cause for m in score.misses} == {"member of a one-chunk class"}


def test_closing_lines_glued_after_a_symbol_are_told_apart_from_a_wrong_end() -> None:
    lines = ["void f() {", "}", "// trailing", "}", "int g;"]
    chunks = [FakeChunk(1, 4, "function", "f", None, "void f()")]
    score = score_file("a.c", "c", lines, [RefSymbol("f", "function", 1, 2)], chunks)
    assert [m.cause for m in score.misses] == ["end late: closing lines or comments glued"]
    wrong = [FakeChunk(1, 5, "function", "f", None, "void f()")]
    score = score_file("a.c", "c", lines, [RefSymbol("f", "function", 1, 2)], wrong)
    assert [m.cause for m in score.misses] == ["end late"]


def test_precision_counts_conexus_symbols_the_reference_does_not_declare() -> None:
    lines = ["x"] * 10
    chunks = [FakeChunk(1, 3, "function", "f"), FakeChunk(5, 7, "function", "ghost")]
    score = score_file("a.c", "c", lines, [RefSymbol("f", "function", 1, 3)], chunks)
    assert score.figures()["precision"] == 0.5
    assert [sym.name for _, sym in score.unknown] == ["ghost"]


def test_locals_and_fields_are_not_counted_for_recall_but_make_a_name_known() -> None:
    text = "X = 1\n\n\ndef outer():\n    def inner():\n        pass\n    return inner\n"
    refs = python_declarations(text)
    assert [(r.name, r.kind, r.local, r.counted) for r in refs] == [
        ("X", "variable", False, False),
        ("outer", "function", False, True),
        ("inner", "function", True, False),
    ]


def test_names_compare_by_their_last_segment_without_generics() -> None:
    assert normalize("fmt::Arguments<'a>") == "Arguments"
    assert normalize("Outer.Inner") == "Inner"
    assert normalize("operator ==") == "operator=="


def test_miss_causes_are_ranked_by_count_with_examples() -> None:
    text = "class Small:\n    def a(self):\n        return 1\n\n    def b(self):\n        return 2\n"
    score = score_file(
        "a.py", "python", text.split("\n"), python_declarations(text), chunk_text("a.py", text)
    )
    ((key, count, examples),) = top_causes(score.misses, examples=1)
    assert (key, count, [m.ref.name for m in examples]) == ("method: member of a one-chunk class", 2, ["a"])


def test_files_are_sampled_deterministically_and_written_from_a_bare_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for i in range(8):
        write(repo, f"src/m{i}.py", f"def f{i}():\n    return {i}\n")
    write(repo, "README.md", "# r\n")
    git(tmp_path, "init", "-q", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    commit = git(repo, "rev-parse", "HEAD")
    git_dir = repo / ".git"
    first = sample_files(git_dir, commit, "python", 3, seed=12)
    assert first == sample_files(git_dir, commit, "python", 3, seed=12)
    assert len(first) == 3 and all(p.endswith(".py") for p in first)
    write_files(git_dir, commit, first, tmp_path / "out")
    assert (tmp_path / "out" / first[0]).read_text().startswith("def f")


@pytest.mark.skipif(available("typescript") is not None, reason=str(available("typescript")))
def test_the_typescript_compiler_lists_classes_methods_and_function_values(tmp_path: Path) -> None:
    text = (
        "export class A {\n  /** x */\n  foo(): void {\n    const g = () => 1;\n  }\n}\n"
        "export const f = (a: number) => a;\n"
    )
    write(tmp_path, "a.ts", text)
    refs = declarations("typescript", tmp_path, ["a.ts"], tmp_path / "work")["a.ts"]
    assert [(r.name, r.kind, r.start, r.end, r.local) for r in refs] == [
        ("A", "class", 1, 6, False),
        ("foo", "method", 3, 5, False),
        ("g", "function", 4, 4, True),
        ("f", "function", 7, 7, False),
    ]
    # A six-line class is one chunk: its method is found inside it, not as a symbol of its own.
    assert _score("a.ts", "typescript", text, refs)["recall_in_container"] == 1.0


@pytest.mark.skipif(available("java") is not None, reason=str(available("java")))
def test_javac_lists_classes_constructors_and_methods_from_their_annotations(tmp_path: Path) -> None:
    text = (
        "package a;\n\n/** Doc. */\npublic class A {\n  A() {}\n"
        '  @Override\n  public String toString() {\n    return "";\n  }\n}\n'
    )
    write(tmp_path, "A.java", text)
    refs = declarations("java", tmp_path, ["A.java"], tmp_path / "work")["A.java"]
    assert [(r.name, r.kind, r.start, r.end) for r in refs] == [
        ("A", "class", 4, 10),
        ("A", "method", 5, 5),
        ("toString", "method", 6, 9),
    ]


@pytest.mark.skipif(available("c") is not None or shutil.which("ctags") is None, reason="no Universal Ctags")
def test_ctags_gives_c_functions_and_typedef_structs_with_their_end_lines(tmp_path: Path) -> None:
    text = "typedef struct {\n  int a;\n} pair;\n\nstatic int add(int a, int b)\n{\n  return a + b;\n}\n"
    write(tmp_path, "a.c", text)
    refs = ctags_declarations("c", tmp_path, ["a.c"])["a.c"]
    counted = [(r.name, r.kind, r.start, r.end) for r in refs if r.counted]
    assert sorted(counted) == [("add", "function", 5, 8), ("pair", "struct", 1, 3)]
    assert _score("a.c", "c", text, refs)["recall"] == 1.0
