"""A third-party client: the MCP Inspector CLI (npm) lists the tools, calls them, and runs the loop.

The Inspector is installed once into a cache folder outside the repository
(``$CONEXUS_TEST_CACHE``, default ``~/.cache/conexus-tests``) and reused. The
tests skip only when npm itself is missing; with npm present, a failed
install fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from tests.server.conftest import SERVE, server_env, start_http_server
from tests.server.workflow import assistant_loop

pytestmark = pytest.mark.timeout(900)  # the first run installs the Inspector from npm

INSPECTOR_VERSION = "2.12.0"
INSTALL_TIMEOUT_S = 600
RUN_TIMEOUT_S = 120


def _cache_dir() -> Path:
    base = os.environ.get("CONEXUS_TEST_CACHE") or str(Path.home() / ".cache" / "conexus-tests")
    return Path(base) / f"mcp-inspector-{INSPECTOR_VERSION}"


@pytest.fixture(scope="module")
def inspector() -> Path:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the MCP Inspector test needs node and npm")
    prefix = _cache_dir()
    binary = prefix / "node_modules" / ".bin" / "mcp-inspector"
    if not binary.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(prefix),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                f"@modelcontextprotocol/inspector@{INSPECTOR_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
        assert done.returncode == 0, f"npm install of the MCP Inspector failed:\n{done.stderr}"
    return binary


@pytest.fixture
def indexed_repo(repo: Path, home: Path) -> Path:
    """The repository indexed beforehand, so the first query has an index to answer from."""
    done = subprocess.run(
        [sys.executable, "-m", "conexus", "index", str(repo), "--quiet"],
        capture_output=True,
        text=True,
        env={**os.environ, **server_env(home)},
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    return repo


def run_inspector(binary: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "inspector-home"  # the Inspector may keep state under $HOME
    home.mkdir(exist_ok=True)
    return subprocess.run(
        [str(binary), "--cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(home)},
        timeout=RUN_TIMEOUT_S,
    )


def stdio_target(repo: Path, home: Path) -> list[str]:
    env_args = [f"{k}={v}" for k, v in server_env(home).items()]
    return [*(a for pair in env_args for a in ("-e", pair)), "--", sys.executable, *SERVE, str(repo)]


def _json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def test_the_inspector_lists_every_tool_without_schema_portability_errors(
    inspector: Path, indexed_repo: Path, home: Path, tmp_path: Path
) -> None:
    target = stdio_target(indexed_repo, home)
    env_part, command = target[: target.index("--")], target[target.index("--") :]
    data = _json(
        run_inspector(inspector, tmp_path, *env_part, "--method", "tools/list", "--strict", *command)
    )
    names = {t["name"] for t in data["tools"]}
    assert {
        "context_search",
        "context_localize",
        "context_read",
        "context_index_control",
        "context_connector_management",
    } <= names
    assert len(names) == 9 and "context_status" in names
    search = next(t for t in data["tools"] if t["name"] == "context_search")
    assert search["inputSchema"]["properties"]["query"]["maxLength"] == 200_000
    assert search["outputSchema"]["type"] == "object"


def test_the_inspector_calls_context_search_over_stdio(
    inspector: Path, indexed_repo: Path, home: Path, tmp_path: Path
) -> None:
    target = stdio_target(indexed_repo, home)
    env_part, command = target[: target.index("--")], target[target.index("--") :]
    data = _json(
        run_inspector(
            inspector,
            tmp_path,
            *env_part,
            "--method",
            "tools/call",
            "--tool-name",
            "context_search",
            "--tool-arg",
            "query=parse_header_links",
            "top_k=2",
            *command,
        )
    )
    assert not data.get("isError")
    hits = data["structuredContent"]["hits"]
    assert len(hits) == 2 and hits[0]["citation"] == "pkg/http_utils.py:4-10"
    assert "pkg/http_utils.py:4-10" in data["content"][0]["text"]


def test_the_inspector_calls_context_search_over_http(
    inspector: Path, indexed_repo: Path, home: Path, tmp_path: Path
) -> None:
    server = start_http_server([indexed_repo], home)
    try:
        data = _json(
            run_inspector(
                inspector,
                tmp_path,
                server.url,
                "--method",
                "tools/call",
                "--tool-name",
                "context_search",
                "--tool-arg",
                "query=Session",
                'kinds=["class"]',
            )
        )
    finally:
        stdout = server.stop()
    assert stdout == ""
    assert not data.get("isError"), data
    assert [h["symbol"] for h in data["structuredContent"]["hits"]] == ["Session"]


@pytest.mark.anyio
async def test_the_inspector_runs_the_whole_loop_over_http(
    inspector: Path, indexed_repo: Path, home: Path, tmp_path: Path
) -> None:
    """Index, search, read the cited lines, edit, see the edit: each step one Inspector CLI call
    (a fresh MCP session over streamable HTTP), as tests/server/test_client_workflows.py does for
    the Python client and REST."""
    server = start_http_server([indexed_repo], home)

    async def tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        args = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in arguments.items()]
        done = await anyio.to_thread.run_sync(
            lambda: run_inspector(
                inspector,
                tmp_path,
                server.url,
                "--method",
                "tools/call",
                "--tool-name",
                f"context_{name}",
                "--tool-arg",
                *args,
            )
        )
        data = _json(done)
        assert not data.get("isError"), data
        return dict(data["structuredContent"])

    try:
        await assistant_loop(indexed_repo, tool)
    finally:
        stdout = server.stop()
    assert stdout == ""
