"""MCP over stdin/stdout, with JSON-RPC framing errors answered instead of dropped.

The SDK's ``stdio_server`` parses each line itself and either drops what it
cannot parse or, for a request with a malformed id, mistakes it for a
notification (no reply). Lines are therefore read here and checked with
:func:`conexus.server.mcp.jsonrpc.check_message` first: a line that is not a
valid message is answered ``-32700``/``-32600`` at once, the rest go to the
SDK unchanged. Standard input is read from a private duplicate of fd 0, and
fd 0 itself points at the null device while serving, so nothing else in the
process (a handler, a child process) can consume protocol bytes.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.abc
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

from conexus.server.mcp.app import ConexusMCP
from conexus.server.mcp.jsonrpc import MalformedMessageError, check_message

logger = logging.getLogger(__name__)


class _CheckedLines:
    """Async line iterator over stdin that answers malformed lines itself (through ``reject``)."""

    def __init__(self, source: anyio.AsyncFile[str]) -> None:
        self._source = source
        self.write: anyio.abc.ObjectSendStream[SessionMessage] | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        async for line in self._source:
            if not line.strip():
                continue
            try:
                check_message(line)
            except MalformedMessageError as bad:
                logger.info("answered a malformed message with %d", bad.reply.error.code)
                if self.write is not None:
                    await self.write.send(SessionMessage(bad.reply))
                continue
            yield line


@contextlib.contextmanager
def _private_stdin() -> Iterator[anyio.AsyncFile[str]]:
    """A text stream over a duplicate of fd 0, with fd 0 pointed at the null device meanwhile."""
    private = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    raw = os.fdopen(private, "rb", closefd=False)
    try:
        yield anyio.wrap_file(io.TextIOWrapper(raw, encoding="utf-8", errors="replace"))
    finally:
        with contextlib.suppress(OSError):
            os.dup2(private, 0)
        # ``private`` stays open, as the SDK does for its duplicates: a reader thread may still be
        # blocked on it, and a closed descriptor number could be reused under that thread.


async def serve_stdio(app: ConexusMCP) -> None:
    """Serve MCP over stdin/stdout until stdin closes."""
    with _private_stdin() as stdin:
        lines = _CheckedLines(stdin)
        async with stdio_server(stdin=lines) as (read_stream, write_stream):  # type: ignore[arg-type]
            lines.write = write_stream
            # Every line the SDK sees passed the same parse in _CheckedLines: none can fail it.
            await app.server.run(read_stream, write_stream, app.server.create_initialization_options())
    sys.stdout.flush()
