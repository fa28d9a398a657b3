"""Raw stdio hygiene: JSON-RPC only on stdout, errors for bad input, no reply to notifications."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import conexus.cli
from tests.server.conftest import StdioProcess

pytestmark = pytest.mark.timeout(120)

PROTOCOL_VERSION = "2025-11-25"


class RawServer(StdioProcess):
    """A ``conexus serve`` subprocess spoken to line by line, every stdout line kept."""

    def send_line(self, line: str) -> None:
        self.write(line.encode())

    def response_to(self, request_id: Any, seen: list[dict[str, Any]]) -> dict[str, Any]:
        """Read until the response to ``request_id``, keeping everything read in ``seen``."""
        while True:
            message = self.next_message()
            seen.append(message)
            if message.get("id") == request_id and ("result" in message or "error" in message):
                return message


def test_the_conexus_cli_offers_the_serve_command() -> None:
    assert "serve" in conexus.cli.main.commands, "register it: main.add_command(serve) in conexus/cli.py"


def test_stdout_carries_only_json_rpc_and_bad_input_gets_errors_while_notifications_get_none(
    repo: Path, home: Path
) -> None:
    server = RawServer(repo, home)
    seen: list[dict[str, Any]] = []
    try:
        server.send(
            {
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "raw-test", "version": "0"},
                },
            }
        )
        init = server.response_to(1, seen)
        assert init["result"]["serverInfo"]["name"] == "conexus"
        assert init["result"]["protocolVersion"] == PROTOCOL_VERSION
        server.send({"method": "notifications/initialized"})

        server.send_line('{"jsonrpc": "2.0", "id": 2, "method": ')  # cut short: not JSON
        server.send_line("[1, 2, 3]")  # JSON, but not a JSON-RPC message
        server.send({"method": "notifications/made_up"})  # an unknown notification: ignored
        server.send({"method": "notifications/cancelled", "params": {"requestId": 999}})
        server.send({"id": 3, "method": "tools/teleport", "params": {}})
        server.send({"id": 4, "method": "tools/call", "params": {"name": "context_search", "arguments": []}})
        server.send({"id": 5, "method": "tools/call", "params": {"name": "nope", "arguments": {}}})
        server.send(
            {"id": 6, "method": "tools/call", "params": {"name": "context_search", "arguments": {"q": 1}}}
        )
        # Ids of the wrong type: the SDK alone mistook these for notifications and never answered.
        for bad_id in (1.5, {"a": 1}, [8], True):
            server.send({"id": bad_id, "method": "ping"})
        server.send({"id": 7, "method": "ping"})

        for request_id in (3, 4, 5, 6, 7):
            server.response_to(request_id, seen)
    finally:
        code = server.close(20)

    by_id: dict[Any, list[dict[str, Any]]] = {}
    assert server.stray == [], server.stray[:5]
    for message in seen:
        by_id.setdefault(message.get("id"), []).append(message)
    nulls = by_id.pop(None, [])
    assert sorted(m["error"]["code"] for m in nulls) == [-32700] + [-32600] * 5, nulls
    assert sum("id must be a string or an integer" in m["error"]["message"] for m in nulls) == 4
    assert all("method" not in m for m in nulls)  # errors, not notifications
    assert sorted(by_id) == [1, 3, 4, 5, 6, 7]  # one answer per request, none for notifications
    assert all(len(v) == 1 for v in by_id.values())
    assert by_id[3][0]["error"]["code"] == -32601
    assert by_id[4][0]["error"]["code"] == -32602
    assert by_id[5][0]["error"]["code"] == -32602 and "nope" in by_id[5][0]["error"]["message"]
    bad_args = by_id[6][0]["result"]
    assert bad_args["isError"] is True and "q: unknown argument" in bad_args["content"][0]["text"]
    assert by_id[7][0]["result"] == {} or "_meta" in by_id[7][0]["result"]

    assert code == 0, "".join(server.stderr)
    for line in server.lines:  # every stdout line, including any the loop above did not wait for
        message = json.loads(line)
        assert message["jsonrpc"] == "2.0"
        assert "id" in message or "method" in message
    assert any("serving repo" in line for line in server.stderr)
