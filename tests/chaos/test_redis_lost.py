"""Redis (the shared rate-limit buckets) killed with SIGKILL under traffic, then brought back.

The policy (``conexus.server.http.limits.ratelimit``): **fail open to per-process limits**.
A rate limit protects the service from a noisy client; it must not turn a Redis outage into
a Conexus outage, and the bound on concurrent requests still caps each replica. So while
Redis is gone every request is still answered (limited by the replica's own buckets),
``conexus_rate_limit_backend_errors_total`` counts the checks answered locally, one warning
is logged per outage, and once Redis answers again (tried every ``REDIS_RETRY_S``) the
buckets are shared again, with one line saying so.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from prometheus_client import REGISTRY

from conexus.server.settings import ServerSettings
from tests.server.conftest import eventually, make_repo
from tests.server.inprocess import serving
from tests.server.test_limits import free_port
from tests.services import require_binary

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

LOGGER = "conexus.server.http.limits.ratelimit"
CLIENTS = 4


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


class Redis:
    """A real ``redis-server`` on a fixed loopback port, so a restart comes back at the same address."""

    def __init__(self, workdir: Path) -> None:
        self.binary = require_binary("redis-server")
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no goodbye to the clients
        self.process.wait(10)

    async def buckets(self) -> int:
        """Rate-limit buckets held in this Redis now (0 when it does not answer)."""
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(self.url, socket_timeout=1)
        try:
            return len(await client.keys("conexus:ratelimit:*"))
        except (redis.RedisError, OSError):
            return 0
        finally:
            await client.aclose()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Redis]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = Redis(workdir)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.kill()


def backend_errors() -> float:
    return REGISTRY.get_sample_value("conexus_rate_limit_backend_errors_total") or 0.0


async def test_redis_killed_under_traffic_fails_open_to_local_limits_and_is_shared_again_when_back(
    tmp_path: Path, redis_server: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    async def up() -> bool:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(redis_server.url)
        try:
            return bool(await client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            await client.aclose()

    await eventually(up, 30, "redis-server answers PING")
    # Limits on, with room for the traffic: the test is about the backend, not about refusals.
    settings = ServerSettings(
        rate_per_key=1000.0, burst_per_key=10_000, rate_per_address=0.0, redis_url=redis_server.url
    )
    codes: list[int] = []
    stop = anyio.Event()
    caplog.set_level(logging.INFO, logger=LOGGER)
    before = backend_errors()

    async with serving(make_repo(tmp_path / "repo"), tmp_path / "home", settings) as s:

        async def client(n: int) -> None:
            headers = {"Authorization": f"Bearer client-{n}"}
            async with httpx.AsyncClient(base_url=s.url, headers=headers, timeout=30) as http:
                while not stop.is_set():
                    codes.append((await http.post("/api/v1/status", json={})).status_code)

        async def answered(n: int) -> bool:
            return len(codes) >= n

        async with anyio.create_task_group() as tg:
            for n in range(CLIENTS):
                tg.start_soon(client, n)
            await eventually(lambda: answered(40), 30, "traffic with Redis up")

            async def shared() -> bool:
                return await redis_server.buckets() >= CLIENTS

            await eventually(shared, 30, "every client's bucket is in Redis")

            redis_server.kill()
            killed_at = len(codes)
            await eventually(lambda: answered(killed_at + 100), 30, "traffic with Redis gone")
            assert backend_errors() > before

            redis_server.start()  # an empty Redis at the same address
            await eventually(shared, 30, "the buckets are in Redis again")
            back_at = len(codes)
            await eventually(lambda: answered(back_at + 40), 30, "traffic with Redis back")
            stop.set()

    assert set(codes) == {200}, sorted(set(codes))  # nothing refused, nothing failed, all along
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert sum("Redis is unreachable" in m for m in messages) == 1, messages  # one per outage
    assert sum("reachable again" in m for m in messages) == 1, messages
    assert redis_server.url not in caplog.text
