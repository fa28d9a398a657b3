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

from conexus.errors import ConexusError

API_PREFIX = "/api/v1"
TIMEOUT_S = 600.0


def _error_classes() -> list[type[ConexusError]]:
    """Every error class, most general first (breadth-first from the root)."""
    out: list[type[ConexusError]] = []
    todo: list[type[ConexusError]] = [ConexusError]
    while todo:
        cls = todo.pop(0)
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


def error_for(problem: dict[str, Any], status: int) -> type[ConexusError]:
    """The error class a problem document stands for: by its type, else the most general of its status."""
    kind = str(problem.get("type", "")).rsplit("/", 1)[-1]
    classes = _error_classes()
    for cls in classes:
        if cls.problem == kind:
            return cls
    for cls in classes[1:]:  # a kind this client does not know: the most general class of its status
        if cls.http_status == status:
            return cls
    return ConexusError


class ServerUnavailableError(ConexusError):
    """The server could not be reached (it stopped, or never listened there)."""


def call_remote(
    base_url: str, operation: str, arguments: dict[str, Any], *, token: str | None = None
) -> dict[str, Any]:
    """POST ``arguments`` to ``/api/v1/<operation>`` and return the JSON result.

    ``token`` (an API key) goes in ``Authorization: Bearer`` when the server needs one.

    Raises:
        ServerUnavailableError: nothing answers at ``base_url``.
        ConexusError: the server answered with a problem document (the subclass its type names).
    """
    request = urllib.request.Request(
        base_url + API_PREFIX + "/" + operation,
        data=json.dumps(arguments).encode(),
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
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
        detail = str(problem.get("detail") or f"HTTP {exc.code} from {base_url}")
        raise error_for(problem, exc.code)(detail) from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        raise ServerUnavailableError(f"the server at {base_url} did not answer: {exc}") from exc
