"""Real servers for the MCP tests: ``conexus serve`` subprocesses over stdio and over HTTP on loopback.

Every server runs with ``CONEXUS_EMBEDDER=fake`` and a private ``CONEXUS_HOME``.
Clients are the SDK's own :class:`mcp.Client`: stdio servers are spawned by
it (``stdio_client``), HTTP servers are started here and announce their URL
on stderr (``--http 127.0.0.1:0`` binds a free port before announcing it).

Nothing here sleeps to synchronise: :func:`eventually` polls a condition
until a deadline.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp_types import CallToolResult

import conexus
import conexus.cli

T = TypeVar("T")

# The folder holding the `conexus` package under test, so subprocesses import the same code.
PACKAGE_PARENT = str(Path(conexus.__file__).resolve().parent.parent)
SERVE = ["-m", "conexus", "serve"]
START_TIMEOUT_S = 60.0  # importing the MCP SDK alone takes seconds on a loaded CI machine
TRANSPORTS = ("stdio", "http")
URL_LINE = re.compile(r"(https?://\S+/mcp)")


def server_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a server under test: fake embedder, private data home."""
    path = os.pathsep.join(p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH", "")) if p)
    return {"CONEXUS_HOME": str(home), "CONEXUS_EMBEDDER": "fake", "PYTHONPATH": path, **extra}


def write(root: Path, rel: str, text: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def make_repo(root: Path) -> Path:
    """A small Python project: a test, a README, an ignored secret, a binary, a symlink leaving the root."""
    write(
        root,
        "pkg/http_utils.py",
        '"""HTTP helpers."""\n\n\n'
        "def parse_header_links(value: str) -> list[dict[str, str]]:\n"
        '    """Parse a Link header into a list of dicts with url and rel."""\n'
        "    links = []\n"
        '    for part in value.split(","):\n'
        '        url, _, rel = part.partition(";")\n'
        '        links.append({"url": url.strip(" <>"), "rel": rel.strip()})\n'
        "    return links\n\n\n"
        "def retry_delay(attempt: int) -> float:\n"
        '    """Exponential backoff between HTTP retries."""\n'
        "    return min(60.0, 0.5 * 2**attempt)\n",
    )
    write(
        root,
        "pkg/session.py",
        "from pkg.http_utils import parse_header_links, retry_delay\n\n\n"
        "class Session:\n"
        '    """A connection pool that follows redirects."""\n\n'
        "    def send(self, request: str) -> list[dict[str, str]]:\n"
        "        for attempt in range(3):\n"
        "            retry_delay(attempt)\n"
        "        return parse_header_links(request)\n",
    )
    write(root, "pkg/__init__.py", "")
    write(
        root,
        "tests/test_http_utils.py",
        "from pkg.http_utils import parse_header_links\n\n\n"
        "def test_parse_header_links() -> None:\n"
        '    assert parse_header_links("<a>; rel=next")[0]["url"] == "a"\n',
    )
    write(root, "README.md", "# Demo\n\nA demo project: sessions, retries and Link headers.\n")
    write(root, ".gitignore", "secret.env\n")
    write(root, "secret.env", "API_TOKEN=do-not-index-me\n")
    (root / "assets").mkdir()
    (root / "assets/logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    outside = root.parent / f"{root.name}-outside"
    write(outside, "leak.py", "LEAKED = 'outside the root'\n")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    return root


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what} (last: {last!r})")
        await anyio.sleep(0.02)  # polling interval, not synchronisation: the deadline decides


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


async def call(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    """Call a tool and fail the test with the server's message when it reports an error."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {text_of(result)}"
    return result


async def call_error(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    """Call a tool that must fail with isError; returns the message."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} should have failed: {text_of(result)[:500]}"
    assert result.structured_content is None
    message = text_of(result)
    assert "Traceback" not in message and 'File "' not in message
    return message


async def wait_ready(client: Client, root: str | None = None, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until the root's index exists and no job runs; returns the status."""

    async def ready() -> dict[str, Any] | None:
        args: dict[str, Any] = {"action": "status"}
        if root is not None:
            args["root"] = root
        st = (await call(client, "context_index_control", **args)).structured_content
        assert st is not None
        jobs = st["status"]["jobs"]
        idle = jobs["current"] is None and not jobs["queued"]
        return st if st["index_state"] == "ready" and idle else None

    return await eventually(ready, timeout, "the index is ready")


# -- servers ----------------------------------------------------------------------------------------


@dataclass
class HttpServer:
    """A ``conexus serve --http 127.0.0.1:0`` subprocess and its announced URL."""

    process: subprocess.Popen[str]
    url: str
    stderr_lines: list[str] = field(default_factory=list)

    def stop(self) -> str:
        """Terminate (SIGTERM, then kill) and return what it wrote to stdout."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        out = self.process.stdout.read() if self.process.stdout else ""
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return out


class StdioProcess:
    """``conexus serve ROOT`` over stdio, spoken to in raw lines (for the protocol and fuzz tests).

    Every stdout line is kept in ``lines``; those that parse as JSON go to ``messages``
    in order, the others to ``stray`` (stdout must carry only JSON-RPC). Stderr is
    drained into ``stderr`` so the server never blocks on a full pipe. ``None`` in
    ``messages`` means the server closed stdout.
    """

    def __init__(self, root: Path, home: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, *SERVE, str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **server_env(home)},
        )
        self.lines: list[bytes] = []
        self.stray: list[bytes] = []
        self.stderr: list[str] = []
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            try:
                self.messages.put(json.loads(line))
            except ValueError:
                self.stray.append(line)
        self.messages.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line.decode("utf-8", "replace"))

    def write(self, raw: bytes) -> None:
        """Send ``raw`` as one line."""
        assert self.process.stdin is not None
        self.process.stdin.write(raw + b"\n")
        self.process.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        """Send a JSON-RPC message (``"jsonrpc": "2.0"`` added)."""
        self.write(json.dumps({"jsonrpc": "2.0", **message}).encode())

    def next_message(self, timeout: float = START_TIMEOUT_S) -> dict[str, Any]:
        """The next JSON message on stdout; fails when stdout closed or nothing came in time."""
        try:
            message = self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout}s (a hang)") from None
        assert message is not None, "the server closed stdout:\n" + "".join(self.stderr[-40:])
        return message

    def close(self, timeout: float = 30.0) -> int:
        """Close stdin (the end of the session) and return the server's exit status."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code


def start_http_server(roots: list[Path], home: Path, *args: str) -> HttpServer:
    """Start an HTTP server and wait (bounded) for the URL line on its stderr."""
    cmd = [sys.executable, *SERVE, "--http", "127.0.0.1:0", *args, *map(str, roots)]
    process = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **server_env(home)},
    )
    lines: list[str] = []
    found: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # keeps draining stderr so the server never blocks on a full pipe
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            m = URL_LINE.search(line)
            if m:
                found.put(m.group(1))
        found.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        url = found.get(timeout=START_TIMEOUT_S)
    except queue.Empty:
        url = None
    if url is None:
        process.kill()
        process.wait(5)
        raise AssertionError("HTTP server did not start:\n" + "".join(lines))
    return HttpServer(process, url, lines)


@asynccontextmanager
async def connect(
    transport: str,
    roots: list[Path],
    home: Path,
    *args: str,
    log: Path | None = None,
) -> AsyncIterator[Client]:
    """A connected client to a fresh server: stdio (legacy handshake) or HTTP (the SDK's auto mode)."""
    async with AsyncExitStack() as stack:
        if transport == "stdio":
            log_path = log or home.parent / "server-stderr.log"
            errlog: TextIO = stack.enter_context(open(log_path, "a", encoding="utf-8"))  # noqa: SIM115
            params = StdioServerParameters(
                command=sys.executable, args=[*SERVE, *args, *map(str, roots)], env=server_env(home)
            )
            client = Client(
                stdio_client(params, errlog=errlog), mode="legacy", read_timeout_seconds=START_TIMEOUT_S
            )
        else:
            server = start_http_server(roots, home, *args)
            stack.callback(server.stop)
            client = Client(server.url, read_timeout_seconds=START_TIMEOUT_S)
        await stack.enter_async_context(client)  # every request is bounded by read_timeout_seconds
        yield client


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "conexus-home"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


# A raw MCP initialize request over streamable HTTP, for tests that speak the protocol by hand.
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
MCP_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}


def dump(value: Any) -> str:
    return json.dumps(value, indent=1)[:4000]


@pytest.fixture(scope="session")
def shared_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A repository and a data home shared by the read-only tests of a session."""
    base = tmp_path_factory.mktemp("shared")
    yield make_repo(base / "repo"), base / "conexus-home"
