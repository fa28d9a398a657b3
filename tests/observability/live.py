"""An in-process Conexus HTTP server on a loopback socket, for tests that read this process's
metrics registry and tracer: a real service, a real uvicorn, real HTTP requests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from prometheus_client import REGISTRY

from conexus.app.service import ConexusService, ServedRoot
from conexus.config import load_settings
from conexus.server.http import create_app
from conexus.server.mcp import ConexusMCP
from tests.server.inprocess import serve_in_thread

T = TypeVar("T")


def eventually(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what} (last: {value!r})")
        time.sleep(0.02)  # polling interval; the deadline decides


def sample(name: str, **labels: str) -> float:
    """A sample of the default registry, 0 when the series does not exist yet."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def idle(root: ServedRoot) -> bool:
    jobs = root.jobs()
    return root.engine.has_index() and jobs["current"] is None and not jobs["queued"] and not root.busy


def make_service(home: Path, *roots: Path, watch: bool = False) -> ConexusService:
    """A started service over ``roots`` (fake embedder, private home), waited until indexed."""
    service = ConexusService(
        lambda root: load_settings(root, overrides={"home": str(home), "embedder": "fake"}), home, watch=watch
    )
    for root in roots:
        service.add_root(root)
    service.start()
    for served in service.roots:
        eventually(lambda s=served: idle(s), 60, f"{served.name} is indexed")  # type: ignore[misc]
    return service


@dataclass
class LiveServer:
    service: ConexusService
    url: str
    client: httpx.Client

    def post(self, operation: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return self.client.post(f"{self.url}/api/v1/{operation}", json=body, **kwargs)


@contextmanager
def live_server(service: ConexusService) -> Iterator[LiveServer]:
    """Serve ``service`` over HTTP on 127.0.0.1 (a free port) until the block ends."""
    app = create_app(service, ConexusMCP(service))
    with serve_in_thread(app) as url, httpx.Client(timeout=30) as client:
        yield LiveServer(service, url, client)
