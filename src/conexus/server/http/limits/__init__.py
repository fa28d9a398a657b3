"""Limits and transport guards of the HTTP server, built from the server settings.

The middleware of :func:`conexus.server.http.create_app`, outermost first::

    SecurityHeaders   headers on every answer, refusals included
    HostCheck         421 for a Host that is not allowed (probes exempt)
    CORS              only when cors_origins is set
    LoadShedding      503 + Retry-After past max_concurrent requests in flight
    RateLimit         429 + Retry-After when the address's or the key's bucket is empty
    RequestTimeout    504 past request_timeout_s (MCP tool calls: timed by the MCP adapter)
    ... (authentication, added by create_app's caller)
    BodyLimit         413 past max_body_bytes (REST; /mcp has its own check)

Refusals speak the route's protocol (:mod:`.refusal`): problem details for
REST, a JSON-RPC error for ``/mcp``.
"""

from __future__ import annotations

import logging

from mcp.server.transport_security import TransportSecuritySettings
from starlette.middleware import Middleware

from conexus.server.http.limits.middleware import LoadShedding, RateLimit, RequestTimeout
from conexus.server.http.limits.ratelimit import RateLimiter, rate_limiter
from conexus.server.http.limits.transport import (
    HostCheck,
    SecurityHeaders,
    cors_middleware,
    default_allowed_hosts,
    mcp_transport_security,
)
from conexus.server.settings import ServerSettings

__all__ = ["Guards", "mcp_transport_security"]

logger = logging.getLogger(__name__)

WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class Guards:
    """The limits and transport guards of one app, and the rate limiter they share."""

    def __init__(self, settings: ServerSettings, listen_host: str) -> None:
        self.settings = settings
        self.allowed_hosts = settings.allowed_hosts or default_allowed_hosts(listen_host)
        if not settings.allowed_hosts and listen_host in WILDCARD_HOSTS:
            logger.warning(
                "listening on all interfaces but only Host headers for localhost are accepted; "
                "give the names clients use with --allowed-host"
            )
        self.limiter: RateLimiter = rate_limiter(settings.redis_url)

    def middleware(self) -> list[Middleware]:
        """The guards, outermost first (see the module docstring)."""
        s = self.settings
        out = [Middleware(SecurityHeaders), Middleware(HostCheck, allowed=self.allowed_hosts)]
        cors = cors_middleware(s.cors_origins)
        if cors is not None:
            out.append(cors)
        out += [
            Middleware(LoadShedding, max_concurrent=s.max_concurrent),
            Middleware(
                RateLimit,
                limiter=self.limiter,
                rate_per_key=s.rate_per_key,
                burst_per_key=s.burst_per_key,
                rate_per_address=s.rate_per_address,
                burst_per_address=s.burst_per_address,
                trust_forwarded_for=s.trust_forwarded_for,
            ),
            Middleware(RequestTimeout, timeout_s=s.request_timeout_s),
        ]
        return out

    def mcp_security(self) -> TransportSecuritySettings:
        """The MCP SDK's transport-security settings for these hosts and origins."""
        return mcp_transport_security(
            self.allowed_hosts, [*self.settings.allowed_origins, *self.settings.cors_origins]
        )

    async def aclose(self) -> None:
        """Close the rate limiter's connections (Redis)."""
        await self.limiter.aclose()
