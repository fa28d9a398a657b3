"""An HTTP server in the test's own process, on a loopback socket: the real app, uvicorn and service.

For the limits and transport tests, which need settings per test and, for
shedding and timeouts, a request that stays in flight deterministically: the
service is built *without starting its roots' index workers* when asked
(``workers=False``), so an index job a request waits for stays queued until
the test starts the worker (:meth:`Served.start_workers`). Nothing in the
production code knows about it.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import uvicorn

from conexus.app.service import ConexusService
from conexus.config import Settings, load_settings
from conexus.server.http import create_app
from conexus.server.http.serve import base_url, listening_socket, uvicorn_config
from conexus.server.mcp import ConexusMCP
from conexus.server.settings import ServerSettings
from tests.server.conftest import eventually


@dataclass
class Served:
    url: str
    service: ConexusService
    sock: socket.socket

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def start_workers(self) -> None:
        """Start the index workers of roots built with ``workers=False``: queued jobs run."""
        for root in self.service.roots:
            root.start(index=False)


@asynccontextmanager
async def serving(
    repo: Path,
    home: Path,
    settings: ServerSettings | None = None,
    *,
    host: str = "127.0.0.1",
    workers: bool = True,
) -> AsyncIterator[Served]:
    """Serve ``repo`` (fake embedder, data home ``home``) until the block ends."""
    settings = settings or ServerSettings()

    def settings_for(root: Path) -> Settings:
        return load_settings(root, overrides={"home": home, "embedder": "fake"})

    service = ConexusService(settings_for, home, watch=False, auto_index=workers)
    service.add_root(repo)
    if workers:
        service.start()
    app = create_app(service, ConexusMCP(service), host=host, settings=settings)
    sock = listening_socket(host, 0)
    server = uvicorn.Server(uvicorn_config(app, settings))
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])

            async def started() -> bool:
                return bool(server.started)

            await eventually(started, 30, "the in-process server listens")
            try:
                yield Served(base_url(host, sock, tls=bool(settings.tls_cert)), service, sock)
            finally:
                server.should_exit = True
    finally:
        sock.close()
        await anyio.to_thread.run_sync(service.close)
