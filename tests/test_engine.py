"""End-to-end engine behaviour on real files, a real SQLite index and the fake embedder."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from conexus.engine import Engine
from conexus.errors import IndexIncompatibleError, IndexNotFoundError, PathError, QueryError
from conexus.layout import find_indexed_root, index_dir_for
from conexus.search.hybrid import SearchRequest, WorkContext
from tests.conftest import write

MakeEngine = Callable[..., Engine]


def _lines(root: Path, rel: str, start: int, end: int) -> str:
    return "\n".join((root / rel).read_text().split("\n")[start - 1 : end])


def test_index_then_search_cites_exact_line_ranges(golden_repo: Path, make_engine: MakeEngine) -> None:
    engine = make_engine(golden_repo)
    report = engine.index()
    assert report.files_changed >= 8
    result = engine.search("parse_header_links", top_k=5, snippet_lines=10_000)
    assert result.hits, "expected hits"
    top = result.hits[0]
    assert top.path == "httpkit/utils.py"
    assert top.symbol == "parse_header_links"
    assert top.snippet == _lines(golden_repo, top.path, top.start_line, top.end_line)
    assert top.freshness.state == "fresh"
    for hit in result.hits:
        assert hit.snippet == _lines(golden_repo, hit.path, hit.start_line, hit.end_line)


def test_second_run_on_unchanged_tree_reads_and_embeds_nothing(
    golden_repo: Path, make_engine: MakeEngine
) -> None:
    engine = make_engine(golden_repo)
    first = engine.index()
    second = engine.index()
    assert second.files_changed == 0
    assert second.embedded == 0
    assert second.files_unchanged == first.files_seen


def test_edits_deletes_and_renames_are_reflected(golden_repo: Path, make_engine: MakeEngine) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    write(golden_repo, "httpkit/retry.py", "def compute_zebra_backoff():\n    return 42\n")
    (golden_repo / "httpkit/cookies.py").unlink()
    (golden_repo / "web/app.ts").rename(golden_repo / "web/main.ts")
    report = engine.index()
    assert report.files_changed == 2  # retry.py and main.ts
    assert report.files_deleted == 2  # cookies.py and app.ts
    hits = engine.search("compute_zebra_backoff").hits
    assert hits[0].path == "httpkit/retry.py"
    old = engine.search("backoff_factor status_forcelist", top_k=50, snippet_lines=1000).hits
    assert not [h for h in old if "status_forcelist" in h.snippet]
    paths = {h.path for h in engine.search("CookieJar extract_cookies", top_k=50).hits}
    assert "httpkit/cookies.py" not in paths
    assert "web/main.ts" in {h.path for h in engine.search("debounce fetchJson", top_k=20).hits}
    assert engine.status()["files"] == report.files_seen


def test_touching_a_file_without_changing_it_does_not_reembed(
    golden_repo: Path, make_engine: MakeEngine
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    p = golden_repo / "httpkit/auth.py"
    p.write_text(p.read_text())
    report = engine.index()
    assert report.embedded == 0
    assert report.files_changed == 0


def test_hits_say_when_the_file_changed_or_vanished_since_indexing(
    golden_repo: Path, make_engine: MakeEngine
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    write(golden_repo, "httpkit/utils.py", (golden_repo / "httpkit/utils.py").read_text() + "\n# edited\n")
    (golden_repo / "httpkit/retry.py").unlink()
    states = {
        h.path: h.freshness.state for h in engine.search("parse_header_links backoff_time", top_k=30).hits
    }
    assert states["httpkit/utils.py"] == "modified"
    assert states["httpkit/retry.py"] == "deleted"
    stale = engine.status()["stale"]
    assert stale["modified"] == 1 and stale["deleted"] == 1


def test_another_checkout_of_the_same_code_embeds_nothing_new(
    golden_repo: Path, tmp_path: Path, make_engine: MakeEngine
) -> None:
    first = make_engine(golden_repo).index()
    clone = tmp_path / "worktree"
    shutil.copytree(golden_repo, clone)
    second = make_engine(clone).index()
    assert first.embedded > 0
    assert second.embedded == 0
    assert second.cache_hits == first.embedded + first.cache_hits


def test_search_refuses_an_index_built_by_another_embedder(
    golden_repo: Path, make_engine: MakeEngine
) -> None:
    make_engine(golden_repo).index()
    other = make_engine(golden_repo, embedder="fake", embed_max_tokens=64)
    # The fake embedder's id does not depend on max tokens, so simulate a different model id.
    store = other._open_store(create=False)
    store.set_meta({"embedder_id": "some-other-model"})
    with pytest.raises(IndexIncompatibleError, match="some-other-model"):
        other.search("redirects")
    report = other.index()
    assert report.files_changed > 0  # rebuilt from scratch
    assert other.search("redirects").hits


def test_changing_indexing_options_rebuilds_the_index(golden_repo: Path, make_engine: MakeEngine) -> None:
    make_engine(golden_repo).index()
    engine = make_engine(golden_repo, max_chunk_lines=40)
    report = engine.index()
    assert report.files_unchanged == 0
    assert engine.status()["compatible"] is True


def test_a_corrupt_index_is_refused_then_rebuilt(golden_repo: Path, make_engine: MakeEngine) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    db = engine.index_dir / "index.sqlite3"
    engine.close()
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    broken = make_engine(golden_repo)
    with pytest.raises(IndexIncompatibleError):
        broken.search("redirects")
    broken.close()
    fixed = make_engine(golden_repo)
    fixed.index()
    assert fixed.search("resolve_redirects").hits[0].path == "httpkit/sessions.py"


def test_filters_restrict_paths_languages_and_kinds(golden_repo: Path, make_engine: MakeEngine) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    hits = engine.search("request headers", top_k=20, paths=("httpkit/auth.py",)).hits
    assert hits and {h.path for h in hits} == {"httpkit/auth.py"}
    hits = engine.search("request headers", top_k=20, paths=("!httpkit/**",)).hits
    assert all(not h.path.startswith("httpkit/") for h in hits)
    hits = engine.search("fetch timeout", top_k=20, languages=("typescript",)).hits
    assert hits and {h.language for h in hits} == {"typescript"}
    hits = engine.search("auth", top_k=20, kinds=("class",)).hits
    assert hits and {h.kind for h in hits} == {"class"}


def test_active_file_boosts_its_hits(golden_repo: Path, make_engine: MakeEngine) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    plain = engine.search("headers", top_k=10).hits
    boosted = engine.search(
        "headers", top_k=10, work_context=WorkContext(active_file="httpkit/cookies.py")
    ).hits
    assert boosted[0].path == "httpkit/cookies.py"
    assert plain[0].path != "httpkit/cookies.py" or boosted[0].score > plain[0].score


def test_pagination_returns_disjoint_pages(golden_repo: Path, make_engine: MakeEngine) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    first = engine.search("request", top_k=5).hits
    second = engine.search("request", top_k=5, offset=5).hits
    assert not {h.chunk_id for h in first} & {h.chunk_id for h in second}


def test_punctuation_heavy_ten_kilobyte_query_returns_results(
    golden_repo: Path, make_engine: MakeEngine
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    noise = '"); DROP TABLE chunks; -- (*) ^^ NEAR/3 "unbalanced AND OR NOT {col}: <redirects> ' * 200
    result = engine.search(noise[:10_240])
    assert result.hits


@pytest.mark.parametrize("query", ["", "   ", "\x00\x01", "🙂🙂", '"', "*", "NEAR(", "a" * 20_000])
def test_degenerate_queries_never_fail(query: str, golden_repo: Path, make_engine: MakeEngine) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    engine.search(query)


def test_bad_options_raise_query_errors(golden_repo: Path, make_engine: MakeEngine) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    with pytest.raises(QueryError):
        engine.search(SearchRequest(query="x", top_k=0))
    with pytest.raises(QueryError):
        engine.search(SearchRequest(query="x", top_k=101))


def test_search_without_an_index_says_how_to_make_one(golden_repo: Path, make_engine: MakeEngine) -> None:
    with pytest.raises(IndexNotFoundError, match="conexus index"):
        make_engine(golden_repo).search("x")


def test_missing_root_is_a_path_error(tmp_path: Path, make_engine: MakeEngine) -> None:
    with pytest.raises(PathError):
        make_engine(tmp_path / "nope")


def test_index_lives_under_the_data_home_and_is_found_from_subfolders(
    golden_repo: Path, home: Path, make_engine: MakeEngine
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    assert engine.index_dir == index_dir_for(golden_repo.resolve(), home)
    assert not list(golden_repo.rglob("*.sqlite3"))
    assert find_indexed_root(golden_repo / "httpkit", home) == golden_repo.resolve()


def test_status_counts_skips_by_reason(golden_repo: Path, make_engine: MakeEngine) -> None:
    (golden_repo / "build").mkdir()
    write(golden_repo, "build/generated.py", "def built(): pass\n")
    write(golden_repo, "debug.log", "noise\n")
    (golden_repo / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (golden_repo / "blob.dat").write_bytes(b"\x00\x01\x02" * 100)
    write(golden_repo, "huge.txt", "x" * 2_000_000)
    engine = make_engine(golden_repo)
    engine.index()
    st = engine.status()
    assert st["skipped"].get("ignored", 0) >= 2
    assert st["skipped"].get("binary", 0) >= 1
    assert st["skipped"].get("too_large", 0) == 1
    indexed = {h.path for h in engine.search("built noise", top_k=50).hits}
    assert "build/generated.py" not in indexed and "debug.log" not in indexed


def test_invalid_utf8_files_are_indexed_with_replacement(golden_repo: Path, make_engine: MakeEngine) -> None:
    (golden_repo / "latin.py").write_bytes(b"def caf\xe9_latin_marker():\n    return 'na\xefve'\n")
    engine = make_engine(golden_repo)
    report = engine.index()
    assert report.invalid_utf8 == 1
    assert engine.search("latin_marker").hits[0].path == "latin.py"


def test_clear_removes_the_index(golden_repo: Path, make_engine: MakeEngine) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    engine.clear()
    assert not engine.has_index()
    with pytest.raises(IndexNotFoundError):
        engine.search("x")


def test_a_repeated_search_comes_from_the_result_cache_with_freshness_checked_again(
    golden_repo: Path, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    first = engine.search("parse_header_links", top_k=5)
    again = engine.search("parse_header_links", top_k=5)
    assert [h.chunk_id for h in again.hits] == [h.chunk_id for h in first.hits]
    top = first.hits[0]
    assert top.freshness.state == "fresh"
    # Edited on disk, not re-indexed: the cached answer must not claim the old lines are current.
    target = golden_repo / top.path
    target.write_text("# edited\n" + target.read_text())
    stale = engine.search("parse_header_links", top_k=5)
    assert [h.chunk_id for h in stale.hits] == [h.chunk_id for h in first.hits]
    assert stale.hits[0].freshness.state == "modified"
    # Re-indexed: a new index generation, so a new search, whose hit cites the new lines.
    engine.index()
    fresh = engine.search("parse_header_links", top_k=5)
    assert fresh.hits[0].freshness.state == "fresh"
    assert fresh.hits[0].start_line == top.start_line + 1


def test_the_result_cache_can_be_turned_off_and_a_clear_forgets_it(
    golden_repo: Path, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(golden_repo, query_cache=0)
    engine.index()
    a = engine.search("retry backoff")
    b = engine.search("retry backoff")
    assert a is not b and [h.chunk_id for h in a.hits] == [h.chunk_id for h in b.hits]
    cached = make_engine(golden_repo)
    cached.index()
    cached.search("retry backoff")
    cached.clear()
    (golden_repo / "httpkit" / "retry.py").unlink()
    cached.index()
    assert all(h.path != "httpkit/retry.py" for h in cached.search("retry backoff").hits)
