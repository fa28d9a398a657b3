"""Replica roles of ``conexus serve --role``: a query replica answers queries and nothing that indexes.

Real servers (``conexus serve --http`` subprocesses) on one data home: an ``all``
replica builds the index, then a ``query`` replica serves it. Requests go over
loopback through REST and through the SDK's MCP client.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from conexus.api.errors import PROBLEM_BASE
from conexus.server.http.rest import PROBLEM_JSON
from tests.server.conftest import START_TIMEOUT_S, make_repo, start_http_server, write

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

API = "/api/v1"
INDEXING_TOOLS = {"context_index_control", "context_connector_management"}


def ready_status(base: str) -> dict[str, Any]:
    """Poll REST status until the root's index is ready and idle."""

    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(base_url=base, timeout=30) as http:
        while True:
            body = http.post(f"{API}/status", json={}).json()
            jobs = body["status"]["jobs"]
            if body["index_state"] == "ready" and jobs["current"] is None and not jobs["queued"]:
                return dict(body)
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready within {START_TIMEOUT_S}s: {body['message']}")
            time.sleep(0.05)  # polling interval; the deadline decides


async def test_a_query_replica_answers_queries_refuses_to_index_and_lists_no_indexing_tool(
    tmp_path: Path,
) -> None:
    repo, home = make_repo(tmp_path / "repo"), tmp_path / "home"
    indexer = start_http_server([repo], home, "--role", "index", "--rate-per-address", "0")
    try:
        status = ready_status(indexer.url.removesuffix("/mcp"))
        assert status["status"]["role"] == "index"
        async with Client(indexer.url, read_timeout_seconds=START_TIMEOUT_S) as client:
            assert {t.name for t in (await client.list_tools()).tools} >= INDEXING_TOOLS
    finally:
        indexer.stop()

    server = start_http_server([repo], home, "--role", "query", "--rate-per-address", "0")
    try:
        base = server.url.removesuffix("/mcp")
        with httpx.Client(base_url=base, timeout=30) as http:
            body = http.post(f"{API}/status", json={}).json()
            st = body["status"]
            assert st["role"] == "query" and body["roots"][0]["role"] == "query"
            assert st["watcher"]["enabled"] is False
            assert st["jobs"] == {"current": None, "queued": [], "recent": []}  # nothing indexed on start
            hits = http.post(f"{API}/search", json={"query": "parse_header_links"}).json()["hits"]
            assert hits[0]["path"] == "pkg/http_utils.py"

            for route, args in [
                ("index", {"action": "rebuild"}),
                ("index", {"action": "clear"}),
                ("index", {"action": "stop"}),
                ("connectors", {"action": "add", "kind": "filesystem", "path": str(repo)}),
            ]:
                refused = http.post(f"{API}/{route}", json=args)
                assert refused.status_code == 409, refused.text
                assert refused.headers["content-type"].startswith(PROBLEM_JSON)
                problem = refused.json()
                assert problem["type"] == PROBLEM_BASE + "query-replica"
                assert "serves queries only" in problem["detail"] and "role index or all" in problem["detail"]
            # Reading works where a write is refused: index status and the connector list.
            assert http.post(f"{API}/index", json={"action": "status"}).status_code == 200
            assert http.post(f"{API}/connectors", json={"action": "list"}).status_code == 200
            # No watcher: an edit is not indexed by this replica.
            write(repo, "pkg/fresh.py", "def zebra_quux():\n    return 1\n")
            st = http.post(f"{API}/status", json={}).json()["status"]
            assert st["jobs"]["current"] is None and st["jobs"]["queued"] == []

        async with Client(server.url, read_timeout_seconds=START_TIMEOUT_S) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert "context_search" in tools and "context_status" in tools
            assert not tools & INDEXING_TOOLS
            result = await client.call_tool("context_index_control", {"action": "rebuild"})
            assert result.is_error
            text = "".join(c.text for c in result.content if c.type == "text")
            assert "serves queries only" in text
    finally:
        server.stop()
