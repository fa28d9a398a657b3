"""Search-side caches of the store follow every write."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conexus.engine import Engine
from conexus.store.sqlite import store as sqlite_store


def test_cached_document_frequencies_follow_every_write(
    tmp_path: Path, make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "_DF_CACHE_MIN", 1)  # cache every count
    root = tmp_path / "repo"
    root.mkdir()
    for i in range(3):
        (root / f"m{i}.py").write_text(f"def handler_{i}():\n    return shared_marker\n")
    engine = make_engine(root)
    engine.index()
    store = engine._checked_store()
    assert store.doc_frequencies(["shared_marker"]) == {"shared_marker": 3}
    assert store.doc_frequencies(["shared_marker"]) == {"shared_marker": 3}  # now from the cache
    (root / "m3.py").write_text("def handler_3():\n    return shared_marker\n")
    engine.index()
    assert store.doc_frequencies(["shared_marker"]) == {"shared_marker": 4}
    (root / "m0.py").unlink()
    engine.index()
    assert store.doc_frequencies(["shared_marker", "absent_word"]) == {"shared_marker": 3}
