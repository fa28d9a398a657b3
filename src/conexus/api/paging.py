"""Opaque paging cursors, the same for every transport.

A cursor is URL-safe base64 of a small JSON object. It is not signed: it holds
nothing a client could not send as plain arguments (an offset), and a key of
the request it belongs to so that a cursor reused with other arguments is
refused rather than silently paging a different result.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any


def encode_cursor(data: dict[str, Any]) -> str:
    """The cursor for ``data`` (JSON-serialisable)."""
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> dict[str, Any]:
    """The object inside a cursor.

    Raises:
        ValueError: ``token`` is not a cursor this server made.
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a cursor: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("not a cursor: not an object")
    return data


def request_key(parts: Sequence[Any]) -> str:
    """A short digest naming the request a cursor belongs to."""
    return hashlib.sha256(json.dumps(list(parts)).encode()).hexdigest()[:12]
