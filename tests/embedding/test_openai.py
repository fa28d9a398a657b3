"""``OpenAIEmbedder`` against a real HTTP server on 127.0.0.1 that speaks the OpenAI embeddings API."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conexus.config import Settings
from conexus.embedding import FakeEmbedder, create_embedder
from conexus.embedding.openai_embedder import OpenAIEmbedder
from conexus.errors import EmbeddingError

API_KEY = "sk-test-0123456789abcdef-secret"
DIM = 48


@dataclass
class FakeOpenAI:
    """What the server answers (a queue of forced statuses, then real embeddings) and what it saw."""

    forced: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    model: FakeEmbedder = field(default_factory=lambda: FakeEmbedder(DIM))


@pytest.fixture
def server() -> Iterator[tuple[str, FakeOpenAI]]:
    state = FakeOpenAI()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                )
                forced = state.forced.pop(0) if state.forced else None
            if forced is not None:
                status, headers, text = forced
                self._send(status, text.encode(), headers)
                return
            if self.path != "/v1/embeddings":
                self._send(404, b'{"error": {"message": "not found"}}', {})
                return
            inputs = body["input"]
            vectors = state.model.embed_documents(inputs) * 3.0  # not unit length: the client normalises
            data = [
                {"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)
            ]
            data.reverse()  # order by "index", not by position
            payload = {"object": "list", "data": data, "model": body["model"], "usage": {"total_tokens": 1}}
            self._send(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def embedder(server: tuple[str, FakeOpenAI]) -> Iterator[OpenAIEmbedder]:
    url, _state = server
    sleeps: list[float] = []
    e = OpenAIEmbedder(
        "text-embedding-test", base_url=url, api_key=API_KEY, batch_size=4, sleep=sleeps.append
    )
    e.sleeps = sleeps  # type: ignore[attr-defined]
    try:
        yield e
    finally:
        e.close()


def test_documents_are_embedded_in_batches_in_order_and_normalised(
    embedder: OpenAIEmbedder, server: tuple[str, FakeOpenAI]
) -> None:
    _url, state = server
    texts = [f"function number {i} parses headers" for i in range(10)] + [""]
    out = embedder.embed_documents(texts)
    assert out.shape == (11, DIM) and embedder.dim == DIM
    np.testing.assert_allclose(out, FakeEmbedder(DIM).embed_documents([*texts[:10], " "]), atol=1e-6)
    assert [len(r["body"]["input"]) for r in state.requests] == [4, 4, 3]
    assert all(
        r["auth"] == f"Bearer {API_KEY}" and r["body"]["model"] == "text-embedding-test"
        for r in state.requests
    )
    assert all("" not in r["body"]["input"] for r in state.requests)  # servers may reject empty strings


def test_the_dimension_is_discovered_from_the_first_response(embedder: OpenAIEmbedder) -> None:
    assert embedder.dim == DIM
    assert embedder.embed_query("q").shape == (DIM,)
    assert embedder.embed_documents([]).shape == (0, DIM)


def test_a_429_is_retried_after_the_delay_the_server_asks_for(
    embedder: OpenAIEmbedder, server: tuple[str, FakeOpenAI]
) -> None:
    _url, state = server
    state.forced = [(429, {"Retry-After": "0"}, '{"error": {"message": "rate limited"}}')]
    vector = embedder.embed_query("retry me")
    assert vector.shape == (DIM,)
    assert len(state.requests) == 2
    assert embedder.sleeps == []  # type: ignore[attr-defined]  # Retry-After: 0 means now


def test_server_errors_are_retried_with_bounded_exponential_backoff(
    server: tuple[str, FakeOpenAI],
) -> None:
    url, state = server
    sleeps: list[float] = []
    e = OpenAIEmbedder(
        "m", base_url=url, api_key=API_KEY, max_retries=3, backoff_base=0.5, sleep=sleeps.append
    )
    try:
        state.forced = [(503, {}, "overloaded")] * 10
        with pytest.raises(EmbeddingError, match="after 4 attempts: HTTP 503"):
            e.embed_documents(["x"])
        assert len(state.requests) == 4
        assert len(sleeps) == 3 and sleeps[0] < sleeps[1] < sleeps[2] <= e.backoff_max
        state.forced = [(500, {}, "oops"), (502, {}, "bad gateway")]
        assert e.embed_documents(["y"]).shape == (1, DIM)
    finally:
        e.close()


def test_a_query_is_retried_once_then_fails_so_the_search_can_answer_without_vectors(
    server: tuple[str, FakeOpenAI],
) -> None:
    url, state = server
    sleeps: list[float] = []
    e = OpenAIEmbedder("m", base_url=url, max_retries=5, sleep=sleeps.append)
    try:
        state.forced = [(500, {}, "oops")] * 10
        with pytest.raises(EmbeddingError, match="after 2 attempts: HTTP 500"):
            e.embed_query("x")
        assert len(state.requests) == 2 and len(sleeps) == 1
        state.forced = [(429, {"Retry-After": "0"}, "slow down")]
        assert e.embed_query("y").shape == (DIM,)
    finally:
        e.close()


def test_a_rejected_key_is_an_embedding_error_that_never_shows_the_key(
    embedder: OpenAIEmbedder, server: tuple[str, FakeOpenAI], caplog: pytest.LogCaptureFixture
) -> None:
    _url, state = server
    caplog.set_level(logging.DEBUG)
    echo = json.dumps({"error": {"message": f"Incorrect API key provided: {API_KEY}"}})
    state.forced = [(401, {}, echo)]
    with pytest.raises(EmbeddingError) as info:
        embedder.embed_query("x")
    assert "401" in str(info.value) and "API key" in str(info.value)
    assert API_KEY not in str(info.value)
    assert API_KEY not in caplog.text
    assert len(state.requests) == 1  # not retried


def test_other_client_errors_fail_at_once(embedder: OpenAIEmbedder, server: tuple[str, FakeOpenAI]) -> None:
    _url, state = server
    state.forced = [(400, {}, '{"error": {"message": "input too long"}}')]
    with pytest.raises(EmbeddingError, match=r"HTTP 400.*input too long"):
        embedder.embed_query("x")
    assert len(state.requests) == 1


def test_an_unreachable_server_is_an_embedding_error_after_bounded_retries(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps: list[float] = []
    e = OpenAIEmbedder("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, sleep=sleeps.append)
    try:
        with pytest.raises(EmbeddingError, match="after 3 attempts: ConnectError"):
            e.embed_documents(["x"])
        assert len(sleeps) == 2
    finally:
        e.close()


def test_create_embedder_builds_the_openai_client_from_settings(server: tuple[str, FakeOpenAI]) -> None:
    url, state = server
    e = create_embedder(
        Settings(
            home=Path("/nonexistent"),
            embedder="openai:nomic-embed",
            openai_base_url=url,
            openai_api_key=API_KEY,
        )
    )
    try:
        assert e.id == f"openai:nomic-embed@{url.split('/')[2]}"
        assert e.embed_documents(["a", "b"]).shape == (2, DIM)
        assert state.requests[-1]["auth"] == f"Bearer {API_KEY}"
    finally:
        assert isinstance(e, OpenAIEmbedder)
        e.close()
