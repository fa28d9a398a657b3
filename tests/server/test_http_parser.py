"""The bounded httptools protocol, over a real socket: a request head past 16 KB is refused with
431 and its connection closed, whether it comes at once, in pieces, or after a first request on
a kept-alive connection; heads within the bound, and bodies of any size, are served."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from conexus.server.http.parser import MAX_HEAD_BYTES, http_protocol
from conexus.server.http.serve import listening_socket


async def echo_length(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A tiny ASGI app: answers the length of the request body."""
    if scope["type"] != "http":
        return
    size = 0
    more = True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]}
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    assert http_protocol() != "h11", "httptools is a dependency: the bounded protocol must be in use"
    sock = listening_socket("127.0.0.1", 0)
    config = uvicorn.Config(
        echo_length, http=http_protocol(), log_config=None, log_level="critical", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield sock.getsockname()[:2]
    server.should_exit = True
    thread.join(10)
    sock.close()


def _request(headers: int = 0, body: bytes = b"") -> bytes:
    padding = b"X-Padding: " + b"a" * headers + b"\r\n" if headers else b""
    return b"POST /x HTTP/1.1\r\nHost: t\r\n" + padding + b"Content-Length: %d\r\n\r\n" % len(body) + body


def _exchange(address: tuple[str, int], *pieces: bytes) -> bytes:
    """Send ``pieces`` on one connection (a short pause between them) and read until it closes or idles."""
    with socket.create_connection(address, timeout=5) as conn:
        for piece in pieces:
            try:
                conn.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break  # refused and closed while we were still writing
            time.sleep(0.05)
        received = b""
        conn.settimeout(1)
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return received


def test_a_head_within_the_bound_and_a_large_body_are_served(address: tuple[str, int]) -> None:
    answer = _exchange(address, _request(headers=MAX_HEAD_BYTES - 200, body=b"b" * 300_000))
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"300000")


def test_a_head_past_the_bound_is_refused_with_431_at_once_or_in_pieces(address: tuple[str, int]) -> None:
    big = _request(headers=40_000)
    assert _exchange(address, big).startswith(b"HTTP/1.1 431")
    pieces = [big[i : i + 4096] for i in range(0, len(big), 4096)]
    assert _exchange(address, *pieces).startswith(b"HTTP/1.1 431")


def test_a_kept_alive_connection_is_bounded_for_its_next_request_too(address: tuple[str, int]) -> None:
    answer = _exchange(address, _request(body=b"12345"), _request(headers=40_000))
    first, _, rest = answer.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200") and rest.startswith(b"5")
    assert b"HTTP/1.1 431" in rest
    # The server goes on serving other connections.
    assert _exchange(address, _request(body=b"ok")).startswith(b"HTTP/1.1 200")
