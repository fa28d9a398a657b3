"""Interactive HTTP requests, marked from the moment they arrive (see :mod:`conexus.priority`).

The light lane marks an operation interactive while it runs on its worker; but
a request also spends the event loop's time before and after (routing,
middleware, the MCP session's streams, serialising the answer), and heavy
work that takes the interpreter then delays it all the same. This middleware,
outermost, marks a whole request interactive unless it asks for heavy work:

* ``/api/v1/<operation>``: by the operation's ``cost`` in the table;
* ``POST /mcp``: by the tool a ``tools/call`` names (the body is peeked when it
  declares a length of at most :data:`PEEK_BYTES`, and replayed unchanged);
  other messages (``initialize``, notifications, listings) are interactive;
* ``GET /mcp`` (a session's event stream, open for its life) is not marked;
* everything else (health, metrics, the console) is interactive: it is short.

A request that cannot be classified cheaply (no length, a larger body, not
JSON) is left unmarked: it runs as it would without this middleware.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from conexus import priority
from conexus.api.operations import OPERATIONS
from conexus.server.http.body import replaying

#: Largest MCP body peeked at for its tool name (a tool call's arguments are far smaller).
PEEK_BYTES = 65536

_HEAVY_ROUTES = frozenset(f"/api/v1/{op.name}" for op in OPERATIONS if op.cost == "heavy")
_HEAVY_TOOLS = frozenset(op.tool for op in OPERATIONS if op.cost == "heavy")


def heavy_message(body: bytes) -> bool | None:
    """Whether a JSON-RPC body calls a heavy tool (a batch: any of its calls); None when it is no
    JSON-RPC message this can read."""
    try:
        message: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested past the parser's depth
        return None
    messages = message if isinstance(message, list) else [message]
    for m in messages:
        if not isinstance(m, dict):
            return None
        params = m.get("params")
        tool = params.get("name") if isinstance(params, dict) else None
        if m.get("method") == "tools/call" and tool in _HEAVY_TOOLS:
            return True
    return False


class InteractiveRequests:
    """ASGI middleware: run light requests inside :func:`conexus.priority.interactive`."""

    def __init__(self, app: ASGIApp, mcp_path: str = "/mcp") -> None:
        self.app = app
        self.mcp_path = mcp_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope.get("path", ""), scope.get("method", "")
        interactive: bool | None
        if path == self.mcp_path:
            if method == "GET":
                interactive = None  # the session's event stream: open for as long as the session
            elif method == "POST":
                interactive, receive = await self._peek(scope, receive)
            else:
                interactive = True
        else:
            interactive = path not in _HEAVY_ROUTES
        if not interactive:
            await self.app(scope, receive, send)
            return
        with priority.interactive():
            await self.app(scope, receive, send)

    async def _peek(self, scope: Scope, receive: Receive) -> tuple[bool | None, Receive]:
        """Whether an MCP POST is interactive, and the ``receive`` to pass on (replaying a peeked body)."""
        length = _content_length(scope)
        if length is None or length > PEEK_BYTES:
            return None, receive
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # a disconnect: pass it on as it came
                return None, _replay_message(message, chunks, receive)
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if not message.get("more_body", False) or size > PEEK_BYTES:
                break
        body = b"".join(chunks)
        if size > PEEK_BYTES:  # the declared length lied: replay what was read, classify nothing
            return None, replaying(body, receive, more_body=True)
        heavy = heavy_message(body)
        return (None if heavy is None else not heavy), replaying(body, receive)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay_message(message: Any, chunks: list[bytes], receive: Receive) -> Receive:
    """A ``receive`` that yields what was read (the body so far, then ``message``), then the real one."""
    pending: list[Any] = []
    if chunks:
        pending.append({"type": "http.request", "body": b"".join(chunks), "more_body": True})
    pending.append(message)

    async def replay() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
