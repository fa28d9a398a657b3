"""Search filters: typos are refused with the valid values listed, and filters run inside retrieval."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from conexus.engine import Engine
from conexus.errors import QueryError
from conexus.indexing.chunking import chunk_text
from conexus.indexing.languages import KNOWN_LANGUAGES, detect_language
from conexus.models import CHUNK_KINDS
from conexus.search.filters import check_kinds, check_languages, chunk_filter, compile_globs, filter_files
from conexus.store.base import FileRow
from tests.conftest import FIXTURES, write

FILES = [
    FileRow(1, "src/app.py", "h", 1, 1, "python", 1, 1),
    FileRow(2, "src/lib.go", "h", 1, 1, "go", 1, 1),
    FileRow(3, "docs/Guide.md", "h", 1, 1, "markdown", 1, 1),
]


def test_an_unknown_language_is_refused_with_the_valid_ones_listed() -> None:
    with pytest.raises(QueryError, match=r"unknown language pyhton; valid languages: .*python"):
        filter_files(FILES, [], ["pyhton"])


def test_languages_match_case_insensitively() -> None:
    assert filter_files(FILES, [], ["Python", "GO"]) == [1, 2]


def test_a_language_present_in_the_index_is_accepted_even_if_unknown_today() -> None:
    rows = [*FILES, FileRow(4, "x.foo", "h", 1, 1, "foolang", 1, 1)]
    assert filter_files(rows, [], ["foolang"]) == [4]


def test_every_language_detection_can_return_is_a_valid_filter() -> None:
    for path in ["a.py", "b.ts", "Makefile", "Dockerfile", "go.mod", "x.env.local", "notes.md", "LICENSE"]:
        found = detect_language(path)
        assert found is None or found in KNOWN_LANGUAGES, path
    assert "text" in KNOWN_LANGUAGES
    assert check_languages(["TEXT", "markdown"]) == {"text", "markdown"}


def test_an_unknown_kind_is_refused_with_the_valid_kinds_listed() -> None:
    with pytest.raises(QueryError, match=r"unknown kind fucntion; valid kinds: .*function"):
        check_kinds(["fucntion"])
    assert check_kinds(["Function", "CLASS"]) == {"function", "class"}
    assert check_kinds([]) is None


def test_every_kind_the_chunker_emits_on_the_language_samples_is_a_valid_kind() -> None:
    emitted: set[str] = set()
    for sample_dir in sorted(p for p in FIXTURES.joinpath("languages").iterdir() if p.is_dir()):
        expected = json.loads((sample_dir / "expected.json").read_text())
        for sample in sample_dir.iterdir():
            if sample.name == "expected.json":
                continue
            language = detect_language(sample.name) or "text"
            emitted |= {c.kind for c in chunk_text(sample.name, sample.read_text(), language=language)}
        emitted |= set(expected.get("kinds", []))
    emitted |= {c.kind for c in chunk_text("a.yaml", "a: 1\n" * 5, language="yaml")}
    assert emitted <= CHUNK_KINDS, emitted - CHUNK_KINDS
    assert {"function", "class", "module", "section", "window"} <= emitted


@pytest.mark.parametrize("glob", ["[", "**/[", "src/[", "[]", "!", "", "#notes", "!["])
def test_a_glob_pathspec_would_silently_ignore_is_refused(glob: str) -> None:
    with pytest.raises(QueryError, match="invalid path glob"):
        compile_globs((glob,))


def test_a_glob_pathspec_cannot_compile_is_refused() -> None:
    with pytest.raises(QueryError, match="invalid path glob"):
        filter_files(FILES, ["[z-a]"], [])


def test_valid_globs_include_and_exclude() -> None:
    assert filter_files(FILES, ["src/**", "!*.go"], []) == [1]
    assert filter_files(FILES, ["\\[literal\\]", "docs/"], []) == [3]
    assert filter_files(FILES, [], []) is None


def test_the_chunk_filter_carries_files_and_lower_cased_kinds() -> None:
    where = chunk_filter(FILES, ["src/**"], ["python"], ["Function"])
    assert where.file_ids == frozenset({1}) and where.kinds == frozenset({"function"})
    assert chunk_filter(FILES, [], [], []).is_empty


def test_search_refuses_a_misspelt_filter_instead_of_answering_nothing(
    tmp_path: Path, make_engine: Callable[..., Engine]
) -> None:
    root = tmp_path / "repo"
    write(root, "a.py", "def widget():\n    return 1\n")
    engine = make_engine(root)
    engine.index()
    for options in ({"languages": ("pyton",)}, {"kinds": ("functon",)}, {"paths": ("src/[",)}):
        with pytest.raises(QueryError):
            engine.search("widget", **options)


def test_a_kinds_filtered_search_returns_top_k_hits_when_enough_exist(
    tmp_path: Path, make_engine: Callable[..., Engine]
) -> None:
    # Thirty functions outrank ten classes for "widget"; with the kinds filter applied after
    # fusion, the lexical candidates held only functions and the class search came back short.
    root = tmp_path / "repo"
    for i in range(30):
        write(root, f"f{i}.py", f"def widget_{i}():\n    widget = widget + widget\n    return widget\n")
    for i in range(10):
        write(root, f"c{i}.py", f"class Holder{i}:\n    note = 'widget'\n")
    engine = make_engine(root, candidates=10, vector_weight=0.0)
    engine.index()
    result = engine.search("widget", top_k=5, kinds=("class",))
    assert len(result.hits) == 5
    assert {h.kind for h in result.hits} == {"class"}
