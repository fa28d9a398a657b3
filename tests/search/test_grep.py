"""grep over a given file list: line matches, context, limits, timeouts, skips and errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conexus.errors import QueryError
from conexus.search.grep import grep


def _write(root: Path, rel: str, text: str | bytes) -> str:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return rel


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    _write(
        r, "a.py", "import os\n\ndef load_config(path):\n    return open(path).read()\n\nload_config('x')\n"
    )
    _write(r, "b/c.ts", "export function loadConfig() {}\n// load_config in a comment\n")
    _write(r, "notes.md", "Nothing to see.\n")
    return r


FILES = ["a.py", "b/c.ts", "notes.md"]


def test_regex_matches_report_path_line_column_and_text(root: Path) -> None:
    result = grep(root, r"load_config\(", files=FILES)
    assert [(m.path, m.line, m.column) for m in result.matches] == [("a.py", 3, 5), ("a.py", 6, 1)]
    assert result.matches[0].text == "def load_config(path):"
    assert result.matches[0].citation == "a.py:3-3"
    assert result.files_searched == 3
    assert result.files_matched == 1
    assert not result.truncated and not result.timed_out


def test_a_line_with_several_matches_is_reported_once(root: Path) -> None:
    _write(root, "d.py", "x = x + x\ny = 1\n")
    result = grep(root, "x", files=["d.py"])
    assert [m.line for m in result.matches] == [1]


def test_literal_mode_escapes_regex_syntax(root: Path) -> None:
    _write(root, "e.py", "a = b(1)\nab1 = 2\n")
    assert [m.line for m in grep(root, "b(1)", files=["e.py"], literal=True).matches] == [1]


def test_case_insensitive_search_finds_other_casings(root: Path) -> None:
    result = grep(root, "LOADCONFIG", files=FILES, case_sensitive=False)
    assert [(m.path, m.line) for m in result.matches] == [("b/c.ts", 1)]
    assert grep(root, "LOADCONFIG", files=FILES).matches == ()


def test_context_lines_come_before_and_after_within_the_file(root: Path) -> None:
    result = grep(root, "^def ", files=["a.py"], context_lines=2)
    (m,) = result.matches
    assert m.before == ("import os", "")
    assert m.after == ("    return open(path).read()", "")


def test_include_and_exclude_globs_filter_the_file_list(root: Path) -> None:
    only_ts = grep(root, "load", files=FILES, case_sensitive=False, include=["*.ts"])
    assert {m.path for m in only_ts.matches} == {"b/c.ts"}
    no_ts = grep(root, "load", files=FILES, case_sensitive=False, exclude=["b/"])
    assert {m.path for m in no_ts.matches} == {"a.py"}


def test_max_results_truncates_and_says_so(root: Path) -> None:
    _write(root, "many.txt", "hit\n" * 50)
    result = grep(root, "hit", files=["many.txt"], max_results=10)
    assert len(result.matches) == 10
    assert result.truncated


def test_reaching_max_results_exactly_is_not_truncation(root: Path) -> None:
    _write(root, "three.txt", "hit\nhit\nhit\n")
    result = grep(root, "hit", files=["three.txt", "notes.md"], max_results=3)
    assert len(result.matches) == 3
    assert not result.truncated


def test_catastrophic_pattern_times_out_instead_of_hanging(root: Path) -> None:
    _write(root, "evil.txt", "a" * 5000 + "!\n")
    t0 = time.monotonic()
    result = grep(root, r"(a|aa)+$", files=["evil.txt"], timeout_s=0.3)
    assert time.monotonic() - t0 < 5
    assert result.timed_out
    assert result.matches == ()


def test_invalid_regex_raises_query_error_with_the_regex_message(root: Path) -> None:
    with pytest.raises(QueryError, match=r"invalid regular expression.*missing \)"):
        grep(root, "foo(", files=FILES)


def test_empty_pattern_is_refused(root: Path) -> None:
    with pytest.raises(QueryError, match="empty pattern"):
        grep(root, "", files=FILES)


@pytest.mark.parametrize(
    "options",
    [{"context_lines": -1}, {"context_lines": 51}, {"max_results": 0}, {"timeout_s": 0}, {"timeout_s": 61}],
)
def test_out_of_range_options_are_refused(root: Path, options: dict[str, float]) -> None:
    with pytest.raises(QueryError):
        grep(root, "x", files=FILES, **options)  # type: ignore[arg-type]


def test_binary_oversized_missing_and_escaping_files_are_skipped_and_counted(root: Path) -> None:
    _write(root, "blob.bin", b"load_config\x00\x01\x02")
    _write(root, "big.txt", "load_config\n" * 100)
    files = [*FILES, "blob.bin", "big.txt", "gone.py", "../outside.py"]
    result = grep(root, "load_config", files=files, max_file_bytes=500)
    assert {m.path for m in result.matches} == {"a.py", "b/c.ts"}
    assert result.files_skipped == 4


def test_a_symlink_pointing_outside_the_root_is_skipped(root: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("load_config = 'secret'\n")
    (root / "leak.txt").symlink_to(tmp_path / "secret.txt")
    result = grep(root, "load_config", files=[*FILES, "leak.txt"])
    assert "leak.txt" not in {m.path for m in result.matches}
    assert result.files_skipped == 1


def test_crlf_files_are_matched_per_line_without_carriage_returns(root: Path) -> None:
    _write(root, "win.txt", b"one\r\ntwo$\r\nthree\r\n")
    result = grep(root, r"two\$$", files=["win.txt"])
    assert [(m.line, m.text) for m in result.matches] == [(2, "two$")]


def test_pattern_matching_empty_string_does_not_report_a_line_after_the_final_newline(root: Path) -> None:
    _write(root, "two.txt", "x\ny\n")
    assert [m.line for m in grep(root, "^", files=["two.txt"]).matches] == [1, 2]


def test_result_is_json_ready(root: Path) -> None:
    d = grep(root, "load_config", files=FILES, context_lines=1).to_dict()
    assert d["matches"][0]["citation"] == "a.py:3-3"  # type: ignore[index]
    assert set(d) >= {"matches", "truncated", "timed_out", "files_searched"}
