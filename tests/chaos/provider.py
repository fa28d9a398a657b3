"""A real HTTP server on 127.0.0.1 speaking the OpenAI embeddings API, with faults on demand.

A hosted embedding provider is a remote paid service, so the tests fake it, at
its HTTP boundary only: Conexus' own ``OpenAIEmbedder`` talks to this server
over TCP exactly as it would to a provider. The vectors come from
``FakeEmbedder`` (deterministic), and the server can be told to fail:

- ``error(status, headers)``: every request answered with that status (a 500, a
  429 with ``Retry-After``);
- ``reset()``: every connection closed before an answer (a connection reset);
- ``stall()``: every request held until ``heal()`` (a provider that stops answering);
- ``fail_after(n, status)``: ``n`` requests answered, then errors (a provider that
  goes down in the middle of a build);
- ``heal()``: answer normally again.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from conexus.embedding import FakeEmbedder

DIM = 48


@dataclass
class Provider:
    """The fault the server plays, and what it saw."""

    url: str = ""
    requests: int = 0
    answered: int = 0
    mode: str = "ok"  # ok | error | reset | stall
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    budget: int | None = None  # requests still answered before ``mode`` applies
    healed: threading.Event = field(default_factory=threading.Event)
    stalled: threading.Event = field(default_factory=threading.Event)  # a request is being held
    lock: threading.Lock = field(default_factory=threading.Lock)
    model: FakeEmbedder = field(default_factory=lambda: FakeEmbedder(DIM))

    def error(self, status: int, headers: dict[str, str] | None = None) -> None:
        with self.lock:
            self.mode, self.status, self.headers, self.budget = "error", status, headers or {}, None
            self.healed.clear()

    def reset(self) -> None:
        with self.lock:
            self.mode, self.budget = "reset", None
            self.healed.clear()

    def stall(self) -> None:
        with self.lock:
            self.mode, self.budget = "stall", None
            self.healed.clear()

    def fail_after(self, n: int, status: int = 500) -> None:
        with self.lock:
            self.mode, self.status, self.headers, self.budget = "error", status, {}, n
            self.healed.clear()

    def heal(self) -> None:
        with self.lock:
            self.mode, self.budget = "ok", None
        self.healed.set()

    def decide(self) -> str:
        """The fault for the request arriving now."""
        with self.lock:
            self.requests += 1
            if self.budget is not None and self.budget > 0:
                self.budget -= 1
                return "ok"
            return self.mode


@contextmanager
def provider() -> Iterator[Provider]:
    """Run the fake provider until the block ends; ``.url`` is its ``/v1`` base URL."""
    state = Provider()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as providers do: resets hit pooled connections

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            mode = state.decide()
            if mode == "stall":
                state.stalled.set()
                state.healed.wait(120)
                mode = "ok"
            if mode == "reset":
                # SO_LINGER 0: close() sends a TCP RST, what a dying proxy or provider does.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                return
            if mode == "error":
                payload = json.dumps({"error": {"message": f"provider fault {state.status}"}}).encode()
                self._send(state.status, payload, state.headers)
                return
            vectors = state.model.embed_documents(body["input"])
            data = [
                {"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)
            ]
            payload = json.dumps({"object": "list", "data": data, "model": body["model"]}).encode()
            with state.lock:
                state.answered += 1
            self._send(200, payload, {"Content-Type": "application/json"})

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield state
    finally:
        state.heal()  # release stalled requests
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)
