"""The HTTP application: MCP at ``/mcp``, REST at ``/api/v1``, health, OpenAPI, on one ASGI app.

:func:`create_app` is the one factory; later layers (authentication, rate
limits, metrics) hand it Starlette middleware and extra routes instead of
building their own app.

======================  ==================================================
``POST /mcp``           MCP streamable HTTP (the SDK's session manager)
``POST /api/v1/<op>``   one route per operation (:mod:`.rest`)
``GET /healthz``        liveness: the process serves requests
``GET /readyz``         readiness: every root's index opens and answers (503 while the
                        database is unreachable); says the replica's role
``GET /metrics``        Prometheus metrics (:mod:`.telemetry`, ``docs/observability.md``)
``GET /openapi.json``   the OpenAPI 3.1 document, generated from the models
``GET /docs``           interactive API docs (assets served locally)
``GET /``               the web console (:mod:`conexus.server.console`)
======================  ==================================================

Authentication (:mod:`.auth`) is installed here, with the RFC 9728 resource
metadata at ``/.well-known/oauth-protected-resource``: the app is open until
a key store exists or OAuth is configured, then every route but health,
the metadata and the console's static page and assets needs a bearer key or
JWT (the console sends the key its user enters with every API call).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from conexus import __version__
from conexus.api.limits import MAX_ARGUMENT_BYTES
from conexus.api.operations import OPERATIONS
from conexus.app.keys import KeyStore
from conexus.app.service import ConexusService
from conexus.app.telemetry import state_collector
from conexus.errors import ConexusError
from conexus.observability import metrics
from conexus.observability.instrument import prime_requests
from conexus.server.console import console_routes, is_console_path
from conexus.server.http.auth import Authenticator, AuthMiddleware, metadata_routes
from conexus.server.http.body import BodyTooLargeError, read_body, replaying
from conexus.server.http.limits import Guards
from conexus.server.http.rest import API_PREFIX, BodyLimit, install_error_handlers, rest_router
from conexus.server.http.telemetry import RequestTelemetry, metrics_route
from conexus.server.lanes import Lanes
from conexus.server.mcp.app import ConexusMCP
from conexus.server.mcp.jsonrpc import MalformedMessageError, check_message
from conexus.server.settings import ServerSettings

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"


class JsonRpcGuard:
    """ASGI wrapper of the SDK's MCP endpoint: malformed JSON-RPC gets a JSON-RPC error, not 202 or -32602.

    Only POST bodies are checked (GET opens the SSE stream, DELETE ends a session);
    a valid body is replayed to the SDK unchanged.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        try:
            raw = await read_body(receive, self.max_bytes)
        except BodyTooLargeError:
            await _send_json(send, 413, _rpc_error(-32600, "Invalid Request: message too large"))
            return
        if raw is None:
            return
        try:
            check_message(raw)
        except MalformedMessageError as bad:
            await _send_json(send, 400, bad.body())
            return
        await self.app(scope, replaying(raw, receive), send)


def _rpc_error(code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}


async def _send_json(send: Send, status: int, content: dict[str, Any]) -> None:
    response = JSONResponse(content, status_code=status)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


def _mcp_routes(mcp: ConexusMCP, host: str, guards: Guards) -> tuple[list[BaseRoute], Any]:
    """The SDK's MCP route (guarded) and its session manager's lifespan."""
    max_bytes = guards.settings.max_body_bytes
    sdk_app = mcp.server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        host=host,
        transport_security=guards.mcp_security(),  # the SDK's DNS-rebinding check, on, with our hosts
        max_request_body_size=max_bytes,
    )
    routes: list[BaseRoute] = []
    for route in sdk_app.routes:
        if isinstance(route, Route) and route.path == MCP_PATH:
            routes.append(Route(MCP_PATH, endpoint=JsonRpcGuard(route.app, max_bytes), methods=None))
        else:
            routes.append(route)
    return routes, sdk_app.router.lifespan_context


