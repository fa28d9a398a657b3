"""Worktrees of one git repository share one SQLite database (issue #14, worktrees), end to end.

Real git worktrees in ``tmp_path``, real engines with the fake embedder, the real
walker and chunker: a second worktree's index run lists the content the first one
indexed and chunks, embeds and writes only the files that differ; each root
searches its own tree; deleting one root's index leaves the other's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from conexus.app.service import ConexusService
from conexus.config import Settings
from conexus.engine import Engine
from conexus.layout import index_dir_for, repository_index_dir
from conexus.store.location import SqliteLocation
from tests.conftest import git, write

MakeEngine = Callable[..., Engine]


@pytest.fixture
def worktrees(golden_repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The golden repository committed, and a second worktree of it with one file changed and one added."""
    git(golden_repo, "init", "-q", "-b", "main")
    git(golden_repo, "add", "-A")
    git(golden_repo, "commit", "-q", "-m", "initial")
    other = tmp_path / "feature"
    git(golden_repo, "worktree", "add", "-q", "-b", "feature", str(other))
    write(other, "httpkit/zebra.py", "def compute_zebra_stripes(n):\n    return n * 2\n")
    return golden_repo.resolve(), other.resolve()


def test_a_second_worktree_indexes_only_the_files_that_differ(
    worktrees: tuple[Path, Path], make_engine: MakeEngine, home: Path
) -> None:
    main, feature = worktrees
    first = make_engine(main)
    report_a = first.index()
    second = make_engine(feature)
    report_b = second.index()
    assert isinstance(first.location, SqliteLocation) and isinstance(second.location, SqliteLocation)
    assert first.location.directory == second.location.directory == repository_index_dir(main, home)
    assert report_a.files_linked == 0 and report_a.files_changed == report_a.files_seen
    assert report_b.files_seen == report_a.files_seen + 1
    assert report_b.files_linked == report_a.files_seen  # every unchanged file listed, not indexed
    assert report_b.chunks_written == len(second._open_store(create=False).chunks_of_file("httpkit/zebra.py"))
    assert report_b.embedded + report_b.cache_hits == report_b.chunks_written
    # The worktree's own folder holds only root.json; its database is the repository's.
    assert sorted(p.name for p in index_dir_for(feature, home).iterdir()) == ["root.json"]


def test_each_worktree_searches_its_own_tree_with_its_own_paths(
    worktrees: tuple[Path, Path], make_engine: MakeEngine
) -> None:
    main, feature = worktrees
    first, second = make_engine(main), make_engine(feature)
    first.index()
    second.index()
    assert [h.path for h in second.search("compute_zebra_stripes", top_k=3).hits][:1] == ["httpkit/zebra.py"]
    assert all(h.path != "httpkit/zebra.py" for h in first.search("compute_zebra_stripes", top_k=10).hits)
    hits_a = first.search("parse_header_links", top_k=3).hits
    hits_b = second.search("parse_header_links", top_k=3).hits
    assert hits_a and [(h.path, h.start_line) for h in hits_a] == [(h.path, h.start_line) for h in hits_b]
    assert first.status()["files"] == second.status()["files"] - 1


def test_deleting_one_worktrees_index_keeps_the_others_and_the_last_removes_the_database(
    worktrees: tuple[Path, Path], make_engine: MakeEngine, home: Path
) -> None:
    main, feature = worktrees
    first, second = make_engine(main), make_engine(feature)
    first.index()
    second.index()
    shared = repository_index_dir(main, home)
    assert shared is not None
    second.clear()
    assert not second.has_index() and first.has_index()
    assert first.search("parse_header_links", top_k=3).hits
    assert not index_dir_for(feature, home).exists()
    again = make_engine(feature)
    assert again.index().files_linked == again.status()["files"] - 1  # zebra.py is new again
    again.clear()
    first.clear()
    assert not shared.exists() and not first.has_index()


def test_a_root_outside_git_keeps_a_database_of_its_own(
    golden_repo: Path, make_engine: MakeEngine, home: Path
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    assert repository_index_dir(golden_repo, home) is None
    assert isinstance(engine.location, SqliteLocation) and not engine.location.shared
    assert engine.location.directory == index_dir_for(golden_repo.resolve(), home)


def test_removing_a_disabled_connector_drops_its_tree_of_the_shared_database(
    worktrees: tuple[Path, Path], make_engine: MakeEngine, settings_for: Callable[..., Settings], home: Path
) -> None:
    """A connector that is not served (disabled) still owns an index: its tree in the repository's
    database, not a folder of its own; removing the connector drops that tree and no other."""
    main, feature = worktrees
    make_engine(main).index()
    make_engine(feature).index()
    service = ConexusService(settings_for, home, watch=False, auto_index=False, allow_roots=[main.parent])
    connector = service.connectors.add("filesystem", str(feature), {}, enabled=False)
    assert service.drop_connector(connector) is True
    assert not make_engine(feature).has_index()
    kept = make_engine(main)
    assert kept.has_index() and kept.search("parse_header_links", top_k=1).hits
    assert service.drop_connector(connector) is False  # nothing left to delete


def test_a_passing_read_error_does_not_look_like_a_new_index(
    worktrees: tuple[Path, Path], make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The incarnation of a worktree's tree is read from the shared database; a read that fails
    (busy, interrupted) must answer what it answered last, or every engine would reopen its store."""
    main, feature = worktrees
    make_engine(main).index()
    engine = make_engine(feature)
    engine.index()
    location = engine.location
    assert isinstance(location, SqliteLocation) and location.shared
    before = location.incarnation()
    assert before is not None and len(before) == 3  # type: ignore[arg-type]

    def busy(*_: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(location, "_tree_id", busy)
    assert location.incarnation() == before
    assert engine.search("compute_zebra_stripes", top_k=1).hits  # the store was not reopened for it
