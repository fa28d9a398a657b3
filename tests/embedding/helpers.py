"""Shared test helpers for the embedding layer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from conexus.embedding import Embedder


class CountingEmbedder:
    """Wraps a real embedder and counts the texts it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.calls: list[list[str]] = []

    @property
    def id(self) -> str:
        return self.inner.id

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def embedded(self) -> int:
        return sum(len(c) for c in self.calls)

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        self.calls.append([text])
        return self.inner.embed_query(text)


class PrefixKeyedEmbedder(CountingEmbedder):
    """A counting embedder whose model "sees" only the first ``width`` characters, and says so."""

    def __init__(self, inner: Embedder, width: int = 20) -> None:
        super().__init__(inner)
        self.width = width

    def input_keys(self, texts: Sequence[str]) -> list[str]:
        return ["in:" + t[: self.width] for t in texts]

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        return self.inner.embed_documents([t[: self.width] for t in texts])
