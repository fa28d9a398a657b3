"""Real HTTP servers in the test's own process: ``create_app`` under uvicorn on a loopback socket.

For tests that need what a subprocess hides: the key store of the same data
home, the Prometheus registry the server records into, settings per test.
Requests still go over TCP to uvicorn, through every middleware, exactly as in
production. Two forms:

- :func:`live_server` (synchronous, a thread) builds every root's index first;
- :func:`serving` (async, a task) can build the service *without starting its
  roots' index workers* (``workers=False``), so an index job a request waits
  for stays queued until the test starts the worker
  (:meth:`Served.start_workers`) — the limits tests need a request that stays
  in flight deterministically. Nothing in the production code knows about it.

Nothing sleeps to synchronise: start-up and indexing are polled with a deadline.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import uvicorn
from fastapi import FastAPI
from prometheus_client import REGISTRY

from conexus.app.service import ConexusService
from conexus.config import Settings, load_settings
from conexus.server.http import create_app
from conexus.server.http.serve import base_url, listening_socket, uvicorn_config
from conexus.server.mcp import ConexusMCP
from conexus.server.settings import ServerSettings
from tests.server.conftest import eventually

START_TIMEOUT_S = 60.0


@dataclass
class LiveServer:
    url: str  # http://127.0.0.1:PORT
    service: ConexusService
    home: Path

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=START_TIMEOUT_S)


def poll(check: Callable[[], bool], what: str, timeout: float = START_TIMEOUT_S) -> None:
    """Wait until ``check()`` is true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.02)  # polling interval, not synchronisation: the deadline decides


def auth_failures(reason: str) -> float:
    """The current value of ``conexus_auth_failures_total{reason=...}`` in this process."""
    return REGISTRY.get_sample_value("conexus_auth_failures_total", {"reason": reason}) or 0.0


@contextmanager
def live_server(
    roots: list[Path], home: Path, settings: ServerSettings | None = None
) -> Iterator[LiveServer]:
    """Serve ``roots`` (fake embedder, no watcher) until the block ends; their indexes are built first."""

    def settings_for(root: Path) -> Settings:
        return load_settings(root, overrides={"home": home, "embedder": "fake"})

    service = ConexusService(settings_for, home, watch=False, auto_index=True)
    for root in roots:
        service.add_root(root)
    service.start()
    app = create_app(service, ConexusMCP(service), host="127.0.0.1", settings=settings)
    try:
        with serve_in_thread(app) as url:
            poll(
                lambda: all(r.engine.has_index() and not r.busy for r in service.roots),
                "every root is indexed",
            )
            yield LiveServer(url, service, home)
    finally:
        service.close()


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    sock = listening_socket("127.0.0.1", 0)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        poll(lambda: server.started, "the server listens")
        yield base_url("127.0.0.1", sock)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


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
