"""Backup and restore of indexes: online under concurrent writes, refused when damaged or foreign."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conexus.app.discovery import announce, withdraw
from conexus.backup import MANIFEST, create_backup, read_manifest, restore_backup, select_entries
from conexus.cli import main
from conexus.engine import Engine
from conexus.errors import IndexIncompatibleError, IndexInUseError, PathError
from conexus.store.sqlite.backup import sha256_file
from tests.conftest import write

MakeEngine = Callable[..., Engine]
QUERIES = ("parse header links", "retry backoff", "cookie jar", "feature handler", "session request")


def _results(engine: Engine) -> list[list[dict[str, Any]]]:
    """Every hit of every query, as the API renders it (citation, score, snippet, freshness, signals)."""
    return [[h.to_dict() for h in engine.search(q, top_k=8).hits] for q in QUERIES]


def _edit_content(i: int) -> str:
    return f"def feature_{i}_handler(request):\n    '''Feature {i} handler.'''\n    return request * {i}\n"


def _set_state(root: Path, i: int, last: int) -> None:
    """Make the generated files of ``root`` what they were after edit ``i`` (of ``last``)."""
    for k in range(3):
        js = [j for j in range(1, i + 1) if j % 3 == k]
        path = root / "httpkit" / f"gen_{k}.py"
        if js:
            write(root, f"httpkit/gen_{k}.py", _edit_content(js[-1]))
        else:
            path.unlink(missing_ok=True)
    for j in range(1, last + 1):
        path = root / "extra" / f"mod_{j}.py"
        if j <= i:
            write(root, f"extra/mod_{j}.py", f"def extra_{j}():\n    return 'cookie jar {j}'\n")
        else:
            path.unlink(missing_ok=True)


class _Writer(threading.Thread):
    """Edits the tree and re-indexes it in a loop, recording the search results at each generation."""

    def __init__(self, engine: Engine, root: Path) -> None:
        super().__init__(daemon=True)
        self.engine = engine
        self.root = root
        self.stop = threading.Event()
        self.by_generation: dict[int, tuple[int, list[list[dict[str, Any]]]]] = {}
        self.edits = 0
        self.done = 0  # completed index runs
        self.error: BaseException | None = None

    def record(self) -> None:
        self.by_generation[self.engine.generation()] = (self.edits, _results(self.engine))

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.edits += 1
                _set_state(self.root, self.edits, self.edits)
                self.engine.index()
                self.record()
                self.done += 1
        except BaseException as exc:
            self.error = exc

    def wait_for_runs(self, more: int, timeout: float = 60.0) -> None:
        """Return once ``more`` further index runs have completed."""
        target = self.done + more
        deadline = time.monotonic() + timeout
        while self.done < target and self.error is None:
            assert time.monotonic() < deadline, "the writer made no progress"
            self.stop.wait(0.01)
        assert self.error is None, self.error


def test_a_backup_taken_under_concurrent_writes_restores_the_search_results_of_its_generation(
    golden_repo: Path, make_engine: MakeEngine, tmp_path: Path
) -> None:
    source = make_engine(golden_repo)
    source.index()
    writer = _Writer(source, golden_repo)
    writer.record()
    writer.start()
    backups = []
    try:
        for n in range(3):
            writer.wait_for_runs(1)  # so each backup sees a later generation than the one before
            # Another Engine on the same files: what a `conexus backup` process does beside a server.
            other = make_engine(golden_repo)
            dest = tmp_path / f"backup-{n}"
            backups.append((dest, create_backup([other], dest)))
            other.close()
        writer.wait_for_runs(1)  # the writer went on after the last backup
    finally:
        writer.stop.set()
        writer.join(timeout=60)
    assert writer.error is None, writer.error
    last = writer.edits
    source.close()
    generations = [m["indexes"][0]["generation"] for _, m in backups]
    assert generations == sorted(generations) and len(set(generations)) == 3
    for dest, manifest in backups:
        entry = manifest["indexes"][0]
        # The snapshot is one committed state: a generation the writer saw after one of its runs,
        # and the HNSW file of that very generation (a rebuilt graph may order near-ties otherwise).
        assert entry["generation"] in writer.by_generation
        assert entry["vectors"] == "included"
        edits, expected = writer.by_generation[entry["generation"]]
        restore_backup(dest, [(entry, make_engine(golden_repo))])
        _set_state(golden_repo, edits, last)  # the tree as it was at that generation
        restored = make_engine(golden_repo)
        assert restored.generation() == entry["generation"]
        assert _results(restored) == expected
        restored.close()


def test_a_backup_whose_vector_file_was_left_out_rebuilds_it_on_restore(
    golden_repo: Path, make_engine: MakeEngine, tmp_path: Path
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    expected = _results(engine)
    engine.close()
    # A vector file that does not reflect the database's generation (a first build between
    # two saves): the backup must not ship it.
    store_meta_engine = make_engine(golden_repo)
    store = store_meta_engine._open_store(create=False)
    store.set_meta({"vector_generation": "-1"})
    store_meta_engine.close()
    manifest = create_backup([make_engine(golden_repo)], tmp_path / "b")
    entry = manifest["indexes"][0]
    assert entry["vectors"] == "rebuild"
    assert "vectors.usearch" not in entry["checksums"]
    shutil.rmtree(make_engine(golden_repo).index_dir)
    restore_backup(tmp_path / "b", [(entry, make_engine(golden_repo))])
    restored = make_engine(golden_repo)
    assert restored.status(check_stale=False)["vectors"] == restored.status(check_stale=False)["chunks"]
    assert _results(restored) == expected


def test_the_manifest_records_identity_generation_and_checksums(
    golden_repo: Path, make_engine: MakeEngine, tmp_path: Path
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    manifest = create_backup([engine], tmp_path / "b")
    assert read_manifest(tmp_path / "b") == manifest
    assert manifest["conexus_version"]
    assert manifest["created_at"].endswith("Z")
    entry = manifest["indexes"][0]
    ident = engine.identity().as_meta()
    assert entry["identity"] == ident
    assert entry["root"] == str(golden_repo.resolve())
    assert entry["generation"] == engine.generation()
    assert entry["complete"] is True
    folder = tmp_path / "b" / entry["dir"]
    for name, checksum in entry["checksums"].items():
        assert sha256_file(folder / name) == checksum
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted([MANIFEST, entry["dir"]])


def test_a_backup_refuses_a_destination_that_holds_files(
    golden_repo: Path, make_engine: MakeEngine, tmp_path: Path
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("keep me")
    with pytest.raises(PathError, match="not an empty folder"):
        create_backup([engine], tmp_path / "busy")
    assert (tmp_path / "busy" / "x").read_text() == "keep me"
    assert not list(tmp_path.glob("busy.partial-*"))


def _damage(path: Path) -> None:
    """Flip the b-tree page headers of every page after the first (what a bad disk block does)."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for start in range(page, len(data), page):
        for i in range(start, start + 12):
            data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("recompute_checksum", [False, True], ids=["checksum", "integrity-check"])
