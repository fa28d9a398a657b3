"""Authentication of the HTTP server: API keys and OAuth JWTs in ``Authorization: Bearer``.

The server is open (as on a laptop) until either exists:

* a key store in the data home (``conexus keys create``; :mod:`conexus.app.keys`), or
* an OAuth issuer (``oauth_issuer``; :mod:`.oauth`).

Then every route needs a bearer credential except ``/healthz``, ``/readyz``,
the protected resource metadata (``/.well-known/oauth-protected-resource``,
RFC 9728), the paths the app marks ``public`` (the web console's static page and
assets: no data, and a browser cannot attach a bearer header to a page load)
and, while ``public_metrics`` is on, ``/metrics`` (off: it needs the
admin scope). A token starting with ``cx_`` is an API key; anything else is
checked as a JWT when an issuer is configured.

=================================  ======  ==================================================
credential                         status  ``WWW-Authenticate: Bearer ...``
=================================  ======  ==================================================
none                               401     ``resource_metadata="..."`` (no error code, RFC 6750)
unknown, revoked, bad signature,   401     ``error="invalid_token"``, ``resource_metadata``
wrong issuer or audience, expired
valid, lacks the scope             403     ``error="insufficient_scope"``, ``resource_metadata``
valid, root outside its list       404     the operation's own not-found answer
=================================  ======  ==================================================

Scopes and roots are not decided here: the operation table does that
(:meth:`~conexus.api.operations.Operation.invoke`, :meth:`~conexus.api.operations.Call.root`).
This middleware only establishes who is calling: it puts the
:class:`~conexus.api.access.Principal` in the ASGI scope
(:func:`principal_of`), where the REST and MCP adapters pick it up for their
``Call``; it also sets the SDK's ``scope["user"]`` so the MCP session
manager binds each session to the credential that opened it. A 403 answered
downstream gets its ``WWW-Authenticate`` header here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.routes import build_resource_metadata_url
from pydantic import AnyHttpUrl
from starlette.authentication import AuthCredentials
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conexus.api.access import PRINCIPAL_KEY, Principal
from conexus.api.errors import describe
from conexus.app.keys import KeyRejectedError, KeyStore, looks_like_key
from conexus.errors import AuthenticationError, ForbiddenError
from conexus.observability.metrics import AUTH_FAILURES
from conexus.server.http.oauth import SCOPES_SUPPORTED, JwtVerifier, TokenRejectedError, access_token
from conexus.server.settings import ServerSettings

logger = logging.getLogger(__name__)

METADATA_PATH = "/.well-known/oauth-protected-resource"
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
PROBLEM_JSON = "application/problem+json"
MAX_TOKEN_CHARS = 16_384


def bearer_token(scope: Scope) -> str | None:
    """The credential of ``Authorization: Bearer <token>``; None when there is no bearer header."""
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


@dataclass
class Authenticator:
    """Decides who a credential stands for: the data home's keys and, when configured, one OAuth issuer."""

    keys: KeyStore
    verifier: JwtVerifier | None
    settings: ServerSettings

    @classmethod
    def from_settings(cls, keys: KeyStore, settings: ServerSettings) -> Authenticator:
        """Raises ConfigError: an issuer without an audience (``oauth_audience`` or ``resource_url``)."""
        verifier = None
        if settings.oauth_issuer:
            verifier = JwtVerifier(
                settings.oauth_issuer,
                settings.oauth_audience or settings.resource_url,
                settings.oauth_jwks_url,
            )
        return cls(keys, verifier, settings)

    @property
    def required(self) -> bool:
        """True when requests need a credential (a key store exists, or OAuth is configured)."""
        return self.verifier is not None or self.keys.enabled

    def authenticate(self, token: str) -> Principal:
        """The caller ``token`` stands for (blocking: a JWT may need the issuer's JWKS).

        Raises:
            KeyRejectedError, TokenRejectedError: with ``reason`` invalid or expired.
        """
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenRejectedError("invalid", "the token is too long")
        if looks_like_key(token):
            key = self.keys.verify(token)
            return Principal(
                id=key.id,
                name=key.name,
                kind="key",
                scope=key.scope,  # type: ignore[arg-type]  # checked against SCOPES when loaded
                roots=key.roots or None,
            )
        if self.verifier is None:
            raise KeyRejectedError("invalid", "the API key is not valid (unknown or revoked)")
        return self.verifier.verify(token)

    def resource(self, request: Request) -> str:
        """This server's resource identifier: ``resource_url``, else ``<base URL>/mcp`` of the request."""
        return self.settings.resource_url or str(request.base_url).rstrip("/") + "/mcp"

    def metadata_url(self, request: Request) -> str:
        """The RFC 9728 metadata URL of the resource (the well-known path inserted before ``/mcp``)."""
        return str(build_resource_metadata_url(AnyHttpUrl(self.resource(request))))

    def metadata(self, request: Request) -> dict[str, Any]:
        """The RFC 9728 protected resource metadata document."""
        doc: dict[str, Any] = {"resource": self.resource(request)}
        if self.settings.oauth_issuer:
            doc["authorization_servers"] = [self.settings.oauth_issuer]
        doc.update(
            scopes_supported=list(SCOPES_SUPPORTED),
            bearer_methods_supported=["header"],
            resource_name="Conexus",
        )
        return doc


