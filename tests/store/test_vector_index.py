"""The HNSW wrapper (conexus.store.vectors.UsearchIndex) on a real usearch index."""

from __future__ import annotations

import numpy as np
import pytest

from conexus.store.vectors import UsearchIndex


def test_keys_are_exported_at_once_not_one_lookup_per_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asking usearch for one key by offset walks its whole key table: a set built that way is
    quadratic and held the GIL for most of a minute at 50K vectors (a soak run froze on it)."""
    index = UsearchIndex(dim=8)  # imports onnxruntime before usearch (see UsearchIndex)
    from usearch.index import IndexedKeys

    keys = list(range(0, 3000, 3))
    index.add(keys, np.random.default_rng(1).random((len(keys), 8), dtype=np.float32))

    def one_by_one(self: object, offset: object) -> object:
        if isinstance(offset, int):
            raise AssertionError("a key was asked for by its offset")
        return original(self, offset)

    original = IndexedKeys.__getitem__
    monkeypatch.setattr(IndexedKeys, "__getitem__", one_by_one)
    assert index.keys() == set(keys)
    index.remove(keys[:10])
    assert index.keys() == set(keys[10:])
