"""JSON log lines on stderr: every line of a request carries its request id and trace id."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conexus.observability.logs import bind, configure_logging, request_id_from
from tests.observability.live import eventually
from tests.server.conftest import make_repo, start_http_server

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{CLIENT_TRACE}-b7ad6b7169203331-01"


@pytest.fixture
def json_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str], str]]:
    """``conexus serve --http`` with JSON logs at INFO: (base URL, its stderr lines, a secret it holds)."""
    repo = make_repo(tmp_path / "repo")
    secret = "zanzibar_quokka_token_1234"
    (repo / "pkg" / "settings.py").write_text(f"PASSWORD_HINT = '{secret}'\n", encoding="utf-8")
    monkeypatch.setenv("CONEXUS_LOG_FORMAT", "json")
    monkeypatch.setenv("CONEXUS_LOG_LEVEL", "info")
    server = start_http_server([repo], tmp_path / "home")
    try:
        yield server.url.removesuffix("/mcp"), server.stderr_lines, secret
    finally:
        server.stop()


def _records(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in list(lines) if line.strip()]


def test_every_line_is_json_and_a_requests_lines_share_its_request_id_and_trace_id(
    json_server: tuple[str, list[str], str],
) -> None:
    base, lines, secret = json_server
    with httpx.Client(timeout=30) as http:

        def ready() -> bool:
            return bool(http.post(f"{base}/api/v1/status", json={}).json()["index_state"] == "ready")

        eventually(ready, 60, "the index is ready")
        response = http.post(
            f"{base}/api/v1/search?debug=1",
            json={"query": f"password hint {secret}"},
            headers={"X-Request-ID": "req-42.alpha", "traceparent": TRACEPARENT},
        )
        assert response.status_code == 200
        assert response.headers["x-request-id"] == "req-42.alpha"
        forged = http.post(f"{base}/api/v1/status", json={}, headers={"X-Request-ID": "bad id; INFO forged"})
        generated = forged.headers["x-request-id"]
        assert generated != "bad id; INFO forged" and len(generated) == 32

    def mine() -> list[dict[str, Any]]:
        found = [r for r in _records(lines) if r.get("request_id") == "req-42.alpha"]
        return found if any(r["logger"] == "conexus.access" for r in found) else []

    records = eventually(mine, 10, "the request's access line")
    every = _records(lines)  # every line parses as JSON
    assert all({"timestamp", "level", "logger", "message"} <= r.keys() for r in every)
    access = next(r for r in records if r["logger"] == "conexus.access")
    assert access["method"] == "POST" and access["route"] == "/api/v1/search" and access["status"] == 200
    assert access["duration_ms"] >= 0 and access["level"] == "INFO"
    assert "debug=1" not in json.dumps(access)  # the route template, not the raw path
    operation = next(r for r in records if r["logger"] == "conexus.requests")  # written on the worker thread
    assert operation["operation"] == "search" and operation["outcome"] == "ok"
    assert operation["root"] == "repo" and operation["transport"] == "rest"
    assert operation["duration_ms"] >= 0
    for record in records:  # the client's trace, on every line of the request
        assert record["trace_id"] == CLIENT_TRACE and len(record["span_id"]) == 16

    # Without a traceparent the server starts a trace: the request's lines share its id.
    # The access line is written once the answer is sent: wait for it.
    def generated_lines() -> list[dict[str, Any]]:
        found = [r for r in _records(lines) if r.get("request_id") == generated]
        return found if any(r["logger"] == "conexus.access" for r in found) else []

    traces = {r.get("trace_id") for r in eventually(generated_lines, 10, "the second request's access line")}
    assert len(traces) == 1 and None not in traces
    # Neither the query text nor the file content it found reaches the log.
    assert secret not in "".join(lines)


def test_an_mcp_call_over_http_logs_under_the_http_requests_id(
    json_server: tuple[str, list[str], str],
) -> None:
    base, lines, _secret = json_server

    async def tool_call() -> None:
        http = httpx2.AsyncClient(headers={"X-Request-ID": "mcp-call-7"})
        async with http, Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client:
            assert not (await client.call_tool("context_read", {"path": "README.md"})).is_error

    anyio.run(tool_call)

    def operation() -> dict[str, Any] | None:
        return next(
            (
                r
                for r in _records(lines)
                if r.get("operation") == "read" and r["logger"] == "conexus.requests"
            ),
            None,
        )

    record = eventually(operation, 10, "the read operation's line")
    assert record["request_id"] == "mcp-call-7" and record["transport"] == "mcp"


def test_lines_written_in_a_thread_started_with_the_context_carry_the_request_fields() -> None:
    stream = io.StringIO()
    root, conexus = logging.getLogger(), logging.getLogger("conexus")
    saved = (list(root.handlers), root.level, conexus.level)
    handler = configure_logging("json", "debug", stream=stream)
    try:
        log = logging.getLogger("conexus.test")
        with bind(request_id="abc", operation="grep", root="main"):
            import contextvars

            worker = threading.Thread(target=contextvars.copy_context().run, args=(log.debug, "in a thread"))
            worker.start()
            worker.join()
        log.warning("outside")
    finally:
        root.removeHandler(handler)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        conexus.setLevel(saved[2])
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (inside["request_id"], inside["operation"], inside["root"]) == ("abc", "grep", "main")
    assert inside["level"] == "DEBUG" and inside["logger"] == "conexus.test"
    assert "request_id" not in outside


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        ("abc-123", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("two words", False),
        ("", False),
        (None, False),
    ],
)
def test_a_client_request_id_is_kept_only_when_it_is_a_short_plain_token(
    header: str | None, kept: bool
) -> None:
    assert (request_id_from(header) == header) is kept


def test_a_python_warning_is_a_json_log_line_too() -> None:
    import warnings

    logging.captureWarnings(False)  # pytest records warnings per test: start from its recorder
    stream = io.StringIO()
    handler = configure_logging("json", "info", stream=stream)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("SOCKS support needs PySocks", UserWarning, stacklevel=1)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.captureWarnings(False)
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines() if x.strip()]
    assert line["logger"] == "py.warnings" and "SOCKS support needs PySocks" in line["message"]
