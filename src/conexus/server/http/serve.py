"""Run the HTTP application with uvicorn on a socket bound before the URL is announced.

HTTPS when the app's settings name a certificate and key (``tls_cert``,
``tls_key``); they are loaded once before anything is announced, so a bad
file is a configuration error, not a server that accepts and drops
connections.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from conexus.errors import ConfigError
from conexus.server.http.parser import http_protocol
from conexus.server.settings import ServerSettings


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket for ``host:port`` (port 0 picks a free one).

    Created with ``IPPROTO_TCP`` rather than protocol 0: asyncio sets
    ``TCP_NODELAY`` only on sockets whose ``proto`` says TCP, and the accepted
    connections inherit it. Without it a client that writes a request in two
    segments (Node's HTTP client does) waits out delayed ACKs: ~45 ms a call.

    Raises:
        ConfigError: the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def base_url(host: str, sock: socket.socket, *, tls: bool = False) -> str:
    """``http(s)://host:port`` of a bound socket (IPv6 hosts in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{sock.getsockname()[1]}"


def check_tls(settings: ServerSettings) -> None:
    """Load the certificate and key once, so a bad pair fails before the server starts.

    Raises:
        ConfigError: a file is missing or unreadable, or the key does not match the certificate.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot use tls_cert/tls_key: {exc}") from exc


def uvicorn_config(app: FastAPI, settings: ServerSettings) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` under ``settings`` (TLS; no proxy headers; httptools
    with a bound on the request head, :mod:`conexus.server.http.parser`).

    uvicorn would rewrite the client address from ``X-Forwarded-For`` sent by
    any loopback peer; the client address stays the socket peer, and the rate
    limiter reads the header itself only with ``trust_forwarded_for``.
    """
    tls = bool(settings.tls_cert)
    if tls:
        check_tls(settings)
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        http=http_protocol(),
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        ssl_certfile=settings.tls_cert or None,
        ssl_keyfile=settings.tls_key or None,
    )


async def serve_http(app: FastAPI, host: str, port: int, *, on_ready: Callable[[str], None]) -> None:
    """Serve ``app`` at ``http(s)://host:port`` until interrupted; ``on_ready(base_url)`` once bound.

    The settings are the app's (``app.state.settings``, set by ``create_app``).

    Raises:
        ConfigError: the address cannot be bound, or the TLS files cannot be used.
    """
    settings: ServerSettings = getattr(app.state, "settings", None) or ServerSettings()
    config = uvicorn_config(app, settings)
    sock = listening_socket(host, port)
    server = uvicorn.Server(config)
    on_ready(base_url(host, sock, tls=bool(settings.tls_cert)))
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