def readiness(service: ConexusService) -> tuple[bool, list[dict[str, Any]]]:
    """Whether every served root's index opens and answers a read, with one entry per root."""
    ok = True
    roots = []
    for root in service.roots:
        entry: dict[str, Any] = {"name": root.name}
        try:
            entry["generation"] = root.engine.generation()
            entry["ready"] = True
        except ConexusError as exc:
            ok = False
            entry.update(ready=False, reason=str(exc))
        except Exception as exc:  # a probe must answer: a crash is a root that is not ready
            logger.exception("readiness check of %s crashed", root.name)
            ok = False
            entry.update(ready=False, reason=f"unexpected {type(exc).__name__}; see the server log")
        roots.append(entry)
    return ok and bool(roots), roots


def create_app(
    service: ConexusService,
    mcp: ConexusMCP,
    *,
    host: str = "127.0.0.1",
    settings: ServerSettings | None = None,
    middleware: Sequence[Middleware] = (),
    routes: Sequence[BaseRoute] = (),
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    """The ASGI app serving ``service``: MCP, REST, health, OpenAPI and docs.

    ``settings`` are the server's settings (defaults when None); the limits and
    transport guards they configure (:mod:`conexus.server.http.limits`) wrap
    everything. ``middleware`` comes next (outermost first), then the body
    limit; ``routes`` are added as they are. ``on_shutdown`` runs in the
    lifespan's shutdown (uvicorn re-raises SIGTERM/SIGINT once it has shut
    down, so code after serving may never run).
    """
    settings = settings or ServerSettings()
    metrics.MAX_CONCURRENT.set(settings.max_concurrent)  # saturation = in-flight / this bound
    authenticator = Authenticator.from_settings(KeyStore(service.home), settings)
    guards = Guards(settings, host)  # limits and transport guards (conexus.server.http.limits)
    mcp.request_timeout_s = settings.request_timeout_s
    # One set of worker lanes for both doors: REST and MCP requests share the same workers.
    lanes = Lanes(settings.workers, settings.heavy_workers, settings.queue_timeout_s)
    mcp.lanes = lanes
    mcp_routes, mcp_lifespan = _mcp_routes(mcp, host, guards)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state_collector().attach(service)  # /metrics reports this service's roots while it runs
        async with mcp_lifespan(app):
            try:
                yield
            finally:
                state_collector().detach(service)
                with anyio.CancelScope(shield=True):
                    try:
                        await guards.aclose()
                    finally:
                        lanes.close()
                        if on_shutdown is not None:
                            await on_shutdown()

    app = FastAPIOffline(
        title="Conexus",
        version=__version__,
        summary="Codebase context for AI coding assistants: cited, fresh code search over REST and MCP.",
        description=(
            "Every operation is also an MCP tool at `/mcp` (streamable HTTP) with the same input and "
            f"output schemas. Routes live under `{API_PREFIX}`; errors are RFC 9457 problem details."
        ),
        openapi_url="/openapi.json",
        lifespan=lifespan,
        middleware=[
            # Outermost: every answer, refusals included, has a request id, a span and an access line.
            Middleware(RequestTelemetry),
            *guards.middleware(),
            *middleware,
            Middleware(AuthMiddleware, authenticator=authenticator, public=is_console_path),
            # A REST body is the operation's arguments: bounded by the argument limit too.
            Middleware(BodyLimit, max_bytes=min(settings.max_body_bytes, MAX_ARGUMENT_BYTES)),
        ],
        redoc_url=None,
    )
    app.state.settings = settings  # middleware and routes read them here
    app.state.authenticator = authenticator
    prime_requests([op.name for op in OPERATIONS], ("rest", "mcp"))
    install_error_handlers(app)
    app.include_router(rest_router(service, lanes))

    @app.get("/healthz", tags=["health"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        """200 while the process serves requests."""
        return {"status": "ok", "version": __version__}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness",
        responses={503: {"description": "An index is missing, still being built, or its store fails"}},
    )
    async def readyz() -> JSONResponse:
        """200 when every served root's index opens and answers; 503 (with the reasons) otherwise."""
        ok, roots = await anyio.to_thread.run_sync(readiness, service)
        body = {"status": "ready" if ok else "not ready", "role": service.role, "roots": roots}
        return JSONResponse(
            body, status_code=200 if ok else 503, headers=None if ok else {"Retry-After": "5"}
        )

    app.router.routes.extend(mcp_routes)
    app.router.routes.append(metrics_route())
    app.router.routes.extend(metadata_routes(authenticator))
    app.router.routes.extend(console_routes())
    app.router.routes.extend(routes)
    return app
