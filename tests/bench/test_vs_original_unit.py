"""The side-by-side benchmark's tree preparation and figures, without npm or the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bench.vs_original import (
    WHY_LINK_BROKEN,
    WHY_LINK_DIR,
    WHY_LINK_FILE,
    WHY_SPECIAL,
    WHY_UNREADABLE,
    LeftOut,
    ServerRun,
    copy_tree,
    indexed_chunks,
    indexed_files,
    original_phase,
    summary,
    unfit_entries,
)


def make_tree(root: Path) -> None:
    """A small repository shaped like psf/requests' tests/certs: a directory reached by symlinks."""
    (root / "pkg" / "expired" / "ca").mkdir(parents=True)
    (root / "pkg" / "expired" / "ca" / "ca.pem").write_text("cert\n")
    (root / "pkg" / "mod.py").write_text("def f():\n    return 1\n")
    (root / "pkg" / "valid").mkdir()
    (root / "pkg" / "valid" / "ca").symlink_to("../expired/ca")
    (root / "pkg" / "alias.py").symlink_to("mod.py")
    (root / "pkg" / "dangling").symlink_to("nowhere")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / ".git" / "link").symlink_to("HEAD")


def test_every_symlink_is_reported_with_its_target_and_why(tmp_path: Path) -> None:
    make_tree(tmp_path)
    found = {item.path: item for item in unfit_entries(tmp_path)}
    assert sorted(found) == ["pkg/alias.py", "pkg/dangling", "pkg/valid/ca"]
    assert found["pkg/valid/ca"] == LeftOut(
        "pkg/valid/ca", "symlink to a directory -> ../expired/ca", WHY_LINK_DIR
    )
    assert found["pkg/dangling"].reason == WHY_LINK_BROKEN
    assert found["pkg/alias.py"].reason == WHY_LINK_FILE


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_reported_and_never_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")  # opening it for reading would block this test for ever
    assert unfit_entries(tmp_path) == [LeftOut("pipe", "FIFO", WHY_SPECIAL)]


def test_an_unreadable_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ok.py").write_text("x = 1\n")
    secret = tmp_path / "secret.py"
    secret.write_text("x = 2\n")
    real_access = os.access
    # chmod 0 is no test under root (which reads anything): answer for the file as a user would get.
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != secret and real_access(p, mode))
    assert unfit_entries(tmp_path) == [LeftOut("secret.py", "unreadable file", WHY_UNREADABLE)]


def test_the_copy_leaves_out_git_and_what_was_reported_and_keeps_the_rest(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    make_tree(src)
    copy_tree(src, dest, unfit_entries(src))
    kept = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*"))
    assert kept == [
        "pkg",
        "pkg/expired",
        "pkg/expired/ca",
        "pkg/expired/ca/ca.pem",
        "pkg/mod.py",
        "pkg/valid",
    ]
    assert not any(p.is_symlink() for p in dest.rglob("*"))


def test_the_copy_as_is_keeps_symlinks_as_links(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    make_tree(src)
    copy_tree(src, dest, [])
    assert (dest / "pkg" / "valid" / "ca").is_symlink()
    assert not (dest / ".git").exists()


def test_counts_come_from_either_servers_status_shape() -> None:
    ours = ServerRun("conexus", index_status={"files": 121, "chunks": 1170})
    theirs = ServerRun(
        "original",
        index_status={
            "index_status": {
                "phase": "error",
                "files_processed": 0,
                "chunks_created": 0,
                "last_error": "walk file system: read file x/ca: is a directory",
            }
        },
    )
    assert (indexed_files(ours), indexed_chunks(ours)) == (121, 1170)
    assert (indexed_files(theirs), indexed_chunks(theirs)) == (0, 0)
    assert original_phase(theirs) == ("error", "walk file system: read file x/ca: is a directory")
    assert original_phase(ServerRun("original")) == (None, None)


def test_first_pass_latencies_are_summarised_apart_from_the_repeats() -> None:
    repeats = [1000.0, 1000.0, 1.0, 1.0, 1.0, 1.0]  # two queries, each cached after its first run
    run = ServerRun("original", latencies_ms=repeats, first_pass_ms=repeats[:2])
    out = summary(run, total=6)
    assert out["query_p50_ms"] == 1.0
    assert out["first_pass_p50_ms"] == 1000.0
    assert out["first_pass_p95_ms"] == 1000.0
