"""What an MCP client sends over streamable HTTP, and how its answers are read: one copy for
the Locust users (``load/locustfile.py``) and the one-client cost table (``load/service_time.py``)."""

from __future__ import annotations

import json
from typing import Any

MCP_PATH = "/mcp"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
PROTOCOL_VERSION = "2025-06-18"
#: The MCP tool of each operation of the mix.
TOOLS = {
    "search": "context_search",
    "localize": "context_localize",
    "related": "context_get_related_info",
    "grep": "context_grep",
    "read": "context_read",
}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "conexus-load", "version": "1"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def session_headers(session_id: str | None) -> dict[str, str]:
    """The headers of a request in the session ``session_id``."""
    return {**MCP_HEADERS, "mcp-session-id": session_id or ""}


def tool_call(request_id: int, operation: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The ``tools/call`` message of ``operation`` (a key of :data:`TOOLS`)."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": TOOLS[operation], "arguments": arguments},
    }


def sse_message(text: str) -> dict[str, Any]:
    """The JSON-RPC message of an SSE answer (the last ``data:`` line holding one)."""
    message: dict[str, Any] = {}
    for line in text.splitlines():
        if line.startswith("data:"):
            data = line[5:].strip()
            if data:
                message = json.loads(data)
    return message


def answer(content_type: str, text: str) -> dict[str, Any]:
    """The JSON-RPC message of a POST's answer, sent as JSON or as an SSE stream."""
    return sse_message(text) if "text/event-stream" in content_type else dict(json.loads(text))


def tool_failure(message: dict[str, Any]) -> str | None:
    """Why a ``tools/call`` answer is a failure (a JSON-RPC error, or ``isError``), or None."""
    result = message.get("result") or {}
    if "error" in message or result.get("isError"):
        return f"tool error: {json.dumps(message)[:300]}"
    return None