def metadata_routes(authenticator: Authenticator) -> list[BaseRoute]:
    """``GET /.well-known/oauth-protected-resource`` and its RFC 9728 form for ``/mcp``."""

    async def metadata(request: Request) -> JSONResponse:
        return JSONResponse(authenticator.metadata(request), headers={"Cache-Control": "public, max-age=300"})

    return [
        Route(METADATA_PATH, metadata, methods=["GET"]),
        Route(METADATA_PATH + "/mcp", metadata, methods=["GET"]),
    ]


def _quote(text: str) -> str:
    return text.replace("\\", "").replace('"', "'")


class AuthMiddleware:
    """ASGI middleware: establishes the caller of every request when authentication is on (see module)."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        public: Callable[[str], bool] | None = None,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.public = public

    def _open(self, path: str) -> bool:
        if path in OPEN_PATHS or path == METADATA_PATH or path.startswith(METADATA_PATH + "/"):
            return True
        if self.public is not None and self.public(path):
            return True
        return path == "/metrics" and self.authenticator.settings.public_metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Only HTTP carries requests here (no WebSocket routes exist); lifespan events pass through.
        if scope["type"] != "http" or self._open(str(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return
        auth = self.authenticator
        if not auth.required:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        token = bearer_token(scope)
        if token is None:
            AUTH_FAILURES.labels(reason="missing").inc()
            await self._refuse(scope, send, 401, None, "this server needs an API key or token")
            return
        try:
            if looks_like_key(token):
                principal = auth.authenticate(token)  # a hash and a stat: no need for a thread
            else:
                principal = await anyio.to_thread.run_sync(auth.authenticate, token)
        except (KeyRejectedError, TokenRejectedError) as rejected:
            AUTH_FAILURES.labels(reason=rejected.reason).inc()
            logger.info("refused a credential: %s", rejected)
            await self._refuse(scope, send, 401, "invalid_token", str(rejected))
            return
        needed = "admin" if request.url.path == "/metrics" else "read"
        if not principal.allows(needed):
            AUTH_FAILURES.labels(reason="scope").inc()
            await self._refuse(
                scope, send, 403, "insufficient_scope", f"this {principal.kind} lacks the {needed!r} scope"
            )
            return
        scope[PRINCIPAL_KEY] = principal
        scope["user"] = AuthenticatedUser(access_token(principal))
        scope["auth"] = AuthCredentials(access_token(principal).scopes)
        challenge = self._challenge(request, "insufficient_scope", None)

        async def send_with_challenge(message: Message) -> None:
            # A scope refused by the operation table (ForbiddenError, 403) gets its RFC 6750 challenge.
            if message["type"] == "http.response.start" and message["status"] == 403:
                headers = list(message.get("headers") or [])
                if not any(name == b"www-authenticate" for name, _ in headers):
                    headers.append((b"www-authenticate", challenge.encode("latin-1")))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_challenge)

    def _challenge(self, request: Request, error: str | None, description: str | None) -> str:
        parts = ['realm="conexus"']
        if error:
            parts.append(f'error="{error}"')
        if description:
            parts.append(f'error_description="{_quote(description)}"')
        parts.append(f'resource_metadata="{self.authenticator.metadata_url(request)}"')
        return "Bearer " + ", ".join(parts)

    async def _refuse(self, scope: Scope, send: Send, status: int, error: str | None, message: str) -> None:
        request = Request(scope)
        exc = AuthenticationError(message) if status == 401 else ForbiddenError(message)
        failure = describe(exc, "the HTTP API")
        response = JSONResponse(
            failure.problem(request.url.path),
            status_code=status,
            media_type=PROBLEM_JSON,
            headers={"WWW-Authenticate": self._challenge(request, error, message if error else None)},
        )
        await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
