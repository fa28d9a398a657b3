"""How the guards answer a request they refuse, in the protocol of the route it asked for.

``/mcp`` gets a JSON-RPC error object (``id`` null: the body is not read
before refusing); every other route an RFC 9457 problem document, like the
REST API's own errors. Both carry ``Retry-After`` when waiting helps.
"""

from __future__ import annotations

import json

from starlette.types import Scope, Send

from conexus.api.errors import Failure

MCP_PATH = "/mcp"
PROBLEM_JSON = "application/problem+json"
SERVER_ERROR = -32000  # JSON-RPC: "reserved for implementation-defined server-errors"


def is_mcp(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    return path == MCP_PATH or path.startswith(MCP_PATH + "/")


async def refuse(scope: Scope, send: Send, failure: Failure, headers: dict[str, str] | None = None) -> None:
    """Send ``failure`` as the whole response (status, headers, body)."""
    if is_mcp(scope):
        content: object = {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": SERVER_ERROR, "message": f"{failure.title}: {failure.message}"},
        }
        media = "application/json"
    else:
        content = failure.problem(str(scope.get("path", "")) or None)
        media = PROBLEM_JSON
    body = json.dumps(content).encode()
    raw = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode())]
    if failure.retry_after is not None:
        raw.append((b"retry-after", str(failure.retry_after).encode()))
    raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items())
    await send({"type": "http.response.start", "status": failure.status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
