"""Reading a request body in an ASGI middleware, bounded, and handing it on unchanged."""

from __future__ import annotations

from starlette.types import Message, Receive


class BodyTooLargeError(Exception):
    """The body passed the limit; ``size`` is how much had arrived by then."""

    def __init__(self, size: int) -> None:
        super().__init__(f"request body over the limit ({size} bytes so far)")
        self.size = size


async def read_body(receive: Receive, max_bytes: int) -> bytes | None:
    """The whole body, read as it arrives (chunked or not); None when the client disconnected.

    Raises:
        BodyTooLargeError: more than ``max_bytes`` arrived (nothing past that is read).
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLargeError(size)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields ``body`` once, then defers to the real one (for disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
