"""The limits every request passes: concurrency (503), rate (429) and time (504).

Pure ASGI middleware (no ``BaseHTTPMiddleware``: it would buffer streamed MCP
answers and break cancellation). Probes and scrapes (:data:`EXEMPT_PATHS`)
are never shed, limited or timed: an overloaded server must still say so to
its orchestrator and to Prometheus. The MCP ``GET /mcp`` stream (server to
client notifications) lives as long as the session: it holds no worker, so
it is neither counted as in flight nor timed; the SDK bounds the sessions
(``max_sessions``, idle timeout). MCP tool calls are timed by the MCP adapter
itself (:class:`conexus.server.mcp.ConexusMCP`), because the SDK runs them in
the session's task, not in the HTTP request's.
"""

from __future__ import annotations

import hashlib
import logging
import time

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conexus.api.errors import Failure
from conexus.observability import metrics
from conexus.server.http.limits.ratelimit import RateLimiter
from conexus.server.http.limits.refusal import is_mcp, refuse

logger = logging.getLogger(__name__)

DEADLINE_SCOPE_KEY = "conexus.deadline"  # time.monotonic() at which RequestTimeout cancels the request
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
SHED_RETRY_AFTER_S = 1


def exempt(scope: Scope) -> bool:
    """Whether the request is a probe or a scrape (never limited)."""
    return str(scope.get("path", "")) in EXEMPT_PATHS


def is_mcp_stream(scope: Scope) -> bool:
    """Whether the request opens the long-lived MCP SSE stream (``GET /mcp``)."""
    return scope.get("method") == "GET" and is_mcp(scope)


def client_address(scope: Scope, *, trust_forwarded_for: bool = False) -> str | None:
    """The address whose bucket a request draws on: the socket peer, or the proxy's word for it.

    With ``trust_forwarded_for``, the last ``X-Forwarded-For`` entry: the one
    the proxy in front appended. Earlier entries are whatever the client sent
    (uvicorn's own proxy support would take the first one from a trusted peer).
    """
    if trust_forwarded_for:
        forwarded = [v.decode("latin-1") for k, v in scope.get("headers") or () if k == b"x-forwarded-for"]
        hops = [h.strip() for h in ",".join(forwarded).split(",") if h.strip()]
        if hops:
            return hops[-1]
    client = scope.get("client")
    return str(client[0]) if client else None


def key_id(scope: Scope) -> str | None:
    """The bucket id of the caller's bearer token: a digest, so the token is never stored or logged."""
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            if scheme.lower() == "bearer" and token:
                return hashlib.sha256(token.encode()).hexdigest()[:32]
    return None


class LoadShedding:
    """At most ``max_concurrent`` requests in flight; the next one gets 503 with Retry-After at once.

    Queueing would only turn overload into timeouts for everyone; an
    immediate 503 tells the client (and a load balancer) to go elsewhere or
    come back. The counter needs no lock: it is only touched on the event loop.
    """

    def __init__(self, app: ASGIApp, max_concurrent: int) -> None:
        self.app = app
        self.max_concurrent = max_concurrent
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or exempt(scope) or is_mcp_stream(scope):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_concurrent:
            metrics.SHED.inc()
            failure = Failure(
                503,
                "overloaded",
                "Server busy",
                f"The server is answering {self.max_concurrent} requests already; "
                f"retry in {SHED_RETRY_AFTER_S} s.",
                retry_after=SHED_RETRY_AFTER_S,
            )
            await refuse(scope, send, failure)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class RateLimit:
    """Token buckets per client address and per API key (bearer token); 429 with Retry-After when empty.

    A rate of 0 turns that bucket off. The address is the socket peer, or
    with ``trust_forwarded_for`` the proxy's ``X-Forwarded-For``
    (:func:`client_address`).
    """

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        *,
        rate_per_key: float,
        burst_per_key: int,
        rate_per_address: float,
        burst_per_address: int,
        trust_forwarded_for: bool = False,
    ) -> None:
        self.app = app
        self.trust_forwarded_for = trust_forwarded_for
        self.limiter = limiter
        self.per_key = (rate_per_key, max(1, burst_per_key))
        self.per_address = (rate_per_address, max(1, burst_per_address))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or exempt(scope):
            await self.app(scope, receive, send)
            return
        address = client_address(scope, trust_forwarded_for=self.trust_forwarded_for)
        key = key_id(scope)
        checks: list[tuple[str, str, tuple[float, int]]] = []
        if address and self.per_address[0] > 0:
            checks.append(("address", f"address:{address}", self.per_address))
        if key is not None and self.per_key[0] > 0:
            checks.append(("key", f"key:{key}", self.per_key))
        for label, bucket, (rate, burst) in checks:
            decision = await self.limiter.take(bucket, rate, burst)
            if not decision.allowed:
                metrics.RATE_LIMITED.labels(bucket=label).inc()
                wait = int(decision.retry_after_header)
                whose = "API key" if label == "key" else "client address"
                failure = Failure(
                    429,
                    "rate-limited",
                    "Too many requests",
                    f"The rate limit of this {whose} ({rate:g} requests/s, bursts of {burst}) is reached; "
                    f"retry in {wait} s.",
                    retry_after=wait,
                )
                await refuse(scope, send, failure)
                return
        await self.app(scope, receive, send)


class RequestTimeout:
    """Cancel a request that runs longer than ``timeout_s`` and answer 504.

    Cancelling the request cancels the endpoint's wait for its worker thread;
    the endpoint then sets :attr:`conexus.api.operations.Call.cancelled`, which
    the operation watches to stop what it started (an index job it owns).
    The deadline is in the scope (:data:`DEADLINE_SCOPE_KEY`) so that waits
    (``wait: true`` on index jobs) answer "still running" before it instead.
    MCP requests are timed per tool call by the MCP adapter instead.
    """

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or exempt(scope) or is_mcp(scope):
            await self.app(scope, receive, send)
            return
        scope[DEADLINE_SCOPE_KEY] = time.monotonic() + self.timeout_s
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with anyio.move_on_after(self.timeout_s) as limit:
            await self.app(scope, receive, tracking_send)
        if not limit.cancelled_caught:
            return
        method, path = scope.get("method"), scope.get("path")
        logger.warning("%s %s ran longer than %gs and was cancelled", method, path, self.timeout_s)
        if not started:  # once the answer has begun, all that is left is to cut it short
            failure = Failure(
                504,
                "timeout",
                "Request timed out",
                f"The request ran longer than {self.timeout_s:g} s and was stopped; narrow it "
                "(fewer paths, a smaller max_wait_s) or retry later.",
            )
            await refuse(scope, send, failure)
