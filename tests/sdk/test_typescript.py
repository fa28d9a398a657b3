"""The TypeScript SDK (sdk/typescript) under Node against live servers (issues #15 and #16).

Two pytest tests drive the whole Node side, so CI runs it with the Python suite:

1. the generated types match ``docs/reference/openapi.json`` (``npm run check:generated``);
2. tsup builds the ESM and CommonJS bundles, and the sources and the examples type-check;
3. three ``conexus serve --http`` processes start on free loopback ports over real indexes of
   copies of ``tests/fixtures/golden_repo``: one behind API keys (an admin and a read key from
   ``conexus keys create``), one with a per-address rate limit of one request a second, one
   that serves one request at a time (``--max-concurrent 1``) and sheds the others with 503;
4. ``node --test sdk/typescript/test/`` runs against them (search -> read -> edit -> see the edit
   over REST, MCP over HTTP and MCP over stdio; auth failures; a 429 and a 503 retried; abort; the packed
   tarball installed into a fresh folder running the README's examples) and any Node failure
   fails this test.

Skipped only when node or npm is missing (CI has both); ``scripts/test`` installs the SDK's npm
dependencies (``npm ci --prefix sdk/typescript``), and this test does so too when they are absent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import PACKAGE_PARENT, HttpServer, server_env, start_http_server

REPO = Path(__file__).resolve().parents[2]
SDK = REPO / "sdk" / "typescript"
GOLDEN = REPO / "tests" / "fixtures" / "golden_repo"
NPM_TIMEOUT_S = 600  # `npm ci` from an empty cache downloads ~100 MB
BUILD_TIMEOUT_S = 300
NODE_TESTS_TIMEOUT_S = 600
INDEX_TIMEOUT_S = 180

pytestmark = pytest.mark.timeout(NPM_TIMEOUT_S + BUILD_TIMEOUT_S + NODE_TESTS_TIMEOUT_S + INDEX_TIMEOUT_S)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed: the TypeScript SDK tests need node and npm")
    return found


def _run(cmd: list[str], *, timeout: float, env: dict[str, str] | None = None, cwd: Path = SDK) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(cmd)} failed ({done.returncode}):\n{output[-20000:]}"
    return output


def _conexus(home: Path, *args: str) -> str:
    command = [sys.executable, "-m", "conexus", *args]
    return _run(command, timeout=INDEX_TIMEOUT_S, env=server_env(home), cwd=REPO)


def _indexed_copy(base: Path, name: str, home: Path) -> Path:
    repo = base / name
    shutil.copytree(GOLDEN, repo)
    _conexus(home, "index", str(repo), "--quiet")
    return repo


@pytest.fixture(scope="module")
def npm() -> str:
    _tool("node")
    npm = _tool("npm")
    if not (SDK / "node_modules" / ".bin" / "tsup").exists():
        _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], timeout=NPM_TIMEOUT_S)
    return npm


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The live servers and keys, as the environment the Node tests read."""
    base = tmp_path_factory.mktemp("sdk")
    home = base / "home"
    repo = _indexed_copy(base, "http-repo", home)
    admin = json.loads(_conexus(home, "keys", "create", "sdk-admin", "--scope", "admin", "--json"))
    reader = json.loads(_conexus(home, "keys", "create", "sdk-reader", "--scope", "read", "--json"))
    started: list[HttpServer] = []
    try:
        main = start_http_server([repo], home)
        started.append(main)
        limited_home = base / "limited-home"
        limited_repo = _indexed_copy(base, "limited-repo", limited_home)
        limited = start_http_server(
            [limited_repo], limited_home, "--no-watch", "--rate-per-address", "1", "--burst-per-address", "1"
        )
        started.append(limited)
        shedding_home = base / "shedding-home"
        shedding_repo = _indexed_copy(base, "shedding-repo", shedding_home)
        shedding = start_http_server([shedding_repo], shedding_home, "--no-watch", "--max-concurrent", "1")
        started.append(shedding)
        stdio_home = base / "stdio-home"
        stdio_repo = _indexed_copy(base, "stdio-repo", stdio_home)
        python_path = os.pathsep.join(p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH", "")) if p)
        yield {
            "CONEXUS_TEST_URL": main.url.removesuffix("/mcp"),
            "CONEXUS_TEST_REPO": str(repo),
            "CONEXUS_TEST_ADMIN_KEY": _secret(admin),
            "CONEXUS_TEST_READ_KEY": _secret(reader),
            "CONEXUS_TEST_LIMITED_URL": limited.url.removesuffix("/mcp"),
            "CONEXUS_TEST_SHEDDING_URL": shedding.url.removesuffix("/mcp"),
            "CONEXUS_TEST_PYTHON": sys.executable,
            "CONEXUS_TEST_PYTHONPATH": python_path,
            "CONEXUS_TEST_STDIO_REPO": str(stdio_repo),
            "CONEXUS_TEST_STDIO_HOME": str(stdio_home),
            "CONEXUS_TEST_OPENAPI": str(REPO / "docs" / "reference" / "openapi.json"),
        }
    finally:
        for server in started:
            server.stop()


def _node_test_files() -> list[str]:
    files = sorted(str(p.relative_to(SDK)) for p in (SDK / "test").glob("*.test.mjs"))
    assert files, "sdk/typescript/test has no *.test.mjs"
    return files


def _secret(created: dict[str, object]) -> str:
    secret = created.get("secret") or created.get("key")
    assert isinstance(secret, str), created
    return secret


def test_the_sdk_types_are_those_generated_from_the_committed_openapi_document(npm: str) -> None:
    # docs/reference/openapi.json is itself checked against the code by tests/server/test_reference.py.
    _run([npm, "run", "--silent", "check:generated"], timeout=BUILD_TIMEOUT_S)


def test_the_typescript_sdk_builds_and_passes_its_node_tests_against_live_servers(
    npm: str, servers: dict[str, str]
) -> None:
    _run([npm, "run", "--silent", "build"], timeout=BUILD_TIMEOUT_S)
    _run([npm, "run", "--silent", "typecheck"], timeout=BUILD_TIMEOUT_S)  # the examples need the build
    node = _tool("node")
    output = _run(
        [node, "--test", "--test-reporter=spec", "--test-concurrency=1", *_node_test_files()],
        timeout=NODE_TESTS_TIMEOUT_S,
        env=servers,
    )
    summary = re.findall(r"^ℹ (tests|pass|fail|cancelled|skipped) (\d+)$", output, re.M)
    counts = {kind: int(n) for kind, n in summary}
    assert counts.get("tests", 0) > 0, output[-5000:]
    assert counts.get("fail") == 0 and counts.get("cancelled") == 0, output[-5000:]
    assert counts.get("pass") == counts["tests"], f"{counts}: every Node test passes, none skipped"
    print(output)  # shown with -s / -rP: the spec reporter's list of what ran
