"""The indexer goes Source -> chunks -> Store: any source, change detection by stamp, one path per file."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from conexus.config import Settings
from conexus.embedding.fake import FakeEmbedder
from conexus.engine import Engine
from conexus.indexing.indexer import Indexer
from conexus.models import SkippedFile, SkipReason, content_hash
from conexus.sources.base import Document, DocumentRef, Stamp
from conexus.store.sqlite import SqliteStore
from tests.conftest import write


class IssueSource:
    """Documents held in memory, as an issue tracker would hand them over (no files anywhere)."""

    name = "issues"

    def __init__(self, issues: dict[str, tuple[str, int]]) -> None:
        self.issues = issues  # path -> (markdown body, updated_at in ns)
        self.loaded: list[str] = []

    def _ref(self, path: str) -> DocumentRef:
        body, updated = self.issues[path]
        return DocumentRef(path, f"https://tracker.example/{path}", len(body), updated)

    def scan(self) -> Iterator[DocumentRef | SkippedFile]:
        for path in sorted(self.issues):
            yield self._ref(path)

    def scan_paths(self, paths: Sequence[str]) -> Iterator[DocumentRef | SkippedFile]:
        for path in sorted(set(paths)):
            if path in self.issues:
                yield self._ref(path)

    def load(self, ref: DocumentRef) -> Document | SkippedFile:
        self.loaded.append(ref.path)
        body, _ = self.issues[ref.path]
        if not body:
            return SkippedFile(ref.path, SkipReason.UNREADABLE, "empty issue")
        return Document(ref, ref.location, body, content_hash(body), "markdown", metadata={"state": "open"})

    def screen(self, doc: Document) -> SkippedFile | None:
        return None

    def stamp(self, path: str) -> Stamp | None:
        return self._ref(path).stamp if path in self.issues else None

    def current_text(self, path: str) -> str | None:
        return self.issues[path][0] if path in self.issues else None


def test_documents_from_a_source_without_files_are_indexed_and_reindexed_by_stamp(
    tmp_path: Path, settings_for: Callable[..., Settings]
) -> None:
    source = IssueSource(
        {
            "issues/1": ("# Login fails\n\nThe session cookie is dropped.\n", 1),
            "issues/2": ("# Slow search\n\nQueries take seconds.\n", 1),
            "issues/3": ("", 1),
        }
    )
    store = SqliteStore(tmp_path / "index", 256)
    indexer = Indexer(source, store, FakeEmbedder(), None, settings_for(tmp_path))
    report = indexer.run()
    assert set(store.files()) == {"issues/1", "issues/2"}
    assert report.skipped == {"unreadable": 1}
    assert store.files()["issues/1"].language == "markdown"

    source.loaded.clear()
    source.issues["issues/2"] = ("# Slow search\n\nQueries take seconds on big trees.\n", 2)
    del source.issues["issues/1"]
    report = indexer.run()
    assert source.loaded == ["issues/2", "issues/3"]  # unchanged stamps are not loaded again
    assert set(store.files()) == {"issues/2"}
    assert report.files_deleted == 1 and report.files_changed == 1
    store.close()


def test_indexing_a_few_paths_drops_those_now_gone_or_skipped(
    tmp_path: Path, settings_for: Callable[..., Settings]
) -> None:
    source = IssueSource({"issues/1": ("# One\n", 1), "issues/2": ("# Two\n", 1)})
    store = SqliteStore(tmp_path / "index", 256)
    indexer = Indexer(source, store, FakeEmbedder(), None, settings_for(tmp_path))
    indexer.run()
    del source.issues["issues/1"]
    source.issues["issues/2"] = ("", 2)
    report = indexer.run(paths=["issues/1", "issues/2"])
    assert store.files() == {}
    assert report.files_deleted == 2
    store.close()


def test_a_symlinked_directory_is_indexed_once(tmp_path: Path, make_engine: Callable[..., Engine]) -> None:
    root = tmp_path / "repo"
    for name in ["a", "b"]:
        write(root, f"tests/certs/mtls/{name}.py", f"def {name}_cert():\n    return '{name}'\n")
    (root / "tests/certs/expired").symlink_to("mtls", target_is_directory=True)
    (root / "tests/certs/valid").symlink_to("mtls", target_is_directory=True)
    engine = make_engine(root)
    report = engine.index()
    assert engine.indexed_files() == ["tests/certs/mtls/a.py", "tests/certs/mtls/b.py"]
    assert report.skipped == {"duplicate_link": 4}
    assert engine.status()["skipped"] == {"duplicate_link": 4}
    # An edit reported at a link path (as a watcher may) does not bring the duplicate back.
    engine.index(paths=["tests/certs/valid/a.py"])
    assert engine.indexed_files() == ["tests/certs/mtls/a.py", "tests/certs/mtls/b.py"]
