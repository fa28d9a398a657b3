"""HTTP telemetry: the request id, the client's trace context, the access log line, ``GET /metrics``.

:class:`RequestTelemetry` is the outermost middleware of the app
(:func:`~conexus.server.http.app.create_app` installs it), so it sees every
answer, the ones rate limits and authentication give included:

* the request id is the client's ``X-Request-ID`` when it is a plain token of
  at most 128 characters, else a new one; it is echoed in the response's
  ``X-Request-ID`` and tags every log line written while serving it;
* a W3C ``traceparent`` (and ``tracestate``) header becomes the parent of the
  request's server span (``POST /api/v1/search``), so the operation's span
  and every log line of the request continue the client's trace;
* one INFO line on ``conexus.access`` per request: method, route template
  (``/api/v1/search``, ``/mcp``; never the query string), status, duration.

``/metrics`` encodes the default registry with prometheus-client's own
encoders: the text format 0.0.4, or OpenMetrics when the scraper asks for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import anyio
import anyio.to_thread
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conexus.observability.instrument import incoming
from conexus.observability.tracing import span

access_logger = logging.getLogger("conexus.access")

METRICS_PATH = "/metrics"
REQUEST_ID_HEADER = "x-request-id"
UNMATCHED_ROUTE = "unmatched"  # any path no route serves: one label value, not one per probe


async def metrics_endpoint(request: Request) -> Response:
    """Every metric of the default registry (the catalogue, the roots' state, the process)."""
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    # Collecting reads each root's index (SQLite): off the event loop.
    body = await anyio.to_thread.run_sync(encoder, REGISTRY)
    return Response(body, headers={"Content-Type": content_type})


def metrics_route() -> BaseRoute:
    """``GET /metrics``, in the text format 0.0.4 or OpenMetrics, as the scraper's ``Accept`` asks."""
    return Route(METRICS_PATH, endpoint=metrics_endpoint, methods=["GET"], include_in_schema=False)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}


def route_template(scope: Scope) -> str:
    """The template of the route that served ``scope`` (after routing), or ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    app = scope.get("app")
    wanted = str(scope.get("path", ""))
    for candidate in getattr(app, "routes", ()):
        if getattr(candidate, "path", None) == wanted and "{" not in wanted:
            return wanted
    return UNMATCHED_ROUTE


class RequestTelemetry:
    """ASGI middleware: request id, trace context and the access log line of every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: Mapping[str, str] = _headers(scope)
        started = time.perf_counter()
        status = 500  # what the client sees when the app fails before answering
        method = str(scope.get("method", ""))
        with (
            incoming(headers) as request_id,
            span(f"{method} request", {"http.request.method": method}, kind=SpanKind.SERVER) as http_span,
        ):
            # Handlers that run elsewhere (the MCP SDK's session task) find them here.
            state = scope.setdefault("state", {})
            state["request_id"] = request_id
            state["trace_context"] = otel_context.get_current()

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    message = {
                        **message,
                        "headers": [
                            *message.get("headers", []),
                            (b"x-request-id", request_id.encode("ascii")),
                        ],
                    }
                await send(message)

            try:
                await self.app(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                route = route_template(scope)
                http_span.update_name(f"{method} {route}")
                http_span.set_attribute("http.route", route)
                http_span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    http_span.set_status(Status(StatusCode.ERROR))
                access_logger.info(
                    "%s %s %d %.1f ms",
                    method,
                    route,
                    status,
                    seconds * 1000,
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                    },
                )
