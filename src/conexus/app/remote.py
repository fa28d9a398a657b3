"""A minimal client of a running server's REST API, for the CLI's fast path.

The standard library's ``urllib`` is used on purpose: the point of asking a
running server is to skip the imports and the model load a local command pays
(0.4-0.8 s), so this path imports nothing heavy. Problem documents come back
as the :mod:`conexus.errors` exception their status stands for.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from conexus.errors import (
    ConexusError,
    EmbeddingError,
    IndexIncompatibleError,
    IndexNotFoundError,
    IndexNotReadyError,
    PathError,
    PathNotFoundError,
    QueryError,
    StoreError,
    TooLargeError,
)

API_PREFIX = "/api/v1"
TIMEOUT_S = 600.0

_BY_TYPE: dict[str, type[ConexusError]] = {
    "not-found": PathNotFoundError,
    "path-refused": PathError,
    "index-not-found": IndexNotFoundError,
    "index-not-ready": IndexNotReadyError,
    "index-incompatible": IndexIncompatibleError,
    "too-large": TooLargeError,
    "invalid-request": QueryError,
    "invalid-arguments": QueryError,
    "invalid-json": QueryError,
    "embedding-unavailable": EmbeddingError,
    "store-unavailable": StoreError,
}


class ServerUnavailableError(ConexusError):
    """The server could not be reached (it stopped, or never listened there)."""


def call_remote(base_url: str, operation: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """POST ``arguments`` to ``/api/v1/<operation>`` and return the JSON result.

    Raises:
        ServerUnavailableError: nothing answers at ``base_url``.
        ConexusError: the server answered with a problem document (the subclass its type names).
    """
    request = urllib.request.Request(
        base_url + API_PREFIX + "/" + operation,
        data=json.dumps(arguments).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            data: dict[str, Any] = json.loads(response.read())
            return data
    except urllib.error.HTTPError as exc:
        try:
            problem = json.loads(exc.read())
        except ValueError:
            problem = {}
        kind = str(problem.get("type", "")).rsplit("/", 1)[-1]
        detail = str(problem.get("detail") or f"HTTP {exc.code} from {base_url}")
        raise _BY_TYPE.get(kind, ConexusError)(detail) from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        raise ServerUnavailableError(f"the server at {base_url} did not answer: {exc}") from exc
