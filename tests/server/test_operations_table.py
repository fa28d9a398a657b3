"""One operation table drives MCP, REST and the CLI: each operation is exposed on all three, with the
same input schema, and answers the same request with the same result.

One real ``conexus serve --http`` serves a small repository; the official MCP client talks to
``/mcp``, httpx to ``/api/v1``, and the ``conexus`` CLI runs both in-process (``--local``) and
through the running server (its default when a server serves the root).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import click
import httpx
import pytest
from mcp import Client

from conexus.api.operations import OPERATIONS
from conexus.cli import main as cli_main
from conexus.server.mcp.schema import input_schema
from tests.server.conftest import HttpServer, eventually, make_repo, server_env, start_http_server

# One request per operation, as JSON arguments.
REQUESTS: dict[str, dict[str, Any]] = {
    "search": {"query": "parse_header_links Link header", "top_k": 3, "snippet_lines": 12},
    "localize": {"issue": "Parsing a Link header returns the wrong rel value", "max_files": 3},
    "related": {"target": "pkg/http_utils.py"},
    "explain": {"target": "parse_header_links"},
    "grep": {"pattern": "def \\w+", "max_results": 20},
    "read": {"path": "pkg/session.py", "start_line": 1, "end_line": 5},
    "status": {"check_stale": True},
    "index": {"action": "status"},
    "connectors": {"action": "list"},
}

# The CLI spelling of the same requests.
CLI_ARGS: dict[str, list[str]] = {
    "search": ["search", "parse_header_links Link header", "-k", "3", "--lines", "12"],
    "localize": ["localize", "-", "--files", "3"],
    "related": ["related", "pkg/http_utils.py"],
    "explain": ["explain", "parse_header_links"],
    "grep": ["grep", "def \\w+", "--max-results", "20"],
    "read": ["read", "pkg/session.py", "--start-line", "1", "--end-line", "5"],
    "status": ["status", "--check-stale"],
    "index": ["index-control", "status"],
    "connectors": ["connectors", "list"],
}
CLI_COMMAND = {name: args[0] for name, args in CLI_ARGS.items()}
# Fields a hand-written command spells differently (the input model's name -> the CLI parameters).
CLI_SPELLING = {"work_context": {"active_file", "open_files"}, "issue": {"issue_source"}}

# Parts of a result that differ between two runs of the same request, or between the server and a
# one-shot CLI process (which watches nothing).
VOLATILE = {"took_ms", "elapsed_s", "started_at", "finished_at", "queued_at", "index_bytes", "watcher"}


def stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def comparable(name: str, data: dict[str, Any]) -> Any:
    """What must agree across transports (status answers carry live job state: compare their facts)."""
    if name in ("status", "index"):
        st = data["status"]
        keys = ("root", "exists", "files", "chunks", "languages", "skipped", "stale", "embedder_id")
        return {"root": data["root"], "index_state": data["index_state"], **{k: st.get(k) for k in keys}}
    return stable(data)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HttpServer, Path, Path]]:
    base = tmp_path_factory.mktemp("table")
    repo, home = make_repo(base / "repo"), base / "home"
    server = start_http_server([repo], home)
    base_url = server.url.removesuffix("/mcp")

    def ready() -> bool | None:
        r = httpx.post(base_url + "/api/v1/status", json={"check_stale": False}, timeout=30)
        data = r.json()
        idle = data["status"]["jobs"]["current"] is None and not data["status"]["jobs"]["queued"]
        return True if data["index_state"] == "ready" and idle else None

    anyio.run(eventually, _async(ready), 60.0, "the index is ready")
    try:
        yield server, repo, home
    finally:
        server.stop()


def _async(fn: Any) -> Any:
    async def run() -> Any:
        return await anyio.to_thread.run_sync(fn)

    return run


def rest(server: HttpServer, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(server.url.removesuffix("/mcp") + f"/api/v1/{name}", json=arguments, timeout=60)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def mcp_results(server: HttpServer) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every operation's tool schema and its result for REQUESTS, over one MCP session."""

    async def go() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        async with Client(server.url, read_timeout_seconds=60) as client:
            tools = {t.name: t.input_schema for t in (await client.list_tools()).tools}
            out = {}
            for op in OPERATIONS:
                result = await client.call_tool(op.tool, REQUESTS[op.name])
                assert not result.is_error, result.content
                assert result.structured_content is not None
                out[op.name] = result.structured_content
            return tools, out

    return anyio.run(go)


def cli(home: Path, repo: Path, name: str, *, local: bool) -> dict[str, Any]:
    argv = [*CLI_ARGS[name], "--json", "--root", str(repo)] + (["--local"] if local else [])
    r = subprocess.run(
        [sys.executable, "-m", "conexus", *argv],
        input=REQUESTS["localize"]["issue"] if name == "localize" else None,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **server_env(home)},
    )
    assert r.returncode == 0, r.stderr
    data: dict[str, Any] = json.loads(r.stdout)
    if name == "status":  # `conexus status --json` prints the status document itself
        return {"root": repo.name, "index_state": data["index_state"], "status": data}
    return data


def test_every_operation_has_a_request_and_a_cli_spelling_here() -> None:
    assert set(REQUESTS) == set(CLI_ARGS) == {op.name for op in OPERATIONS}


def test_each_operation_is_exposed_on_mcp_rest_and_the_cli_with_the_same_input_schema(
    served: tuple[HttpServer, Path, Path],
) -> None:
    server, _repo, _home = served
    tools, _ = mcp_results(server)
    spec = httpx.get(server.url.removesuffix("/mcp") + "/openapi.json", timeout=30).json()
    for op in OPERATIONS:
        assert tools[op.tool] == input_schema(op.input), op.tool
        route = spec["paths"][f"/api/v1/{op.name}"]["post"]
        body = route["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"].rsplit("/", 1)[-1] == op.input.__name__
        assert set(spec["components"]["schemas"][op.input.__name__]["properties"]) == set(
            op.input.model_fields
        )
        command = cli_main.get_command(click.Context(cli_main), CLI_COMMAND[op.name])
        assert isinstance(command, click.Command)
        cli_params = {p.name for p in command.params}
        for field in set(op.input.model_fields) - {"root"}:
            assert {field} & cli_params or CLI_SPELLING.get(field, set()) <= cli_params, (op.name, field)


def test_each_operation_answers_the_same_request_the_same_on_every_transport(
    served: tuple[HttpServer, Path, Path],
) -> None:
    server, repo, home = served
    _, over_mcp = mcp_results(server)
    for op in OPERATIONS:
        over_rest = rest(server, op.name, REQUESTS[op.name])
        op.output.model_validate(over_rest)
        expected = comparable(op.name, over_rest)
        assert comparable(op.name, over_mcp[op.name]) == expected, op.name
        assert comparable(op.name, cli(home, repo, op.name, local=False)) == expected, op.name
        assert comparable(op.name, cli(home, repo, op.name, local=True)) == expected, op.name
