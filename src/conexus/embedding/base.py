"""The ``Embedder`` role and the numeric helpers every implementation shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit vectors. Implementations: ``OnnxEmbedder``, ``FakeEmbedder``,
    ``OpenAIEmbedder``, ``SentenceTransformerEmbedder``.

    ``id`` is recorded in every index and keys the shared embedding cache, so it
    names everything that changes the vectors (model, weights, recipe, max tokens).
    """

    @property
    def id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return ``(len(texts), dim)`` float32 rows, L2-normalised, in input order.

        Raises:
            EmbeddingError: the model failed.
        """
        ...

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """Return one ``(dim,)`` float32 L2-normalised vector.

        Raises:
            EmbeddingError: the model failed.
        """
        ...


@runtime_checkable
class InputKeyed(Protocol):
    """An embedder that can say what its model will actually see for each text.

    ``input_keys`` returns, per text, a key of the model's input after
    tokenisation and truncation. Two texts with one key get one vector, so the
    embedding cache can serve an edited chunk whose change lies past the
    truncation point (most edits inside long functions) without running the model.
    """

    def input_keys(self, texts: Sequence[str]) -> list[str]: ...


def l2_normalize(vectors: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """Rows scaled to unit length (all-zero rows stay zero), as float32."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    out: npt.NDArray[np.float32] = np.zeros_like(v)
    np.divide(v, norms, out=out, where=norms > 0)
    return out


def mean_pool(hidden: npt.NDArray[np.floating], mask: npt.NDArray[np.integer]) -> npt.NDArray[np.float32]:
    """Average ``hidden[b, t, :]`` over the tokens where ``mask[b, t]`` is 1.

    This is sentence-transformers' mean pooling (all-MiniLM-L6-v2's ``1_Pooling`` config).
    """
    m = mask.astype(np.float32)
    summed = np.einsum("btd,bt->bd", hidden.astype(np.float32, copy=False), m)
    counts = np.maximum(m.sum(axis=1, keepdims=True), 1e-9)
    pooled: npt.NDArray[np.float32] = (summed / counts).astype(np.float32, copy=False)
    return pooled


def empty(dim: int) -> npt.NDArray[np.float32]:
    """A ``(0, dim)`` float32 array: the embedding of no texts."""
    return np.zeros((0, dim), dtype=np.float32)
