"""``FakeEmbedder``: deterministic vectors without a model, for fast tests.

A hashed bag of words: every lower-cased word and identifier piece
(``parseHttpHeader`` → ``parse``, ``http``, ``header``, plus the whole
identifier) adds 1 to one of ``dim`` buckets chosen by a stable hash. Texts that
share words get similar vectors, so semantic search can be exercised in tests.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from conexus.embedding.base import l2_normalize

_WORD = re.compile(r"[A-Za-z0-9]+")
# camelCase / PascalCase / acronym boundaries: HTTPServer → HTTP, Server; parseHttp → parse, Http.
_PIECE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def word_pieces(text: str) -> list[str]:
    """Lower-cased words and identifier pieces of ``text`` (whole identifiers included)."""
    out: list[str] = []
    for token in re.findall(r"[A-Za-z0-9_]+", text):
        parts = [p for w in _WORD.findall(token) for p in _PIECE.findall(w)]
        lowered = [p.lower() for p in parts]
        out.extend(lowered)
        whole = token.lower().strip("_")
        if len(lowered) > 1 and whole:
            out.append(whole)
    return out


class FakeEmbedder:
    """Deterministic hashed bag-of-words embedder (no model, no I/O)."""

    def __init__(self, dim: int = 256) -> None:
        if dim < 8:
            raise ValueError("dim must be at least 8")
        self._dim = dim

    @property
    def id(self) -> str:
        return f"fake-bow:{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def _bucket(self, piece: str) -> tuple[int, float]:
        digest = hashlib.blake2b(piece.encode("utf-8"), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        sign = 1.0 if value & 1 else -1.0  # signed hashing keeps unrelated texts near orthogonal
        return (value >> 1) % self._dim, sign

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            # A text without words still gets a unit vector: one bucket for its raw form.
            for piece in word_pieces(text) or [text.strip()]:
                index, sign = self._bucket(piece)
                out[row, index] += sign
        return l2_normalize(out)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        vector: npt.NDArray[np.float32] = self.embed_documents([text])[0]
        return vector
