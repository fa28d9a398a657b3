"""The server's log: stderr only, as text or as JSON lines, every line of a request tagged with it.

:func:`configure_logging` replaces the root logger's handlers with one on
stderr (never stdout: in stdio mode it is the MCP channel). ``log_format``
``text`` writes ``LEVEL logger: message``; ``json`` writes one JSON object a
line (python-json-logger) with these keys:

==============  ===================================================================
``timestamp``   ISO 8601, UTC
``level``       ``DEBUG`` .. ``CRITICAL``
``logger``      the logger's name (``conexus.access``, ``conexus.api.operations`` ...)
``message``     the message
``request_id``  the request's id (its ``X-Request-ID`` header, or one generated)
``trace_id``    the current trace (32 hex digits) and span (16), when there is one
``span_id``
``operation``   the operation being served (``search``, ``read`` ...) and its root
``root``
``transport``   ``rest``, ``mcp`` or ``cli``
``...``         what the line itself adds: the access line has ``method``, ``route``
                (the route template, never the query string), ``status``,
                ``duration_ms``; the operation line has ``outcome`` and ``duration_ms``
==============  ===================================================================

Keys without a value are left out. What is never logged: request bodies,
query or issue text, file contents, API keys, tokens, connector secrets.
Rejected arguments are logged by name only.

The request's fields live in context variables (:func:`bind`), so every line
written while serving it carries them: in the event loop and in the worker
thread the operation runs on (``anyio.to_thread.run_sync`` copies the
context into the thread).
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

from conexus.observability.tracing import current_ids

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
#: Loggers that speak about every request at INFO; the server log stays about Conexus.
NOISY_LOGGERS = ("mcp", "httpx", "httpx2", "uvicorn.access", "uvicorn.error", "sse_starlette")
#: Accepted ``X-Request-ID`` values: a bounded token that cannot forge a log line or a header.
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")

_FIELDS = ("request_id", "operation", "root", "transport")
_context: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"conexus_log_{name}", default=None) for name in _FIELDS
}
_HANDLER_MARK = "_conexus_handler"


def request_id_from(header: str | None) -> str:
    """The client's ``X-Request-ID`` when it is a plain token of at most 128 characters, else a new id."""
    if header is not None and REQUEST_ID_RE.match(header):
        return header
    return uuid.uuid4().hex


@contextmanager
def bind(**fields: str | None) -> Iterator[None]:
    """Tag every log line written inside the block (this task or thread, and threads it starts
    with a copied context) with ``fields``: request_id, operation, root, transport."""
    tokens = []
    for name, value in fields.items():
        if value is not None:
            tokens.append((_context[name], _context[name].set(value)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bound(name: str) -> str | None:
    """The value :func:`bind` gave ``name`` in the current context."""
    return _context[name].get()


class RequestContextFilter(logging.Filter):
    """Adds the request's fields and the current trace and span ids to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _context.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        ids = current_ids()
        if ids is not None and getattr(record, "trace_id", None) is None:
            record.trace_id, record.span_id = ids
        return True


class _JsonLines(JsonFormatter):
    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in log_data.items() if v is not None}


class _Text(logging.Formatter):
    """``LEVEL logger: message``, with ``[request …]`` when the line belongs to a request."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} [request {request_id}]" if request_id else line


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``log_format`` (``text`` or ``json``)."""
    if log_format == "json":
        return _JsonLines(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
        )
    return _Text("%(levelname)s %(name)s: %(message)s")


def configure_logging(
    log_format: str = "text", log_level: str = "info", *, stream: TextIO | None = None
) -> logging.Handler:
    """Log to stderr (or ``stream``) in ``log_format``; Conexus' loggers at ``log_level``, others at WARNING.

    Replaces the handler a previous call installed and a plain stderr handler
    (``logging.basicConfig``'s, which the CLI group installs), so no line is
    written twice or in two formats. Python warnings a library emits (urllib3's
    about SOCKS support, when something imports ``requests``) become log records
    too, so in ``json`` every stderr line is JSON. Returns the handler.
    """
    logging.captureWarnings(True)
    root = logging.getLogger()
    for old in list(root.handlers):
        plain_stderr = type(old) is logging.StreamHandler and old.stream in (sys.stderr, sys.__stderr__)
        if getattr(old, _HANDLER_MARK, False) or plain_stderr:
            root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(RequestContextFilter())
    root.addHandler(handler)
    level = getattr(logging, log_level.upper(), logging.INFO)
    root.setLevel(max(logging.WARNING, level))  # other libraries: warnings and worse only
    logging.getLogger("conexus").setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, level))
    return handler
