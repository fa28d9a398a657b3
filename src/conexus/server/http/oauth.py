"""OAuth 2.1 bearer JWTs: the resource-server side of the MCP authorization specification.

:class:`JwtVerifier` checks a token the way RFC 9068 and the MCP spec ask:

* the signature, with a key of the issuer's JWKS (PyJWT's ``PyJWKClient``,
  which caches the key set for five minutes and refetches it at most once per
  30 s for an unknown ``kid``). The JWKS URL is ``oauth_jwks_url``, or the
  ``jwks_uri`` of the issuer's metadata (RFC 8414
  ``/.well-known/oauth-authorization-server``, then OpenID Connect
  ``/.well-known/openid-configuration``), discovered on first use;
* the algorithm: RS256 or ES256 only, and the one the key is for (never
  ``none``, never an HMAC keyed by a public key);
* ``iss`` equal to the configured issuer; ``aud`` containing the audience
  (``oauth_audience``, default ``resource_url``); ``exp`` required, ``exp``
  and ``nbf`` with 30 s leeway.

Scopes come from the ``scope`` claim (space separated; ``scp`` as a list is
accepted too). ``conexus:read`` or ``read`` grant read, ``conexus:index`` or
``index`` grant index, ``conexus:admin`` or ``admin`` grant admin; the
highest one wins (admin implies index implies read); other scopes are
ignored. The optional ``conexus_roots`` claim (a list, or a space-separated
string, of root names or absolute folders) restricts the token to those
roots, like a key's ``--root``.

:class:`JwtVerifier` also implements the SDK's ``TokenVerifier`` protocol
(``verify_token``), so it can be handed to ``mcp.server.auth`` as it is.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import jwt
from mcp.server.auth.provider import AccessToken

from conexus.api.access import Principal, highest_scope
from conexus.errors import ConfigError

logger = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256")
LEEWAY_S = 30
JWKS_CACHE_S = 300
FETCH_TIMEOUT_S = 5.0
ROOTS_CLAIM = "conexus_roots"
SCOPE_PREFIX = "conexus:"
SCOPES_SUPPORTED = ("conexus:read", "conexus:index", "conexus:admin")


class TokenRejectedError(Exception):
    """A JWT is not accepted; ``reason`` is ``invalid`` or ``expired``. The message never holds the token."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def scopes_of(claims: dict[str, Any]) -> list[str]:
    """The Conexus scopes (read, index, admin) a token's ``scope`` / ``scp`` claim names."""
    raw = claims.get("scope", claims.get("scp", ""))
    items = raw.split() if isinstance(raw, str) else [str(s) for s in raw] if isinstance(raw, list) else []
    return [
        s.removeprefix(SCOPE_PREFIX)
        for s in items
        if s.removeprefix(SCOPE_PREFIX) in ("read", "index", "admin")
    ]


def roots_of(claims: dict[str, Any]) -> tuple[str, ...] | None:
    """The allow-list of roots of the ``conexus_roots`` claim; None when the claim is absent."""
    raw = claims.get(ROOTS_CLAIM)
    if raw is None:
        return None
    if isinstance(raw, str):
        return tuple(raw.split())
    if isinstance(raw, list):
        return tuple(str(r) for r in raw)
    return ()  # a claim we cannot read restricts to nothing rather than to everything


def metadata_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may be: RFC 8414 (path inserted), then OpenID Connect (path appended)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    base = f"{parts.scheme}://{parts.netloc}"
    urls = [
        f"{base}/.well-known/oauth-authorization-server{path}",
        f"{base}/.well-known/openid-configuration{path}",
    ]
    appended = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    if appended not in urls:
        urls.append(appended)
    return urls


def _fetch_json(url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:
        data = json.loads(response.read())
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


class JwtVerifier:
    """Verifies bearer JWTs of one issuer for one audience; thread-safe."""

    def __init__(self, issuer: str, audience: str, jwks_url: str = "") -> None:
        if not issuer:
            raise ConfigError("oauth_issuer is empty")
        if not audience:
            raise ConfigError(
                "OAuth needs the audience tokens are issued for: set oauth_audience or resource_url "
                "(the public URL of this server's /mcp endpoint)"
            )
        self.issuer = issuer
        self.audience = audience
        self._jwks_url = jwks_url
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _jwks(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None:
                url = self._jwks_url or self._discover()
                self._client = jwt.PyJWKClient(
                    url, cache_keys=True, lifespan=JWKS_CACHE_S, timeout=FETCH_TIMEOUT_S
                )
            return self._client

    def _discover(self) -> str:
        for url in metadata_urls(self.issuer):
            try:
                meta = _fetch_json(url)
            except (OSError, ValueError, urllib.error.URLError) as exc:
                logger.debug("no authorization server metadata at %s: %s", url, exc)
                continue
            if meta.get("issuer") not in (None, self.issuer):
                logger.warning("metadata at %s names another issuer; ignored", url)
                continue
            jwks_uri = meta.get("jwks_uri")
            if isinstance(jwks_uri, str) and jwks_uri:
                return jwks_uri
        raise TokenRejectedError("invalid", f"cannot find the JWKS of the issuer {self.issuer}")

    def verify(self, token: str) -> Principal:
        """The caller a JWT stands for (blocking: the first call may fetch the JWKS).

        Raises:
            TokenRejectedError: bad signature, unknown key, wrong algorithm, issuer or audience
                (``invalid``); past ``exp`` (``expired``).
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRejectedError("invalid", "the token is not a JWT") from exc
        if header.get("alg") not in ALGORITHMS:
            raise TokenRejectedError(
                "invalid", f"the token's algorithm must be one of {', '.join(ALGORITHMS)}"
            )
        try:
            key = self._jwks().get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            logger.warning("cannot fetch the JWKS of %s: %s", self.issuer, exc)
            raise TokenRejectedError("invalid", "the issuer's signing keys cannot be fetched") from exc
        except jwt.PyJWTError as exc:
            raise TokenRejectedError("invalid", "the token is signed by an unknown key") from exc
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejectedError("expired", "the token has expired") from exc
        except jwt.PyJWTError as exc:
            # The reason names the failed check (issuer, audience, signature), never the token.
            raise TokenRejectedError("invalid", f"the token is not valid here: {exc}") from exc
        subject = str(claims.get("sub") or claims.get("client_id") or "unknown")
        return Principal(
            id=f"jwt:{subject}",
            name=subject,
            kind="token",
            scope=highest_scope(scopes_of(claims)),
            roots=roots_of(claims),
            issuer=self.issuer,
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        """The SDK's ``TokenVerifier`` protocol: an ``AccessToken``, or None for a rejected token."""
        try:
            principal = await anyio.to_thread.run_sync(self.verify, token)
        except TokenRejectedError:
            return None
        return access_token(principal)


def access_token(principal: Principal) -> AccessToken:
    """The SDK's view of a caller (the MCP session manager binds each session to it).

    The token itself is not kept: nothing downstream needs it, and it is a credential.
    """
    return AccessToken(
        token="",
        client_id=principal.id,
        scopes=[SCOPE_PREFIX + s for s in principal.scopes()],
        subject=principal.name if principal.kind == "token" else None,
        claims={"iss": principal.issuer} if principal.issuer else None,
    )
