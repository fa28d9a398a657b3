"""The assistant's whole loop, once per kind of client: index, search, read the cited lines, edit, see it.

The official Python MCP client over stdio and over streamable HTTP, and plain
REST over HTTP. (The MCP Inspector CLI is tests/server/test_inspector.py; the
TypeScript SDK's client runs the same loop under Node in tests/sdk/.) Each
citation a search returns must be exactly the lines ``read`` gives back, and an
edit saved to disk must be searchable and readable within seconds, with no
reindex asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from tests.server.conftest import call, connect, eventually, start_http_server, wait_ready, write
from tests.server.workflow import Tool, assistant_loop

pytestmark = pytest.mark.anyio

TOOL_NAMES = {"search": "context_search", "read": "context_read"}


def _mcp_tool(client: Client) -> Tool:
    async def tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await call(client, TOOL_NAMES[name], **arguments)
        assert result.structured_content is not None
        return dict(result.structured_content)

    return tool


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_the_official_python_mcp_client_runs_the_wholeassistant_loop(
    transport: str, repo: Path, home: Path
) -> None:
    async with connect(transport, [repo], home) as client:
        await wait_ready(client)
        await assistant_loop(repo, _mcp_tool(client))


async def test_a_plain_rest_client_runs_the_wholeassistant_loop(repo: Path, home: Path) -> None:
    write(repo, "pkg/__init__.py", "")
    server = start_http_server([repo], home)
    base = server.url.removesuffix("/mcp")
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:

            async def tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
                response = await http.post(f"/api/v1/{name}", json=arguments)
                assert response.status_code == 200, response.text
                return dict(response.json())

            async def ready() -> bool:
                body = await tool("status", {})
                return bool(body["index_state"] == "ready" and body["status"].get("chunks"))

            await eventually(ready, 60, "the index is ready")
            await assistant_loop(repo, tool)
    finally:
        server.stop()
