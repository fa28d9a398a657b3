"""Freshness: one rule for search, status, read and explain; relocation of hits in modified files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conexus.engine import Engine
from conexus.errors import PathError
from conexus.models import content_hash
from conexus.search.freshness import CHANGED_NOTE, FreshnessChecker, freshness_state, relocate
from conexus.sources.base import Stamp
from tests.conftest import write

MakeEngine = Callable[..., Engine]


# -- the rule --------------------------------------------------------------------------------------


def _never() -> str | None:
    raise AssertionError("the text must not be read when the stamp matches")


def test_a_matching_stamp_is_fresh_without_reading_and_a_missing_document_is_deleted() -> None:
    assert freshness_state("h", 3, 7, Stamp(3, 7), _never) == "fresh"
    assert freshness_state("h", 3, 7, None, _never) == "deleted"


def test_a_different_stamp_reads_the_text_and_compares_the_hash() -> None:
    assert freshness_state(content_hash("abc"), 3, 7, Stamp(3, 8), lambda: "abc") == "fresh"
    assert freshness_state(content_hash("abc"), 3, 7, Stamp(4, 8), lambda: "abcd") == "modified"
    assert freshness_state(content_hash("abc"), 3, 7, Stamp(3, 8), lambda: None) == "modified"


def test_the_checker_reads_each_file_once(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "x = 1\n")
    checker = FreshnessChecker.for_root(tmp_path)
    first = checker.check("a.py", content_hash("x = 1\n"), 0, 0)
    (tmp_path / "a.py").write_text("changed\n")
    assert checker.check("a.py", content_hash("x = 1\n"), 0, 0) is first
    assert first.state == "fresh"


# -- relocation (pure) ------------------------------------------------------------------------------

_line = st.text(alphabet="abcxyz(): =", max_size=12)


@given(
    before=st.lists(_line, max_size=8),
    chunk=st.lists(_line, min_size=1, max_size=6).filter(lambda lines: lines != [""]),  # chunks hold text
    after=st.lists(_line, max_size=8),
    inserted=st.lists(_line, max_size=8),
)
def test_relocated_lines_hold_exactly_the_chunk_text(
    before: list[str], chunk: list[str], after: list[str], inserted: list[str]
) -> None:
    start = len(before) + 1
    current = "\n".join(inserted + before + chunk + after)
    found = relocate("\n".join(chunk), start, current)
    assert found is not None  # the text is there, so it is found
    lo, hi = found
    assert hi - lo + 1 == len(chunk)
    assert current.split("\n")[lo - 1 : hi] == chunk


def test_relocation_prefers_the_occurrence_nearest_the_indexed_lines() -> None:
    current = "\n".join(["dup", "x", "x", "x", "dup", "x", "dup"])
    assert relocate("dup", 5, current) == (5, 5)
    assert relocate("dup", 2, current) == (1, 1)
    assert relocate("dup", 7, current) == (7, 7)


def test_relocation_matches_whole_lines_only_and_gives_up_on_changed_text() -> None:
    assert relocate("def f():", 1, "    def f():\n        pass") is None
    assert relocate("a\nb", 1, "a\nc\nb") is None
    assert relocate("", 1, "anything") is None


# -- the bugs: status agrees with search; a FIFO never hangs; a moved hit cites its new lines --------------


def test_status_calls_a_touched_but_unchanged_file_fresh_as_search_does(
    golden_repo: Path, make_engine: MakeEngine
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    path = golden_repo / "httpkit/utils.py"
    st_ = path.stat()
    os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns + 5_000_000_000))
    assert engine.freshness("httpkit/utils.py") == "fresh"
    stale = engine.status()["stale"]
    assert stale == {"modified": 0, "deleted": 0, "examples": []}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX fifos")
@pytest.mark.timeout(60)
def test_a_fifo_in_place_of_an_indexed_file_hangs_neither_search_nor_status_nor_read(
    golden_repo: Path, make_engine: MakeEngine
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    (golden_repo / "httpkit/utils.py").unlink()
    os.mkfifo(golden_repo / "httpkit/utils.py")  # no writer: a blocking open() would wait for ever
    hits = engine.search("parse_header_links", top_k=5).hits
    assert hits[0].path == "httpkit/utils.py" and hits[0].freshness.state == "deleted"
    assert engine.status()["stale"]["deleted"] == 1
    assert engine.freshness("httpkit/utils.py") == "deleted"
    with pytest.raises(PathError, match="not a regular file"):
        engine.read("httpkit/utils.py")
    assert engine.explain("parse_header_links").target == "parse_header_links"


def _top(engine: Engine, query: str, symbol: str) -> tuple[int, int, dict[str, object]]:
    hit = next(h for h in engine.search(query, top_k=10, snippet_lines=10_000).hits if h.symbol == symbol)
    data = hit.to_dict()
    assert data["citation"] == f"{hit.path}:{hit.start_line}-{hit.end_line}"
    return hit.start_line, hit.end_line, data


def test_a_hit_in_a_file_edited_above_it_cites_the_lines_where_its_text_is_now(
    golden_repo: Path, make_engine: MakeEngine
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    start, end, before = _top(engine, "parse_header_links", "parse_header_links")
    path = golden_repo / "httpkit/utils.py"
    path.write_text("# one\n# two\n# three\n" + path.read_text())
    new_start, new_end, after = _top(engine, "parse_header_links", "parse_header_links")
    assert (new_start, new_end) == (start + 3, end + 3)
    assert after["freshness"] == {
        "indexed_hash": before["freshness"]["indexed_hash"],  # type: ignore[index]
        "state": "modified",
        "relocated": True,
        "moved_from": {"start_line": start, "end_line": end},
    }
    current = path.read_text().split("\n")[new_start - 1 : new_end]
    assert after["snippet"] == "\n".join(current)


def test_a_hit_whose_own_lines_changed_keeps_its_lines_and_says_they_changed(
    golden_repo: Path, make_engine: MakeEngine
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    start, end, _ = _top(engine, "parse_header_links", "parse_header_links")
    path = golden_repo / "httpkit/utils.py"
    path.write_text(path.read_text().replace("links = []", "links: list[dict[str, str]] = []"))
    new_start, new_end, after = _top(engine, "parse_header_links", "parse_header_links")
    assert (new_start, new_end) == (start, end)
    freshness = after["freshness"]
    assert isinstance(freshness, dict)
    assert freshness["state"] == "modified" and freshness["relocated"] is False
    assert freshness["note"] == CHANGED_NOTE


def test_a_cached_result_is_relocated_when_its_file_changes(
    golden_repo: Path, make_engine: MakeEngine
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    start, _, _ = _top(engine, "parse_header_links", "parse_header_links")
    _top(engine, "parse_header_links", "parse_header_links")  # cached now
    path = golden_repo / "httpkit/utils.py"
    path.write_text("# one\n" + path.read_text())
    assert _top(engine, "parse_header_links", "parse_header_links")[0] == start + 1
    path.write_text("# two\n" + path.read_text())
    assert _top(engine, "parse_header_links", "parse_header_links")[0] == start + 2
