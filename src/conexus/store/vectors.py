"""The approximate-nearest-neighbour index: HNSW from ``usearch``, persisted beside the SQLite file.

SQLite is the source of truth (every vector is also stored there, as float16);
the HNSW file is a derived, rebuildable accelerator. It is saved atomically
(write to a temporary file, then rename) together with the store generation it
reflects, so a killed process leaves either the old file or the new one, and
the store repairs any drift from the database on open. Every usearch failure
is a :class:`~conexus.errors.StoreError`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from conexus.errors import StoreError

F32 = npt.NDArray[np.float32]


class VectorIndex(Protocol):
    """Role interface of an ANN index over integer keys (chunk ids)."""

    def add(self, keys: Sequence[int], vectors: F32) -> None: ...
    def remove(self, keys: Sequence[int]) -> None: ...
    def search(self, query: F32, k: int) -> list[tuple[int, float]]: ...
    def keys(self) -> set[int]: ...
    def save(self, path: Path) -> None: ...
    def __len__(self) -> int: ...


class UsearchIndex:
    """HNSW over cosine similarity with float16 storage; thread-safe for one writer and many readers."""

    def __init__(self, dim: int, path: Path | None = None) -> None:
        # onnxruntime 1.32 segfaults while being imported (in libstdc++'s codecvt) when
        # usearch 2.26 was imported first; the other order is fine. Every process that may
        # embed (they all do) must therefore load onnxruntime before usearch.
        import onnxruntime  # noqa: F401
        from usearch.index import Index

        self.dim = dim
        self._lock = threading.RLock()
        self._index = Index(ndim=dim, metric="cos", dtype="f16", connectivity=16, expansion_add=128)
        # usearch defines a setter after the getter; its stubs only show the getter.
        self._index.expansion_search = 96  # type: ignore[misc]
        if path is not None and path.exists():
            try:
                self._index.load(str(path))
            except Exception as exc:  # usearch raises RuntimeError/ValueError on bad files
                raise StoreError(f"cannot load vector index {path}: {exc}") from exc
            if self._index.ndim != dim:
                raise StoreError(f"vector index {path} has {self._index.ndim} dimensions, expected {dim}")

    def add(self, keys: Sequence[int], vectors: F32) -> None:
        if not len(keys):
            return
        arr = np.ascontiguousarray(vectors, dtype=np.float32)
        ks = np.asarray(keys, dtype=np.uint64)
        with self._lock:
            present = [int(k) for k in ks if int(k) in self._index]
            try:
                if present:
                    self._index.remove(present)
                self._index.add(ks, arr, threads=1)
            except (RuntimeError, ValueError) as exc:
                raise StoreError(f"cannot add {len(ks)} vectors to the vector index: {exc}") from exc

    def remove(self, keys: Sequence[int]) -> None:
        if not len(keys):
            return
        with self._lock:
            present = [int(k) for k in keys if int(k) in self._index]
            if present:
                try:
                    self._index.remove(present)
                except (RuntimeError, ValueError) as exc:
                    raise StoreError(f"cannot remove vectors from the vector index: {exc}") from exc

    def search(self, query: F32, k: int) -> list[tuple[int, float]]:
        with self._lock:
            n = len(self._index)
            if n == 0 or k <= 0:
                return []
            k = min(k, n)
            # HNSW recall falls when ef < k; widen the beam for deep candidate lists.
            self._index.expansion_search = max(96, k)  # type: ignore[misc]
            try:
                matches = self._index.search(np.asarray(query, dtype=np.float32), k)
            except (RuntimeError, ValueError) as exc:
                raise StoreError(f"vector search failed: {exc}") from exc
            keys = matches.keys
            dists = matches.distances
        return [(int(key), 1.0 - float(d)) for key, d in zip(keys, dists, strict=True)]

    def keys(self) -> set[int]:
        with self._lock:
            # All keys in one export: iterating ``Index.keys`` asks for one key per call, and
            # each call walks the whole key table (O(n^2), holding the GIL: 55 s at 50K keys).
            return set(np.asarray(self._index.keys).tolist())

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        remove_abandoned_temporaries(path)
        with self._lock:
            try:
                self._index.save(str(tmp))
                os.replace(tmp, path)
            except Exception as exc:
                tmp.unlink(missing_ok=True)
                raise StoreError(f"cannot save vector index {path}: {exc}") from exc

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)


def remove_abandoned_temporaries(path: Path) -> None:
    """Delete the ``<path>.tmp<pid>`` files of saves whose process was killed before its rename.

    A running process's temporary file is left alone: it may be writing it now.
    """
    prefix = path.name + ".tmp"
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return
    for sibling in siblings:
        pid = sibling.name.removeprefix(prefix)
        if not sibling.name.startswith(prefix) or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            sibling.unlink(missing_ok=True)
        except PermissionError:  # alive, under another user
            pass


def encode_vector(vec: F32) -> bytes:
    """Float16 little-endian bytes: half the size of float32, ample precision for cosine ranking."""
    return np.asarray(vec, dtype="<f2").tobytes()


def decode_vectors(blobs: Sequence[bytes], dim: int) -> F32:
    """Stack float16 blobs into an (n, dim) float32 array."""
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    arr = np.frombuffer(b"".join(blobs), dtype="<f2").reshape(len(blobs), dim)
    return arr.astype(np.float32)