def test_a_corrupted_backup_is_refused_and_the_live_index_is_untouched(
    golden_repo: Path, make_engine: MakeEngine, tmp_path: Path, recompute_checksum: bool
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    manifest = create_backup([engine], tmp_path / "b")
    entry = manifest["indexes"][0]
    write(golden_repo, "httpkit/late.py", "def late_cookie_jar():\n    return 1\n")
    engine.index()  # the live index moved on after the backup
    before = _results(engine)
    generation = engine.generation()
    engine.close()
    db = tmp_path / "b" / entry["dir"] / "index.sqlite3"
    _damage(db)
    if recompute_checksum:  # damage the manifest can't see: SQLite's integrity check must
        entry["checksums"]["index.sqlite3"] = sha256_file(db)
        (tmp_path / "b" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexIncompatibleError, match=r"damaged|integrity|corrupt"):
        restore_backup(tmp_path / "b", [(entry, make_engine(golden_repo))])
    after = make_engine(golden_repo)
    assert after.generation() == generation
    assert _results(after) == before
    assert not list((after.settings.home / "restore-staging").glob("*"))


def test_a_backup_of_another_embedder_is_refused_unless_forced(
    golden_repo: Path, make_engine: MakeEngine, tmp_path: Path
) -> None:
    other = make_engine(golden_repo, embedder="fake:64")
    other.index()
    manifest = create_backup([other], tmp_path / "b")
    other.close()
    entry = manifest["indexes"][0]
    mine = make_engine(golden_repo)  # configured: fake (256 dims)
    mine.index()
    before = _results(mine)
    mine.close()
    with pytest.raises(IndexIncompatibleError, match=r"embedder_id fake-bow:64.*--force"):
        restore_backup(tmp_path / "b", [(entry, make_engine(golden_repo))])
    unchanged = make_engine(golden_repo)
    assert _results(unchanged) == before
    unchanged.close()
    restore_backup(tmp_path / "b", [(entry, make_engine(golden_repo))], force=True)
    forced = make_engine(golden_repo, embedder="fake:64")
    assert forced.status(check_stale=False)["embedder_id"] == entry["identity"]["embedder_id"]


def test_restore_refuses_an_index_another_connection_has_open(
    golden_repo: Path, make_engine: MakeEngine, tmp_path: Path
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    manifest = create_backup([engine], tmp_path / "b")
    engine.search("retry")  # the index stays open in this engine, as in a server
    with pytest.raises(IndexInUseError, match="stop it"):
        restore_backup(tmp_path / "b", [(manifest["indexes"][0], make_engine(golden_repo))])


def test_a_one_index_backup_restores_for_a_checkout_that_moved(
    golden_repo: Path, make_engine: MakeEngine, tmp_path: Path
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    expected = [[(h.path, h.start_line, h.score) for h in engine.search(q).hits] for q in QUERIES]
    manifest = create_backup([engine], tmp_path / "b")
    moved = tmp_path / "moved"
    shutil.copytree(golden_repo, moved)
    ((entry, root),) = select_entries(manifest, moved.resolve())
    assert root == moved.resolve()
    restore_backup(tmp_path / "b", [(entry, make_engine(moved))])
    there = make_engine(moved)
    assert there.status(check_stale=False)["root"] == str(moved.resolve())
    assert [[(h.path, h.start_line, h.score) for h in there.search(q).hits] for q in QUERIES] == expected


def test_the_cli_backs_up_and_restores_and_refuses_while_a_server_serves_the_root(
    golden_repo: Path, make_engine: MakeEngine, tmp_path: Path, home: Path
) -> None:
    engine = make_engine(golden_repo)
    engine.index()
    expected = _results(engine)
    engine.close()
    runner = CliRunner()
    base = ["--home", str(home), "--embedder", "fake"]
    dest = tmp_path / "nightly"
    done = runner.invoke(main, [*base, "backup", str(dest), "--root", str(golden_repo), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["indexes"][0]["root"] == str(golden_repo.resolve())

    entry = announce(home, "http://127.0.0.1:1", [golden_repo.resolve()])
    try:
        refused = runner.invoke(main, [*base, "restore", str(dest)])
        assert refused.exit_code == 4
        assert "stop it before restoring" in refused.stderr
    finally:
        withdraw(entry)

    shutil.rmtree(make_engine(golden_repo).index_dir)
    done = runner.invoke(main, [*base, "restore", str(dest)])
    assert done.exit_code == 0, done.output
    assert "restored" in done.stdout
    restored = make_engine(golden_repo)
    assert _results(restored) == expected
    restored.close()

    refused = runner.invoke(main, ["--home", str(home), "--embedder", "fake:32", "restore", str(dest)])
    assert refused.exit_code == 5
    assert "--force" in refused.stderr


def test_backup_all_covers_every_index_of_the_data_home_and_skips_roots_that_are_gone(
    golden_repo: Path, make_engine: MakeEngine, tmp_path: Path, home: Path
) -> None:
    second = tmp_path / "second"
    write(second, "lib.py", "def second_cookie_jar():\n    return 2\n")
    gone = tmp_path / "gone"
    write(gone, "old.py", "def old():\n    return 0\n")
    for root in (golden_repo, second, gone):
        engine = make_engine(root)
        engine.index()
        engine.close()
    shutil.rmtree(gone)
    done = CliRunner().invoke(
        main, ["--home", str(home), "--embedder", "fake", "backup", str(tmp_path / "all"), "--all", "--json"]
    )
    assert done.exit_code == 0, done.output
    roots = {e["root"] for e in json.loads(done.stdout)["indexes"]}
    assert roots == {str(golden_repo.resolve()), str(second.resolve())}
    assert "skipping the index of" in done.stderr
