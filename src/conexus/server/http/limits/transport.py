"""Transport guards: security headers, Host validation, CORS, and the MCP SDK's DNS-rebinding check.

* :class:`SecurityHeaders` adds to every response ``X-Content-Type-Options:
  nosniff``, ``Referrer-Policy: no-referrer``, ``X-Frame-Options: DENY``, a
  Content-Security-Policy (``default-src 'none'`` for API answers; for HTML
  pages such as ``/docs``, same-origin assets plus the sha256 of each inline
  script, computed from the page itself), ``Cache-Control: no-store`` (except
  on static assets, which carry validators) and, over TLS only,
  ``Strict-Transport-Security``.
* :class:`HostCheck` answers 421 to a request whose ``Host`` header is not an
  allowed host (DNS rebinding: a hostile page whose name resolves to
  127.0.0.1 must not reach the server). Probes are exempt: an orchestrator
  calls them by pod address.
* The SDK's own check on ``/mcp`` stays on and is fed the same hosts, plus the
  allowed Origins (:func:`mcp_transport_security`); a browser Origin that is
  not allowed gets 403.
* CORS is off unless ``cors_origins`` is set (:func:`cors_middleware`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence

from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conexus.api.errors import Failure
from conexus.server.http.limits.refusal import refuse

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
PROBE_PATHS = frozenset({"/healthz", "/readyz"})
HSTS = "max-age=31536000"
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI (served from local assets) sets inline style attributes and uses data: icons.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
MAX_PAGE_BYTES = 1_000_000  # HTML pages are held whole to hash their scripts; ours are ~1 KB


def default_allowed_hosts(listen_host: str) -> tuple[str, ...]:
    """The listen address and the loopback names, without duplicates."""
    return tuple(dict.fromkeys([listen_host.strip("[]").lower(), *LOCAL_HOSTS]))


def split_host(value: str) -> tuple[str, str | None]:
    """``host[:port]`` (``[v6]:port`` for IPv6) to ``(lower-case host, port or None)``."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
        port = port_text or None
    else:  # a bare IPv6 address (an allow-list entry) or a name without port
        host, port = value, None
    return host.rstrip("."), port


class HostCheck:
    """421 for a Host header that names none of ``allowed`` (entries ``name`` or ``name:port``)."""

    def __init__(self, app: ASGIApp, allowed: Sequence[str]) -> None:
        self.app = app
        self.allowed = {split_host(a) for a in allowed}

    def accepts(self, header: str | None) -> bool:
        if not header:
            return False
        host, port = split_host(header)
        return (host, None) in self.allowed or (port is not None and (host, port) in self.allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in PROBE_PATHS:
            await self.app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope.get("headers") or () if k == b"host"), None)
        if self.accepts(header):
            await self.app(scope, receive, send)
            return
        failure = Failure(
            421,
            "misdirected-request",
            "Unknown host",
            "The Host header names no host this server answers for; the operator can allow it "
            "with --allowed-host.",
        )
        await refuse(scope, send, failure)


def mcp_transport_security(
    allowed_hosts: Iterable[str], allowed_origins: Iterable[str]
) -> TransportSecuritySettings:
    """The SDK's DNS-rebinding settings for ``/mcp``: our hosts (any port unless given) and Origins.

    Pages served from an allowed host are allowed Origins too (same host, http or https).
    """
    hosts: list[str] = []
    origins: list[str] = list(allowed_origins)
    for entry in allowed_hosts:
        host, port = split_host(entry)
        shown = f"[{host}]" if ":" in host else host
        if port is not None:
            hosts.append(f"{shown}:{port}")
            origins += [f"http://{shown}:{port}", f"https://{shown}:{port}"]
        else:
            hosts += [shown, f"{shown}:*"]
            origins += [f"{scheme}://{shown}{p}" for scheme in ("http", "https") for p in ("", ":*")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(dict.fromkeys(hosts)),
        allowed_origins=list(dict.fromkeys(origins)),
    )


def cors_middleware(origins: Sequence[str]) -> Middleware | None:
    """Starlette's CORS middleware for ``origins``; None (CORS off) when there are none."""
    if not origins:
        return None
    return Middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Mcp-Session-Id",
            "Mcp-Protocol-Version",
            "Last-Event-ID",
        ],
        expose_headers=["Mcp-Session-Id", "Retry-After", "WWW-Authenticate"],
        max_age=600,
    )


def _page_csp(body: bytes) -> str:
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(body)
    )
    return PAGE_CSP.format(hashes=hashes)


class SecurityHeaders:
    """Adds the security headers to every response (headers a route set itself are kept)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = scope.get("scheme") == "https"
        held: Message | None = None  # the start of an HTML page, sent once its body is complete
        chunks: list[bytes] = []

        def decorate(message: Message, csp: str) -> None:
            headers = MutableHeaders(scope=message)
            headers.setdefault("x-content-type-options", "nosniff")
            headers.setdefault("referrer-policy", "no-referrer")
            headers.setdefault("x-frame-options", "DENY")
            headers.setdefault("content-security-policy", csp)
            if "etag" not in headers and "last-modified" not in headers:
                headers.setdefault("cache-control", "no-store")
            if tls:
                headers.setdefault("strict-transport-security", HSTS)

        async def secured_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                content_type = MutableHeaders(scope=message).get("content-type", "")
                if content_type.startswith("text/html"):
                    held = message
                    return
                decorate(message, API_CSP)
            elif message["type"] == "http.response.body" and held is not None:
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
                if more and sum(map(len, chunks)) < MAX_PAGE_BYTES:
                    return
                body = b"".join(chunks)
                decorate(held, _page_csp(body) if not more else API_CSP)
                start, held = held, None
                chunks.clear()
                await send(start)
                message = {"type": "http.response.body", "body": body, "more_body": more}
            await send(message)

        await self.app(scope, receive, secured_send)
