"""``OpenAIEmbedder``: any OpenAI-compatible ``POST {base_url}/embeddings`` endpoint.

Works with OpenAI, Azure-style proxies, Ollama, vLLM, LM Studio, llama.cpp's
server. Texts go in batches; 429 and 5xx answers and transport errors are retried
with bounded exponential backoff (``Retry-After`` honoured, capped); any other
error answer fails at once. The dimension is taken from the first response.
The API key is sent as a Bearer token and never appears in a log line or an
error message (server messages are scrubbed of it before they are quoted).
"""

from __future__ import annotations

import importlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from conexus.embedding.base import empty, l2_normalize
from conexus.errors import EmbeddingError

logger = logging.getLogger(__name__)

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
_DEFAULT_BASE_URL = "https://api.openai.com/v1"


def _import_httpx() -> Any:
    """``httpx``, or its maintained fork ``httpx2`` (same API), whichever is installed."""
    for name in ("httpx", "httpx2"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise EmbeddingError("the openai embedder needs httpx: pip install 'conexus[openai]'")


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible HTTP API."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str = _DEFAULT_BASE_URL,
        api_key: str = "",
        batch_size: int = 64,
        max_retries: int = 5,
        timeout: float = 60.0,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not model:
            raise EmbeddingError("openai embedder: a model name is required (openai:MODEL)")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.batch_size = max(1, batch_size)
        self.max_retries = max(0, max_retries)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        self._api_key = api_key
        self._httpx = _import_httpx()
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = self._httpx.Client(timeout=timeout, headers=headers)
        self._dim: int | None = None
        netloc = urlsplit(self.base_url).netloc
        # The id names the server too: two servers may serve different weights under one name.
        self._id = f"openai:{model}" if self.base_url == _DEFAULT_BASE_URL else f"openai:{model}@{netloc}"

    @property
    def id(self) -> str:
        return self._id

    @property
    def dim(self) -> int:
        """The vector size, from the first response (asks the server once if nothing was embedded yet)."""
        if self._dim is None:
            # Asked when an index is opened or checked: like a query, someone waits for it.
            self._request(["dimension probe"], retries=min(1, self.max_retries))
        assert self._dim is not None
        return self._dim

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if len(texts) == 0:
            return empty(self.dim)
        parts = [
            self._request(list(texts[i : i + self.batch_size])) for i in range(0, len(texts), self.batch_size)
        ]
        return l2_normalize(np.concatenate(parts, axis=0))

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        # Someone waits for a query: one retry, then the search answers without vectors.
        vector: npt.NDArray[np.float32] = l2_normalize(
            self._request([text], retries=min(1, self.max_retries))
        )[0]
        return vector

    def close(self) -> None:
        self._client.close()

    def _scrub(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text[:300]

    def _request(self, texts: list[str], retries: int | None = None) -> npt.NDArray[np.float32]:
        # Some servers reject empty strings; a space embeds as "nothing" everywhere.
        payload = {
            "model": self.model,
            "input": [t if t.strip() else " " for t in texts],
            "encoding_format": "float",
        }
        url = f"{self.base_url}/embeddings"
        max_retries = self.max_retries if retries is None else retries
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                response = self._client.post(url, json=payload)
            except self._httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {self._scrub(str(exc))}"
            else:
                if response.status_code == 200:
                    return self._parse(response, len(texts))
                problem = f"HTTP {response.status_code}: {self._scrub(response.text)}"
                if response.status_code in (401, 403):
                    raise EmbeddingError(
                        f"the embeddings endpoint {url} refused the API key ({problem}); "
                        "set CONEXUS_OPENAI_API_KEY or OPENAI_API_KEY"
                    )
                if response.status_code not in _RETRY_STATUS:
                    raise EmbeddingError(f"the embeddings endpoint {url} failed: {problem}")
                retry_after = _retry_after(response.headers.get("retry-after"))
            if attempt >= max_retries:
                raise EmbeddingError(
                    f"the embeddings endpoint {url} failed after {attempt + 1} attempts: {problem}"
                )
            delay = min(self.backoff_max, self.backoff_base * (2**attempt) * (1 + random.random() / 4))
            if retry_after is not None:
                delay = min(self.backoff_max, retry_after)
            logger.warning("embeddings endpoint: %s; retrying in %.1fs", problem, delay)
            if delay > 0:
                self._sleep(delay)
            attempt += 1

    def _parse(self, response: Any, expected: int) -> npt.NDArray[np.float32]:
        try:
            body = response.json()
            items = sorted(body["data"], key=lambda d: d.get("index", 0))
            vectors = np.asarray([item["embedding"] for item in items], dtype=np.float32)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EmbeddingError(f"the embeddings endpoint returned an unexpected body: {exc}") from exc
        if vectors.ndim != 2 or vectors.shape[0] != expected or vectors.shape[1] == 0:
            raise EmbeddingError(f"the embeddings endpoint returned {vectors.shape} for {expected} inputs")
        if self._dim is None:
            self._dim = int(vectors.shape[1])
        elif vectors.shape[1] != self._dim:
            raise EmbeddingError(
                f"the embeddings endpoint changed dimension ({self._dim} → {vectors.shape[1]})"
            )
        return vectors


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (HTTP dates are ignored: the backoff applies)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
