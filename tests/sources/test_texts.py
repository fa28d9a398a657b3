"""FileTexts: a file is read once per version; edits, replacements and escapes are seen at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conexus.models import content_hash
from conexus.search.grep import grep, required_literal
from conexus.sources.filesystem.texts import FileTexts

LIMIT = 1_000_000


def test_an_unchanged_file_is_served_from_memory_and_an_edit_is_read_again(tmp_path: Path) -> None:
    f = tmp_path / "a.py"
    f.write_text("def one():\n    return 1\n", encoding="utf-8")
    texts = FileTexts(tmp_path, LIMIT)
    first = texts.get("a.py")
    assert first.text == "def one():\n    return 1\n" and first.hash == content_hash(first.text)
    assert texts.get("a.py") is first  # the same object: nothing was read again
    f.write_text("def two():\n    return 22\n", encoding="utf-8")
    again = texts.get("a.py")
    assert again.text == "def two():\n    return 22\n" and again.hash == content_hash(again.text)


def test_a_file_replaced_by_another_of_the_same_size_and_time_is_read_again(tmp_path: Path) -> None:
    f = tmp_path / "a.py"
    f.write_text("AAAA\n", encoding="utf-8")
    texts = FileTexts(tmp_path, LIMIT)
    assert texts.get("a.py").text == "AAAA\n"
    st = f.stat()
    replacement = tmp_path / "b.tmp"
    replacement.write_text("BBBB\n", encoding="utf-8")
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(replacement, f)  # a new inode with the old size and mtime (an editor's atomic save)
    assert texts.get("a.py").text == "BBBB\n"


def test_a_folder_swapped_for_a_symlink_out_of_the_root_is_refused_after_being_cached(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "pkg").mkdir(parents=True)
    outside.mkdir()
    (root / "pkg" / "m.py").write_text("inside\n", encoding="utf-8")
    (outside / "m.py").write_text("SECRET outside\n", encoding="utf-8")
    texts = FileTexts(root, LIMIT)
    assert texts.get("pkg/m.py").text == "inside\n"
    (root / "pkg" / "m.py").unlink()
    (root / "pkg").rmdir()
    (root / "pkg").symlink_to(outside, target_is_directory=True)
    assert texts.get("pkg/m.py").text is None


def test_binary_oversized_and_missing_files_are_skips(tmp_path: Path) -> None:
    (tmp_path / "b.bin").write_bytes(b"\x00\x01\x02" * 10)
    (tmp_path / "big.py").write_text("x = 1\n" * 100, encoding="utf-8")
    texts = FileTexts(tmp_path, max_file_bytes=100)
    assert texts.get("b.bin").text is None
    assert texts.get("big.py").text is None
    assert texts.get("gone.py").text is None
    assert texts.get("../etc/passwd").text is None


def test_what_is_kept_stays_under_its_bound_least_recently_used_first_out(tmp_path: Path) -> None:
    for k in range(10):
        (tmp_path / f"f{k}.py").write_text("y" * 99 + "\n", encoding="utf-8")
    texts = FileTexts(tmp_path, LIMIT, max_chars=350)
    for k in range(10):
        assert texts.get(f"f{k}.py").text is not None
        assert texts.chars <= 350
    assert texts.chars == 300  # the last three files


@pytest.mark.parametrize(
    ("pattern", "literal", "case_sensitive", "expected"),
    [
        (r"\bparse_header\b", False, True, "parse_header"),
        ("parse_header", False, True, "parse_header"),
        ("a.b(", True, True, "a.b("),
        (r"\bparse_header\b", False, False, None),
        (r"parse_\w+", False, True, None),
        ("foo|bar", False, True, None),
        (r"\bé\b", False, True, None),
    ],
)
def test_a_required_literal_is_found_only_where_every_match_contains_it(
    pattern: str, literal: bool, case_sensitive: bool, expected: str | None
) -> None:
    assert required_literal(pattern, literal=literal, case_sensitive=case_sensitive) == expected


def test_grep_with_a_shared_cache_sees_an_edit_and_finds_the_same_lines_as_without(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "def parse_header(x):\n    return parse_header_links(x)\n", encoding="utf-8"
    )
    (tmp_path / "b.py").write_text("import os\n", encoding="utf-8")
    texts = FileTexts(tmp_path, LIMIT)
    files = ["a.py", "b.py"]
    cold = grep(tmp_path, r"\bparse_header\b", files=files)
    warm = grep(tmp_path, r"\bparse_header\b", files=files, texts=texts)
    assert (
        [(m.path, m.line) for m in warm.matches] == [(m.path, m.line) for m in cold.matches] == [("a.py", 1)]
    )
    (tmp_path / "b.py").write_text("from a import parse_header\n", encoding="utf-8")
    after = grep(tmp_path, r"\bparse_header\b", files=files, texts=texts)
    assert [(m.path, m.line) for m in after.matches] == [("a.py", 1), ("b.py", 1)]
    assert after.files_searched == 2
