"""The contract of stored contents (file texts and imports by content hash), on SQLite and PostgreSQL.

Part of the store contract (``test_contract.py``, whose backends and fixtures these
tests share): a replica with no checkout answers read, grep and related from these.
"""

from __future__ import annotations

from dataclasses import replace

from conexus.models import ImportRef
from conexus.store.base import FileContent, FileUpdate, Store
from tests.store.test_contract import OpenStore, _update, _write, open_store, store

__all__ = ["open_store", "store"]  # the shared fixtures

APP = "import os\nfrom shop.pricing import total, tax\n\nprint(total)\n"
APP_IMPORTS = (ImportRef(1, 1, "os"), ImportRef(2, 2, "shop.pricing", ("total", "tax")))


def _content(update_hash: str, text: str, imports: tuple[ImportRef, ...] = (), *terms: str) -> FileContent:
    return FileContent(update_hash, "python", text, imports, frozenset(terms))


def _indexed(store: Store) -> None:
    """Three files: two with the same content, one without stored content."""
    app, copy, bare = (_update(p, ("module", "x", None)) for p in ("src/app.py", "src/copy.py", "src/b.py"))
    same = "h-same"
    with store.writer(atomic=False) as w:
        w.apply([_with_hash(app, same), _with_hash(copy, same), bare], [])
        w.put_contents([_content(same, APP, APP_IMPORTS, "os", "shop", "pricing", "total", "tax")])


def _with_hash(update: FileUpdate, digest: str) -> FileUpdate:
    return replace(update, hash=digest)


def test_a_stored_text_reads_back_exactly_for_every_file_holding_that_content(store: Store) -> None:
    _indexed(store)
    assert store.file_text("src/app.py") == APP
    assert store.file_text("src/copy.py") == APP
    assert store.file_text("src/b.py") is None  # indexed, but its content was never stored
    assert store.file_text("absent.py") is None


def test_text_with_any_unicode_and_nul_bytes_round_trips(store: Store) -> None:
    text = "naïve = '日本語'\x00 # \U0001f600\n" * 50
    with store.writer(atomic=False) as w:
        w.apply([_with_hash(_update("u.py", ("module", "x", None)), "h-u")], [])
        w.put_contents([_content("h-u", text)])
    assert store.file_text("u.py") == text


def test_imports_read_back_per_file_with_their_lines_names_and_levels(store: Store) -> None:
    _indexed(store)
    found = store.file_imports(["src/app.py", "src/copy.py", "src/b.py", "absent.py"])
    assert found == {"src/app.py": APP_IMPORTS, "src/copy.py": APP_IMPORTS}
    assert store.file_imports([]) == {}


def test_importing_files_are_those_whose_imports_spell_every_term(store: Store) -> None:
    _indexed(store)
    assert store.importing_files(["pricing"]) == ["src/app.py", "src/copy.py"]
    assert store.importing_files(["shop", "pricing"]) == ["src/app.py", "src/copy.py"]
    assert store.importing_files(["pricing", "cart"]) == []
    assert store.importing_files([]) == []


def test_unstored_files_are_the_indexed_files_without_a_content(store: Store) -> None:
    _indexed(store)
    assert store.unstored_files() == ["src/b.py"]


def test_a_content_stored_twice_keeps_its_first_text_and_terms(store: Store) -> None:
    _indexed(store)
    with store.writer(atomic=False) as w:
        w.put_contents([_content("h-same", "other", (), "other")])
    assert store.file_text("src/app.py") == APP
    assert store.importing_files(["other"]) == []


def test_pruning_drops_contents_no_file_holds_and_keeps_shared_ones(store: Store) -> None:
    _indexed(store)
    _write(store, deletes=("src/app.py",))
    with store.writer(atomic=False) as w:
        w.prune_contents()
    assert store.file_text("src/copy.py") == APP  # still held by the copy
    _write(store, deletes=("src/copy.py",))
    with store.writer(atomic=False) as w:
        w.prune_contents()
    # Indexed again with the old content: nothing of it was left behind to be found.
    with store.writer(atomic=False) as w:
        w.apply([_with_hash(_update("src/app.py", ("module", "x", None)), "h-same")], [])
    assert store.file_text("src/app.py") is None
    assert store.importing_files(["pricing"]) == []


def test_contents_written_in_an_abandoned_atomic_block_are_rolled_back(store: Store) -> None:
    _write(store, _with_hash(_update("a.py", ("module", "x", None)), "h-a"))
    with store.writer(atomic=True) as w:
        w.put_contents([_content("h-a", "text")])
        w.abandon()
    assert store.file_text("a.py") is None
    assert store.unstored_files() == ["a.py"]


def test_contents_survive_reopening_and_clear_removes_them(open_store: OpenStore) -> None:
    first = open_store()
    _indexed(first)
    again = open_store()
    assert again.file_text("src/app.py") == APP
    again.clear()
    assert again.file_text("src/app.py") is None
    assert again.importing_files(["pricing"]) == []
