"""The assistant's whole loop, once per kind of client: index, search, read the cited lines, edit, see it.

The official Python MCP client over stdio and over streamable HTTP, and plain
REST over HTTP. (The MCP Inspector CLI is tests/server/test_inspector.py; the
TypeScript SDK's client runs the same loop under Node in tests/sdk/.) Each
citation a search returns must be exactly the lines ``read`` gives back, and an
edit saved to disk must be searchable and readable within seconds, with no
reindex asked for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from tests.server.conftest import call, connect, eventually, start_http_server, wait_ready, write

pytestmark = pytest.mark.anyio

EDIT_WITHIN_S = 30.0
NEW_FUNCTION = "def pangolin_checksum(data: bytes) -> int:\n    return sum(data) % 251\n"

Tool = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


async def _loop(repo: Path, tool: Tool) -> None:
    found = await tool("search", {"query": "parse a Link header", "top_k": 5})
    hit = next(h for h in found["hits"] if h["path"] == "pkg/http_utils.py")
    assert hit["freshness"]["state"] == "fresh"
    cited = await tool(
        "read", {"path": hit["path"], "start_line": hit["start_line"], "end_line": hit["end_line"]}
    )
    on_disk = (repo / hit["path"]).read_text(encoding="utf-8").splitlines()
    assert [line["text"] for line in cited["lines"]] == on_disk[hit["start_line"] - 1 : hit["end_line"]]
    assert "def parse_header_links" in "\n".join(line["text"] for line in cited["lines"])

    with open(repo / "pkg/http_utils.py", "a", encoding="utf-8") as fh:
        fh.write("\n\n" + NEW_FUNCTION)

    async def edit_searchable() -> dict[str, Any] | None:
        answer = await tool("search", {"query": "pangolin_checksum", "top_k": 3})
        return next((h for h in answer["hits"] if "pangolin_checksum" in h.get("snippet", "")), None)

    new_hit = await eventually(edit_searchable, EDIT_WITHIN_S, "the edit is searchable")
    assert new_hit["path"] == "pkg/http_utils.py" and new_hit["freshness"]["state"] == "fresh"
    shown = await tool(
        "read",
        {"path": new_hit["path"], "start_line": new_hit["start_line"], "end_line": new_hit["end_line"]},
    )
    assert "def pangolin_checksum(data: bytes) -> int:" in [line["text"] for line in shown["lines"]]


TOOL_NAMES = {"search": "context_search", "read": "context_read"}


def _mcp_tool(client: Client) -> Tool:
    async def tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await call(client, TOOL_NAMES[name], **arguments)
        assert result.structured_content is not None
        return dict(result.structured_content)

    return tool


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_the_official_python_mcp_client_runs_the_whole_loop(
    transport: str, repo: Path, home: Path
) -> None:
    async with connect(transport, [repo], home) as client:
        await wait_ready(client)
        await _loop(repo, _mcp_tool(client))


async def test_a_plain_rest_client_runs_the_whole_loop(repo: Path, home: Path) -> None:
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
            await _loop(repo, tool)
    finally:
        server.stop()
