"""The HTTP/1.1 parser the server runs: uvicorn's httptools protocol, with a bound on the request head.

httptools (llhttp, in C) parses faster than h11 (pure Python): under 200 sessions on two
cores the server answered 8% more requests with it (49.4 against 45.4 per second, one
run each; docs/reliability.md). But uvicorn's httptools protocol takes a request head of
any size, where h11 refuses one past 16 KB: a client could make the server hold
megabytes of headers per connection. :class:`BoundedHttpTools` counts the request line's
URL and the headers as the parser hands them over, and the bytes that arrive while a
head is still incomplete (one that never ends); past :data:`MAX_HEAD_BYTES` it answers
``431 Request Header Fields Too Large`` and closes the connection (other connections are
served as usual). What it holds before refusing is the bound plus one read of the
transport.

Without httptools (a platform with no wheel), :func:`http_protocol` names h11, which has
its own bound.
"""

from __future__ import annotations

import asyncio
import importlib.util

#: The longest request head (request line and headers) accepted: h11's default, which uvicorn keeps.
MAX_HEAD_BYTES = 16 * 1024

REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\n"
    b"content-length: 38\r\n"
    b"\r\n"
    b"request head larger than 16384 bytes\r\n"
)


def http_protocol() -> type[asyncio.Protocol] | str:
    """What uvicorn's ``http`` option gets: :class:`BoundedHttpTools`, or ``"h11"`` without httptools."""
    if importlib.util.find_spec("httptools") is None:
        return "h11"
    return _bounded_httptools()


def _bounded_httptools() -> type[asyncio.Protocol]:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class BoundedHttpTools(HttpToolsProtocol):
        """uvicorn's httptools protocol refusing a request head past :data:`MAX_HEAD_BYTES`."""

        _in_head = True  # a connection starts with a request's head
        _received = 0  # bytes received while the head was incomplete (a head that never ends)
        _parsed = 0  # bytes of the request line's URL and of the headers parsed
        _refused = False

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head, self._received, self._parsed = True, 0, 0

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)  # ": " and CRLF
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def _count(self, size: int) -> None:
            self._parsed += size
            if self._parsed > MAX_HEAD_BYTES:
                # uvicorn stops parsing and answers through send_400_response (below: a 431).
                self._refused = True
                raise ValueError("request head too large")

        def send_400_response(self, msg: str) -> None:
            if not self._refused:
                super().send_400_response(msg)
                return
            self._refuse()

        def _refuse(self) -> None:
            if not self.transport.is_closing():
                self.transport.write(REFUSAL)
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                self._received += len(data)
            super().data_received(data)
            # A head still incomplete past the bound (one that never ends): refuse before reading on.
            if self._in_head and self._received > MAX_HEAD_BYTES:
                self._refuse()

    return BoundedHttpTools
