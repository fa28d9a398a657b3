"""``UnavailableEmbedder``: stands in for an embedder that cannot be loaded.

A search needs its embedder only for the vector retriever. When the model file
is broken or the provider cannot be reached at start, the engine searches with
this stand-in: each query's embedding fails with the load error, and the
search answers from its other retrievers with a notice saying so, instead of
refusing every query.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from conexus.errors import EmbeddingError


class UnavailableEmbedder:
    """An embedder whose every call raises the error that kept the real one from loading."""

    def __init__(self, error: EmbeddingError, *, dim: int) -> None:
        self.error = error
        self._dim = dim

    @property
    def id(self) -> str:
        return "unavailable"

    @property
    def dim(self) -> int:
        """The dimension of the index being searched (no vector is ever made)."""
        return self._dim

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        raise EmbeddingError(f"the embedder cannot load: {self.error}")

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        raise EmbeddingError(f"the embedder cannot load: {self.error}")
