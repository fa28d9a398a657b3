"""Spans per request, search stage and index phase; the client's trace continued; OTLP export for real."""

from __future__ import annotations

import gzip
import sys
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from conexus.errors import ConfigError
from conexus.observability import tracing
from tests.observability.live import eventually, live_server, make_service
from tests.server.conftest import make_repo, start_http_server

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = tracing.use_provider(provider)
    yield exporter
    tracing.use_provider(previous)
    provider.shutdown()


def _named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def test_a_request_span_continues_the_clients_trace_and_holds_the_search_stages(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    repo = make_repo(tmp_path / "repo")
    service = make_service(tmp_path / "home", repo)
    try:
        with live_server(service) as server:
            spans.clear()
            response = server.post(
                "search", {"query": "parse_header_links Link header"}, headers={"traceparent": TRACEPARENT}
            )
            assert response.status_code == 200
            assert response.headers["x-request-id"]
            eventually(lambda: _named(spans.get_finished_spans(), "conexus.search"), 10, "the request span")
    finally:
        service.close()
    finished = spans.get_finished_spans()
    (http,) = _named(finished, "POST /api/v1/search")  # the server span, child of the client's
    assert _hex(http.context.trace_id, 32) == CLIENT_TRACE
    assert http.parent is not None and _hex(http.parent.span_id, 16) == CLIENT_SPAN
    assert http.attributes is not None and http.attributes["http.response.status_code"] == 200
    (request,) = _named(finished, "conexus.search")
    assert request.parent is not None and request.parent.span_id == http.context.span_id
    assert request.attributes is not None
    assert request.attributes["conexus.operation"] == "search"
    assert request.attributes["conexus.transport"] == "rest"
    assert request.attributes["conexus.root"] == repo.name
    assert request.attributes["conexus.status"] == "ok"
    for stage in ("lexical", "vector", "exact", "fusion"):
        (child,) = _named(finished, f"search.{stage}")
        assert child.parent is not None and child.parent.span_id == request.context.span_id
        assert child.context.trace_id == request.context.trace_id


def test_a_failed_request_records_its_exception_and_an_mcp_call_continues_the_trace(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    repo = make_repo(tmp_path / "repo")
    service = make_service(tmp_path / "home", repo)
    try:
        with live_server(service) as server:
            assert server.post("read", {"path": "no/such.py"}).status_code == 404

            async def tool_call() -> None:
                http = httpx2.AsyncClient(headers={"traceparent": TRACEPARENT})
                async with (
                    http,
                    Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client,
                ):
                    assert not (await client.call_tool("context_grep", {"pattern": "retry"})).is_error

            anyio.run(tool_call)
            eventually(lambda: _named(spans.get_finished_spans(), "conexus.grep"), 10, "the grep span")
    finally:
        service.close()
    finished = spans.get_finished_spans()
    (failed,) = _named(finished, "conexus.read")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None and failed.attributes["conexus.status"] == "client_error"
    assert [e.name for e in failed.events] == ["exception"]
    (grep,) = _named(finished, "conexus.grep")
    assert grep.attributes is not None and grep.attributes["conexus.transport"] == "mcp"
    assert _hex(grep.context.trace_id, 32) == CLIENT_TRACE


def test_an_index_job_has_a_span_per_phase(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    service = make_service(tmp_path / "home", make_repo(tmp_path / "repo"))
    service.close()
    finished = spans.get_finished_spans()
    (job,) = _named(finished, "index.job")
    assert job.attributes is not None and job.attributes["conexus.outcome"] == "done"
    for phase in ("walk", "chunk", "embed", "write", "commit"):
        found = _named(finished, f"index.{phase}")
        assert found, f"no index.{phase} span"
        assert all(s.parent is not None and s.parent.span_id == job.context.span_id for s in found)


def test_otlp_is_refused_with_a_message_when_the_protocol_is_not_http() -> None:
    with pytest.raises(ConfigError, match="http/protobuf"):
        tracing.configure_tracing({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    with pytest.raises(ConfigError, match="not supported"):
        tracing.configure_tracing({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_otlp_without_the_extra_installed_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules makes the import fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(ConfigError, match=r"conexus\[otlp\]"):
        tracing.configure_tracing({"OTEL_TRACES_EXPORTER": "otlp"})


def test_export_is_off_by_default_and_the_sdk_can_be_disabled() -> None:
    previous = tracing.use_provider(None)
    try:
        provider = tracing.configure_tracing({})
        assert provider is not None
        assert not provider._active_span_processor._span_processors  # no exporter, ids only
        tracing.shutdown_tracing()
        assert tracing.configure_tracing({"OTEL_SDK_DISABLED": "true"}) is None
    finally:
        tracing.use_provider(previous)


class _Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver: POST /v1/traces with a protobuf ExportTraceServiceRequest."""

    received: list[ExportTraceServiceRequest]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        ok = self.path == "/v1/traces" and self.headers.get("Content-Type") == "application/x-protobuf"
        if ok:
            message = ExportTraceServiceRequest()
            message.ParseFromString(body)
            type(self).received.append(message)
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # keep the test output quiet
        pass


def test_a_server_with_otlp_configured_exports_its_spans_to_a_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _Receiver.received = []
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
    repo = make_repo(tmp_path / "repo")
    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_SERVICE_NAME": "conexus-under-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    for name, value in env.items():  # start_http_server passes this process's environment on
        monkeypatch.setenv(name, value)
    server = start_http_server([repo], tmp_path / "home")
    base = server.url.removesuffix("/mcp")
    try:
        with httpx.Client(timeout=30) as http:

            def indexed() -> bool:  # before the first index a search has no stages to trace
                body = http.post(f"{base}/api/v1/status", json={}).json()
                return bool(body["index_state"] == "ready" and body["status"].get("chunks"))

            eventually(indexed, 60, "the index is ready")
            response = http.post(
                f"{base}/api/v1/search", json={"query": "retry delay"}, headers={"traceparent": TRACEPARENT}
            )
            assert response.status_code == 200 and response.json()["hits"]

        def exported() -> set[str]:
            names: set[str] = set()
            for message in list(_Receiver.received):
                for resource_spans in message.resource_spans:
                    for scope_spans in resource_spans.scope_spans:
                        names.update(s.name for s in scope_spans.spans)
            # The request's span is the server's; its stages run in a search worker process,
            # which exports them in batches of its own.
            return names if {"conexus.search", "search.lexical", "search.fusion"} <= names else set()

        names = eventually(exported, 30, "the search span and its stages reach the collector")
    finally:
        server.stop()
        receiver.shutdown()
        receiver.server_close()
    assert {"search.lexical", "search.fusion"} <= names
    message = next(
        m
        for m in _Receiver.received
        for rs in m.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
        if s.name == "conexus.search"
    )
    (resource,) = [rs.resource for rs in message.resource_spans if rs.scope_spans]
    attributes = {a.key: a.value.string_value for a in resource.attributes}
    assert attributes["service.name"] == "conexus-under-test"
    search = next(
        s
        for rs in message.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
        if s.name == "conexus.search"
    )
    assert search.trace_id.hex() == CLIENT_TRACE
    stages = [
        st
        for m in _Receiver.received
        for rs in m.resource_spans
        for ss in rs.scope_spans
        for st in ss.spans
        if st.name.startswith("search.")
    ]
    traced = {st.name for st in stages if st.trace_id.hex() == CLIENT_TRACE}  # one trace across processes
    assert {"search.lexical", "search.fusion"} <= traced
