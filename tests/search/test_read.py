"""read_range: confined reads of current disk text, line numbers, bounds, and freshness against the index."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from conexus.engine import Engine
from conexus.errors import PathError, QueryError
from conexus.search.read import read_range
from conexus.store.base import Store
from tests.conftest import write

MakeEngine = Callable[..., Engine]

SOURCE = "".join(f"line {n}\n" for n in range(1, 31))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root, "pkg/mod.py", "def greet(name):\n    return f'hello {name}'\n\n\ndef part():\n    return 2\n")
    write(root, "notes.txt", SOURCE)
    return root


@pytest.fixture
def store(repo: Path, make_engine: MakeEngine) -> Store:
    engine = make_engine(repo)
    engine.index()
    return engine._open_store(create=False)


def test_whole_file_is_returned_with_line_numbers_and_fresh_state(repo: Path, store: Store) -> None:
    result = read_range(repo, store, "pkg/mod.py")
    assert result.lines[0] == (1, "def greet(name):")
    assert result.lines[-1] == (6, "    return 2")
    assert (result.start_line, result.end_line, result.total_lines) == (1, 6, 6)
    assert result.freshness == "fresh"
    assert result.language == "python"
    assert result.source == "disk"
    assert not result.truncated and result.next_start is None


def test_a_range_returns_exactly_those_lines(repo: Path, store: Store) -> None:
    result = read_range(repo, store, "notes.txt", 10, 12)
    assert result.lines == ((10, "line 10"), (11, "line 11"), (12, "line 12"))
    assert result.citation == "notes.txt:10-12"
    assert result.text == "line 10\nline 11\nline 12"


def test_an_end_past_the_file_is_clamped(repo: Path, store: Store) -> None:
    result = read_range(repo, store, "notes.txt", 28, 500)
    assert [n for n, _ in result.lines] == [28, 29, 30]
    assert result.end_line == 30


def test_long_ranges_are_cut_at_max_lines_with_a_continuation_point(repo: Path, store: Store) -> None:
    result = read_range(repo, store, "notes.txt", 5, None, max_lines=10)
    assert [n for n, _ in result.lines] == list(range(5, 15))
    assert result.truncated
    assert result.next_start == 15


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (31, None, r"start line 31 is past the end of notes.txt, which has 30 lines"),
        (0, 3, r"start line must be >= 1"),
        (10, 9, r"end line 9 is before start line 10"),
    ],
)
def test_out_of_bounds_ranges_raise_clear_errors(
    repo: Path, store: Store, start: int, end: int | None, message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        read_range(repo, store, "notes.txt", start, end)


def test_max_lines_must_be_positive(repo: Path, store: Store) -> None:
    with pytest.raises(QueryError, match="max_lines"):
        read_range(repo, store, "notes.txt", max_lines=0)


def test_an_edited_file_is_read_from_disk_and_reported_modified(repo: Path, store: Store) -> None:
    write(repo, "pkg/mod.py", "# new first line\ndef greet(name):\n    return name\n")
    result = read_range(repo, store, "pkg/mod.py")
    assert result.freshness == "modified"
    assert result.lines[0] == (1, "# new first line")


def test_a_touched_but_identical_file_is_still_fresh(repo: Path, store: Store) -> None:
    path = repo / "notes.txt"
    path.write_text(SOURCE)  # same bytes, new mtime
    assert read_range(repo, store, "notes.txt", 1, 1).freshness == "fresh"


def test_a_file_created_after_indexing_is_unindexed(repo: Path, store: Store) -> None:
    write(repo, "later.py", "x = 1\n")
    result = read_range(repo, store, "later.py")
    assert result.freshness == "unindexed"
    assert result.indexed_hash is None
    assert result.lines == ((1, "x = 1"),)


def test_without_a_store_every_file_is_unindexed(repo: Path) -> None:
    assert read_range(repo, None, "notes.txt", 1, 1).freshness == "unindexed"


def test_a_deleted_indexed_file_is_served_from_the_index(repo: Path, store: Store) -> None:
    (repo / "pkg" / "mod.py").unlink()
    result = read_range(repo, store, "pkg/mod.py", 1, 2)
    assert result.freshness == "deleted"
    assert result.source == "index"
    assert result.lines == ((1, "def greet(name):"), (2, "    return f'hello {name}'"))


def test_a_missing_file_that_was_never_indexed_is_a_path_error(repo: Path, store: Store) -> None:
    with pytest.raises(PathError, match=r"no such file: nope\.py"):
        read_range(repo, store, "nope.py")


def test_a_directory_is_a_path_error(repo: Path, store: Store) -> None:
    with pytest.raises(PathError, match="is a directory"):
        read_range(repo, store, "pkg")


@pytest.mark.parametrize("path", ["../secret.txt", "/etc/passwd", "pkg/\x00mod.py", ""])
def test_paths_leaving_the_root_or_hostile_are_refused(repo: Path, store: Store, path: str) -> None:
    with pytest.raises(PathError):
        read_range(repo, store, path)


def test_a_binary_file_is_refused_with_a_clear_message(repo: Path, store: Store) -> None:
    (repo / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(QueryError, match=r"image\.png is a binary file"):
        read_range(repo, store, "image.png")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX fifos")
def test_a_fifo_is_refused_without_blocking(repo: Path, store: Store) -> None:
    os.mkfifo(repo / "pipe")
    with pytest.raises(PathError, match="not a regular file"):
        read_range(repo, store, "pipe")


def test_invalid_utf8_is_replaced_and_flagged(repo: Path, store: Store) -> None:
    (repo / "latin.txt").write_bytes(b"caf\xe9\nok\n")
    result = read_range(repo, store, "latin.txt")
    assert result.invalid_utf8
    assert result.lines[0] == (1, "caf\ufffd")


def test_crlf_and_bom_are_read_like_the_indexer_reads_them(repo: Path, store: Store) -> None:
    (repo / "win.txt").write_bytes(b"\xef\xbb\xbfone\r\ntwo\r\n")
    result = read_range(repo, store, "win.txt")
    assert result.lines == ((1, "one"), (2, "two"))


def test_an_empty_file_reads_as_no_lines(repo: Path, store: Store) -> None:
    (repo / "empty.txt").write_text("")
    result = read_range(repo, store, "empty.txt")
    assert result.lines == ()
    assert result.total_lines == 0


def test_result_is_json_ready(repo: Path, store: Store) -> None:
    d = read_range(repo, store, "notes.txt", 2, 3).to_dict()
    assert d["lines"] == [{"line": 2, "text": "line 2"}, {"line": 3, "text": "line 3"}]
    assert d["citation"] == "notes.txt:2-3"
    assert d["freshness"] == "fresh"
