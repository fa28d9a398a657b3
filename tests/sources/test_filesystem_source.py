"""FilesystemSource: scanning, scanning a few paths, loading, stamps and current text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conexus.models import SkippedFile, SkipReason
from conexus.sources.base import Document, DocumentRef, Source, Stamp
from conexus.sources.filesystem import FilesystemSource, WalkOptions
from tests.conftest import write


def test_the_filesystem_source_is_a_source() -> None:
    assert isinstance(FilesystemSource(Path("."), WalkOptions()), Source)


def test_scan_lists_refs_with_stamps_and_skips(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "x = 1\n")
    write(tmp_path, "node_modules/dep.js", "y\n")
    found = {e.path: e for e in FilesystemSource(tmp_path, WalkOptions()).scan()}
    ref = found["a.py"]
    assert isinstance(ref, DocumentRef)
    st = (tmp_path / "a.py").stat()
    assert ref.stamp == Stamp(st.st_size, st.st_mtime_ns)
    assert isinstance(found["node_modules/"], SkippedFile)


def test_load_reads_text_hash_language_and_uri(tmp_path: Path) -> None:
    write(tmp_path, "pkg/mod.py", "def f():\n    return 1\n")
    source = FilesystemSource(tmp_path, WalkOptions())
    ref = next(e for e in source.scan() if isinstance(e, DocumentRef))
    doc = source.load(ref)
    assert isinstance(doc, Document)
    assert (doc.path, doc.language, doc.text) == ("pkg/mod.py", "python", "def f():\n    return 1\n")
    assert doc.uri == (tmp_path / "pkg/mod.py").as_uri()
    assert len(doc.version) == 32 and not doc.invalid_utf8


def test_load_skips_a_binary_file(tmp_path: Path) -> None:
    (tmp_path / "blob.py").write_bytes(b"a\x00b")
    source = FilesystemSource(tmp_path, WalkOptions())
    (ref,) = [e for e in source.scan() if isinstance(e, DocumentRef)]
    loaded = source.load(ref)
    assert isinstance(loaded, SkippedFile) and loaded.reason is SkipReason.BINARY


def test_scan_paths_applies_the_walkers_rules_to_single_paths(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.log\n")
    write(tmp_path, "a.py", "x = 1\n")
    write(tmp_path, "b.log", "noise\n")
    write(tmp_path, "big.py", "x" * 200)
    write(tmp_path, "dir/c.py", "y = 2\n")
    outside = write(tmp_path.parent / f"{tmp_path.name}-outside", "o.py", "o\n")
    (tmp_path / "out.py").symlink_to(outside)
    source = FilesystemSource(tmp_path, WalkOptions(max_file_bytes=100))
    found = {e.path: e for e in source.scan_paths(["a.py", "b.log", "big.py", "dir", "gone.py", "out.py"])}
    assert isinstance(found["a.py"], DocumentRef)
    assert {p: e.reason for p, e in found.items() if isinstance(e, SkippedFile)} == {
        "b.log": SkipReason.IGNORED,
        "big.py": SkipReason.TOO_LARGE,
        "out.py": SkipReason.SYMLINK_OUTSIDE_ROOT,
    }
    assert "dir" not in found and "gone.py" not in found


def test_scan_paths_calls_a_path_through_a_symlinked_directory_a_duplicate(tmp_path: Path) -> None:
    write(tmp_path, "certs/mtls/a.crt", "key\n")
    (tmp_path / "certs/valid").symlink_to("mtls", target_is_directory=True)
    source = FilesystemSource(tmp_path, WalkOptions())
    found = {e.path: e for e in source.scan_paths(["certs/valid/a.crt", "certs/mtls/a.crt"])}
    assert isinstance(found["certs/mtls/a.crt"], DocumentRef)
    assert found["certs/valid/a.crt"] == SkippedFile(
        "certs/valid/a.crt", SkipReason.DUPLICATE_LINK, "same file as certs/mtls/a.crt"
    )


def test_stamp_and_current_text_follow_the_disk(tmp_path: Path) -> None:
    path = write(tmp_path, "a.py", "x = 1\r\n")
    source = FilesystemSource(tmp_path, WalkOptions())
    st = path.stat()
    assert source.stamp("a.py") == Stamp(st.st_size, st.st_mtime_ns)
    assert source.current_text("a.py") == "x = 1\n"
    path.unlink()
    assert source.stamp("a.py") is None and source.current_text("a.py") is None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX fifos")
@pytest.mark.timeout(10)
def test_a_fifo_has_no_stamp_and_no_text_and_is_never_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.py")
    source = FilesystemSource(tmp_path, WalkOptions())
    assert source.stamp("pipe.py") is None
    assert source.current_text("pipe.py") is None
    assert [e.reason for e in source.scan_paths(["pipe.py"]) if isinstance(e, SkippedFile)] == [
        SkipReason.NOT_REGULAR
    ]
