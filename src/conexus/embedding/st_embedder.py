"""``SentenceTransformerEmbedder``: any sentence-transformers model by name (optional extra).

Needs ``pip install 'conexus[sentence-transformers]'`` (torch included) and,
unless the model is already in the local Hugging Face cache or ``NAME`` is a
local folder, a network connection to download it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from conexus.embedding.base import empty, l2_normalize
from conexus.errors import EmbeddingError


class SentenceTransformerEmbedder:
    """A ``sentence_transformers.SentenceTransformer`` on the CPU."""

    def __init__(self, name: str, *, max_tokens: int = 256, batch_size: int = 32) -> None:
        """Load the model.

        Raises:
            EmbeddingError: sentence-transformers is not installed, or the model cannot be loaded.
        """
        if not name:
            raise EmbeddingError("st embedder: a model name is required (st:MODEL)")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingError(
                f"embedder st:{name} needs sentence-transformers: "
                "pip install 'conexus[sentence-transformers]'"
            ) from exc
        try:
            self._model: Any = SentenceTransformer(name, device="cpu")
        except Exception as exc:  # network, missing files, bad config: all mean "cannot load"
            raise EmbeddingError(
                f"cannot load sentence-transformers model {name!r}: {exc} "
                "(offline? use a local folder path, or the bundled embedder)"
            ) from exc
        current = getattr(self._model, "max_seq_length", None) or max_tokens
        self._model.max_seq_length = min(int(current), max_tokens)
        self._name = name
        self._max_tokens = max_tokens
        self._batch_size = max(1, batch_size)
        dim = self._model.get_sentence_embedding_dimension()
        self._dim = int(dim) if dim else int(self._encode(["probe"]).shape[1])

    @property
    def id(self) -> str:
        return f"st:{self._name}:{self._max_tokens}"

    @property
    def dim(self) -> int:
        return self._dim

    def _encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        try:
            vectors = self._model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        except Exception as exc:
            raise EmbeddingError(f"sentence-transformers model {self._name!r} failed: {exc}") from exc
        return l2_normalize(np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1))

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if len(texts) == 0:
            return empty(self._dim)
        return self._encode(texts)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        vector: npt.NDArray[np.float32] = self._encode([text])[0]
        return vector
