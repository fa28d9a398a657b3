"""JSON-RPC 2.0 framing checks shared by the stdio relay and the HTTP endpoint.

The SDK parses a request whose ``id`` is an object, an array, a float or a
boolean as a *notification* (it drops the id), so such a request got no reply
over stdio and ``202 Accepted`` over HTTP; and over HTTP a message that is not
JSON-RPC at all was answered ``-32602`` with a raw pydantic dump. JSON-RPC 2.0
("Request object", "Error object") wants ``-32700`` for unparseable text and
``-32600`` for an invalid request, with a null id when the id cannot be read.
:func:`check_message` gives every transport that one answer.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
from pydantic import ValidationError


def _error(code: int, message: str, msg_id: str | int | None = None) -> types.JSONRPCError:
    return types.JSONRPCError(jsonrpc="2.0", id=msg_id, error=types.ErrorData(code=code, message=message))


def _valid_id(value: Any) -> bool:
    # MCP narrows JSON-RPC's id to a string or an integer (never null for a request).
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


class MalformedMessageError(Exception):
    """A message that is not valid JSON-RPC; ``reply`` is the error to answer it with."""

    def __init__(self, reply: types.JSONRPCError) -> None:
        super().__init__(reply.error.message)
        self.reply = reply

    def body(self) -> dict[str, Any]:
        """The reply as a JSON object (``id`` kept even when null, as JSON-RPC requires)."""
        return {
            "jsonrpc": "2.0",
            "id": self.reply.id,
            "error": {"code": self.reply.error.code, "message": self.reply.error.message},
        }


def check_message(raw: str | bytes) -> types.JSONRPCMessage:
    """The parsed message.

    Raises:
        MalformedMessageError: with the ``-32700`` or ``-32600`` reply (null id unless a valid one was sent).
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedMessageError(
            _error(types.PARSE_ERROR, "Parse error: the message is not valid JSON")
        ) from None
    except RecursionError:
        # Arrays or objects nested past Python's recursion limit (``[[[[...`` 100,000 deep):
        # left uncaught, this ended the stdio server.
        raise MalformedMessageError(
            _error(types.PARSE_ERROR, "Parse error: the message is nested too deeply")
        ) from None
    if isinstance(data, list):
        raise MalformedMessageError(
            _error(types.INVALID_REQUEST, "Invalid Request: JSON-RPC batches are not supported by MCP")
        )
    if not isinstance(data, dict):
        raise MalformedMessageError(
            _error(types.INVALID_REQUEST, "Invalid Request: a JSON-RPC message is a JSON object")
        )
    if "method" in data and "id" in data and not _valid_id(data["id"]):
        raise MalformedMessageError(
            _error(types.INVALID_REQUEST, "Invalid Request: id must be a string or an integer")
        )
    msg_id = data.get("id") if _valid_id(data.get("id")) and _encodable(data.get("id")) else None
    try:
        message = types.jsonrpc_message_adapter.validate_python(data, by_name=False)
    except ValidationError:
        raise MalformedMessageError(
            _error(types.INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message", msg_id)
        ) from None
    # The SDK parses the text again with pydantic's own JSON parser, which refuses two things
    # Python's accepts: an unpaired surrogate escape ("\ud800", not Unicode) and nesting deeper
    # than its limit (a few hundred levels). It then dropped the message without any reply, so
    # a request waited forever; it is refused here instead, with the parser's reason.
    try:
        types.jsonrpc_message_adapter.validate_json(raw, by_name=False)
    except ValidationError as exc:
        reason = exc.errors()[0].get("msg", "invalid JSON") if exc.errors() else "invalid JSON"
        raise MalformedMessageError(_error(types.PARSE_ERROR, f"Parse error: {reason}", msg_id)) from None
    return message


def _encodable(value: object) -> bool:
    """Whether an id can be written back in UTF-8 (a string id may hold an unpaired surrogate)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
