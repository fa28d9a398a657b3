"""The outermost middleware marks light HTTP requests interactive (conexus.server.http.priority)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import httpx
from starlette.types import Receive, Scope, Send

from conexus import priority
from conexus.server.http.body import read_body
from conexus.server.http.priority import PEEK_BYTES, InteractiveRequests, heavy_message


def _call(tool: str) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": tool, "arguments": {}}}


def test_a_tool_call_is_heavy_by_the_operation_table() -> None:
    assert heavy_message(json.dumps(_call("context_grep")).encode()) is True
    assert heavy_message(json.dumps(_call("context_localize")).encode()) is True
    assert heavy_message(json.dumps(_call("context_search")).encode()) is False
    assert heavy_message(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize"}).encode()) is False
    assert heavy_message(json.dumps([_call("context_read"), _call("context_grep")]).encode()) is True
    assert heavy_message(b"{not json") is None
    assert heavy_message(b"\xff\xfe") is None
    assert heavy_message(b"[1, 2]") is None
    assert heavy_message(b"[" * 100_000 + b"]" * 100_000) is None  # deeper than the parser goes


class _Recorder:
    """An ASGI app that answers with what it saw: interactive requests in flight, and the body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        seen = priority.in_flight()
        body = await read_body(receive, 10 * PEEK_BYTES) or b""
        answer = json.dumps({"in_flight": seen, "body": body.decode("utf-8", "replace")}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def _ask(method: str, path: str, content: bytes | list[bytes] = b"") -> dict[str, object]:
    """The recorder's answer; ``content`` as a list is sent in chunks, with no Content-Length."""

    async def chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    async def main() -> dict[str, object]:
        transport = httpx.ASGITransport(app=InteractiveRequests(_Recorder()))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            body = chunks(content) if isinstance(content, list) else content
            response = await client.request(method, path, content=body)
            return dict(response.json())

    return anyio.run(main)


def test_light_requests_are_interactive_and_heavy_ones_are_not() -> None:
    search = json.dumps(_call("context_search")).encode()
    grep = json.dumps(_call("context_grep")).encode()
    assert _ask("POST", "/mcp", search) == {"in_flight": 1, "body": search.decode()}  # replayed unchanged
    assert _ask("POST", "/mcp", grep) == {"in_flight": 0, "body": grep.decode()}
    assert _ask("GET", "/mcp")["in_flight"] == 0  # a session's event stream, open for its life
    assert _ask("DELETE", "/mcp")["in_flight"] == 1
    assert _ask("POST", "/api/v1/search", b"{}")["in_flight"] == 1
    assert _ask("POST", "/api/v1/grep", b"{}")["in_flight"] == 0
    assert _ask("GET", "/healthz")["in_flight"] == 1
    assert priority.in_flight() == 0  # every mark was released


def test_a_body_it_cannot_peek_cheaply_passes_through_unmarked_and_whole() -> None:
    big = json.dumps({**_call("context_search"), "padding": "x" * (PEEK_BYTES + 10)}).encode()
    assert _ask("POST", "/mcp", big) == {"in_flight": 0, "body": big.decode()}
    chunked = [b'{"jsonrpc": "2.0", ', b'"id": 1, "method": "ping"}']  # no Content-Length
    assert _ask("POST", "/mcp", chunked) == {"in_flight": 0, "body": b"".join(chunked).decode()}
    assert _ask("POST", "/mcp", b"{broken") == {"in_flight": 0, "body": "{broken"}
