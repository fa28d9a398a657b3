"""Rate limits, load shedding and request limits of the HTTP server, over a real loopback socket.

Each test runs the real app under uvicorn in the test's process
(:mod:`tests.server.inprocess`) with its own settings. Requests that must
stay in flight (shedding, timeouts) wait for an index job whose worker the
test has not started yet: deterministic, and no hook in the production code.
The Redis tests start Debian's ``redis-server`` on a free loopback port.
"""

from __future__ import annotations

import logging
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from prometheus_client import REGISTRY

from conexus.api.errors import PROBLEM_BASE
from conexus.server.settings import ServerSettings
from tests.server.conftest import eventually, make_repo, text_of
from tests.server.inprocess import Served, serving
from tests.services import require_binary

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

API = "/api/v1"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
SLOW_REFILL = 0.01  # tokens per second: nothing refills within a test
UNLIMITED = {"rate_per_key": 0.0, "rate_per_address": 0.0}


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM_BASE + kind and body["status"] == status, body
    return body


def retry_after(response: httpx.Response) -> int:
    value = response.headers["retry-after"]
    assert value.isdigit(), value  # delay-seconds: a whole number
    return int(value)


# -- rate limits ---------------------------------------------------------------------------------------


async def test_a_key_past_its_burst_gets_429_with_retry_after_while_other_keys_go_on(
    repo: Path, home: Path
) -> None:
    settings = ServerSettings(rate_per_key=SLOW_REFILL, burst_per_key=3, rate_per_address=0.0)
    before = metric("conexus_rate_limited_total", bucket="key")
    async with serving(repo, home, settings) as s, httpx.AsyncClient(base_url=s.url) as http:
        for _ in range(3):
            assert (await http.post(f"{API}/status", json={}, headers=bearer("key-a"))).status_code == 200
        refused = await http.post(f"{API}/status", json={}, headers=bearer("key-a"))
        problem = assert_problem(refused, 429, "rate-limited")
        assert "API key" in problem["detail"] and "key-a" not in refused.text
        assert 1 <= retry_after(refused) <= 100  # one token at 0.01/s, rounded up
        assert metric("conexus_rate_limited_total", bucket="key") == before + 1

        assert (await http.post(f"{API}/status", json={}, headers=bearer("key-b"))).status_code == 200
        assert (await http.post(f"{API}/status", json={})).status_code == 200  # no key: no key bucket
        assert (await http.get("/healthz", headers=bearer("key-a"))).status_code == 200  # never limited

        rpc = await http.post("/mcp", json=PING, headers={**MCP_HEADERS, **bearer("key-a")})
        assert rpc.status_code == 429 and retry_after(rpc) >= 1
        body = rpc.json()
        assert body["jsonrpc"] == "2.0" and body["id"] is None
        assert body["error"]["code"] == -32000 and "rate limit" in body["error"]["message"]


async def test_an_address_past_its_burst_is_limited_apart_from_other_addresses(
    repo: Path, home: Path
) -> None:
    settings = ServerSettings(rate_per_address=SLOW_REFILL, burst_per_address=3, rate_per_key=0.0)
    before = metric("conexus_rate_limited_total", bucket="address")
    other = httpx.AsyncHTTPTransport(local_address="127.0.0.2")  # Linux routes all of 127/8 to lo
    async with (
        serving(repo, home, settings) as s,
        httpx.AsyncClient(base_url=s.url) as http,
        httpx.AsyncClient(base_url=s.url, transport=other) as neighbour,
    ):
        for i in range(3):
            assert (await http.post(f"{API}/status", json={}, headers=bearer(f"k{i}"))).status_code == 200
        problem = assert_problem(await http.post(f"{API}/status", json={}), 429, "rate-limited")
        assert "client address" in problem["detail"]
        assert metric("conexus_rate_limited_total", bucket="address") == before + 1
        # A forged X-Forwarded-For does not buy a fresh bucket: the header is not trusted by default.
        forged = await http.post(f"{API}/status", json={}, headers={"X-Forwarded-For": "10.0.0.9"})
        assert forged.status_code == 429
        assert (await neighbour.post(f"{API}/status", json={})).status_code == 200


async def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_bucket(
    repo: Path, home: Path
) -> None:
    settings = ServerSettings(
        rate_per_address=SLOW_REFILL, burst_per_address=1, rate_per_key=0.0, trust_forwarded_for=True
    )
    async with serving(repo, home, settings) as s, httpx.AsyncClient(base_url=s.url) as http:

        async def status(forwarded: str) -> int:
            r = await http.post(f"{API}/status", json={}, headers={"X-Forwarded-For": forwarded})
            return r.status_code

        assert await status("10.0.0.1") == 200
        assert await status("10.0.0.1") == 429
        assert await status("10.0.0.2") == 200
        assert await status("10.0.0.2, 10.0.0.1") == 429  # the proxy's own entry is the last one


# -- Redis: buckets shared by replicas -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    def __init__(self, binary: str, workdir: Path) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"

    async def wait_ready(self) -> None:
        import redis.asyncio

        async def pong() -> bool:
            client = redis.asyncio.Redis.from_url(self.url)
            try:
                return bool(await client.ping())
            except (redis.RedisError, OSError):
                return False
            finally:
                await client.aclose()

        await eventually(pong, 30, "redis-server answers PING")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    binary = require_binary("redis-server")
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(binary, workdir)
    yield server
    server.stop()


async def test_two_instances_sharing_one_redis_share_each_bucket(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    await redis_server.wait_ready()
    settings = ServerSettings(
        rate_per_key=SLOW_REFILL, burst_per_key=3, rate_per_address=0.0, redis_url=redis_server.url
    )
    repo_a, repo_b = make_repo(tmp_path / "a"), make_repo(tmp_path / "b")
    async with (
        serving(repo_a, tmp_path / "home-a", settings) as a,
        serving(repo_b, tmp_path / "home-b", settings) as b,
        httpx.AsyncClient(base_url=a.url, headers=bearer("shared")) as http_a,
        httpx.AsyncClient(base_url=b.url, headers=bearer("shared")) as http_b,
    ):
        codes = [
            (await http_a.post(f"{API}/status", json={})).status_code,
            (await http_b.post(f"{API}/status", json={})).status_code,
            (await http_a.post(f"{API}/status", json={})).status_code,
        ]
        assert codes == [200, 200, 200]
        assert_problem(await http_b.post(f"{API}/status", json={}), 429, "rate-limited")
        assert_problem(await http_a.post(f"{API}/status", json={}), 429, "rate-limited")
        other = await http_b.post(f"{API}/status", json={}, headers=bearer("another"))
        assert other.status_code == 200


async def test_when_redis_goes_away_limits_hold_per_process_with_a_warning_and_a_metric(
    repo: Path, home: Path, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    await redis_server.wait_ready()
    settings = ServerSettings(
        rate_per_key=SLOW_REFILL, burst_per_key=2, rate_per_address=0.0, redis_url=redis_server.url
    )
    before = metric("conexus_rate_limit_backend_errors_total")
    async with (
        serving(repo, home, settings) as s,
        httpx.AsyncClient(base_url=s.url, headers=bearer("k")) as http,
    ):
        assert (await http.post(f"{API}/status", json={})).status_code == 200  # a token taken in Redis
        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="conexus.server.http.limits.ratelimit"):
            # Fail open to local buckets: served, not refused, and still limited (a fresh local burst).
            codes = [(await http.post(f"{API}/status", json={})).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert metric("conexus_rate_limit_backend_errors_total") >= before + 3
        warnings = [r for r in caplog.records if "Redis is unreachable" in r.getMessage()]
        assert len(warnings) == 1  # one warning per outage, not one per request
        assert redis_server.url not in caplog.text


# -- load shedding and time limits ---------------------------------------------------------------------


async def hold(http: httpx.AsyncClient, out: list[httpx.Response]) -> None:
    """A request that stays in flight until the test starts the index worker."""
    body = {"action": "reindex", "wait": True, "max_wait_s": 100}
    out.append(await http.post(f"{API}/index", json=body, timeout=100))


async def queued_jobs(s: Served, n: int) -> None:
    async def enough() -> bool:
        return len(s.service.roots[0].jobs()["queued"]) >= n

    await eventually(enough, 30, f"{n} index jobs are queued")


async def test_past_max_concurrent_requests_are_answered_503_at_once_and_probes_still_answer(
    repo: Path, home: Path
) -> None:
    settings = ServerSettings(max_concurrent=2, **UNLIMITED)
    before = metric("conexus_shed_total")
    held: list[httpx.Response] = []
    async with (
        serving(repo, home, settings, workers=False) as s,
        httpx.AsyncClient(base_url=s.url, timeout=30) as http,
    ):
        async with anyio.create_task_group() as tg:
            tg.start_soon(hold, http, held)
            tg.start_soon(hold, http, held)
            await queued_jobs(s, 2)  # both requests are in flight, waiting for their jobs

            shed = await http.post(f"{API}/status", json={})
            problem = assert_problem(shed, 503, "overloaded")
            assert retry_after(shed) == 1 and "2 requests" in problem["detail"]
            rpc = await http.post("/mcp", json=PING, headers=MCP_HEADERS)
            assert rpc.status_code == 503 and rpc.json()["error"]["code"] == -32000
            assert metric("conexus_shed_total") == before + 2
            assert (await http.get("/healthz")).status_code == 200

            s.start_workers()  # the jobs run, the held requests finish
        assert [r.status_code for r in held] == [200, 200]
        assert (await http.post(f"{API}/status", json={})).status_code == 200


async def recent_job(http: httpx.AsyncClient) -> dict[str, Any] | None:
    response = await http.post(f"{API}/status", json={})
    jobs = response.json()["status"]["jobs"]
    return next(iter(jobs["recent"]), None) if jobs["current"] is None and not jobs["queued"] else None


async def queued_job(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.post(f"{API}/status", json={})
    jobs = response.json()["status"]["jobs"]
    assert jobs["current"] is None and len(jobs["queued"]) == 1, jobs
    return dict(jobs["queued"][0])


async def test_an_index_wait_answers_still_running_before_the_time_limit_and_the_job_goes_on(
    repo: Path, home: Path
) -> None:
    settings = ServerSettings(request_timeout_s=2.0, **UNLIMITED)
    async with (
        serving(repo, home, settings, workers=False) as s,
        httpx.AsyncClient(base_url=s.url, timeout=30) as http,
    ):
        held: list[httpx.Response] = []
        await hold(http, held)  # asks to wait up to 100 s
        assert held[0].status_code == 200, held[0].text
        body = held[0].json()
        assert body["job"]["status"] == "queued" and "follow it with context_status" in body["message"]
        job = await queued_job(http)  # not stopped: the server gave up waiting, not the client
        async with Client(s.url + "/mcp", read_timeout_seconds=30) as client:
            result = await client.call_tool(
                "context_index_control", {"action": "start", "wait": True, "max_wait_s": 100}
            )
            assert not result.is_error, text_of(result)
        s.start_workers()
        ended = await eventually(lambda: recent_job(http), 30, "the job has ended")
        assert ended["id"] == job["id"] and ended["status"] == "done", ended


# `index action=clear` waits for its job without a deadline: with no worker, it stays in flight.
CLEAR = {"action": "clear"}


async def test_a_rest_request_over_the_time_limit_is_cancelled_and_answered_504(
    repo: Path, home: Path
) -> None:
    settings = ServerSettings(request_timeout_s=0.5, **UNLIMITED)
    async with (
        serving(repo, home, settings, workers=False) as s,
        httpx.AsyncClient(base_url=s.url, timeout=30) as http,
    ):
        response = await http.post(f"{API}/index", json=CLEAR)
        problem = assert_problem(response, 504, "timeout")
        assert "0.5 s" in problem["detail"]
        assert (await http.post(f"{API}/status", json={})).status_code == 200
        assert (await http.get("/healthz")).status_code == 200


async def test_an_mcp_tool_call_over_the_time_limit_is_stopped_with_an_error_result(
    repo: Path, home: Path
) -> None:
    settings = ServerSettings(request_timeout_s=0.5, **UNLIMITED)
    async with (
        serving(repo, home, settings, workers=False) as s,
        Client(s.url + "/mcp", read_timeout_seconds=30) as client,
    ):
        result = await client.call_tool("context_index_control", CLEAR)
        assert result.is_error and "ran longer than the server's limit of 0.5 s" in text_of(result)
        status = await client.call_tool("context_status", {})
        assert not status.is_error


async def test_bodies_over_max_body_bytes_are_refused_413_on_rest_and_mcp(repo: Path, home: Path) -> None:
    settings = ServerSettings(max_body_bytes=2000, **UNLIMITED)
    big = {"query": "x" * 3000}
    async with serving(repo, home, settings) as s, httpx.AsyncClient(base_url=s.url) as http:
        problem = assert_problem(await http.post(f"{API}/search", json=big), 413, "too-large")
        assert "2000" in problem["detail"]

        async def chunked() -> Any:
            yield b'{"query": "'
            yield b"y" * 3000
            yield b'"}'

        json_type = {"Content-Type": "application/json"}
        streamed = await http.post(f"{API}/search", content=chunked(), headers=json_type)
        assert_problem(streamed, 413, "too-large")
        rpc = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x", "arguments": big}}
        response = await http.post("/mcp", json=rpc, headers=MCP_HEADERS)
        assert response.status_code == 413 and response.json()["error"]["code"] == -32600
        assert (await http.post(f"{API}/search", json={"query": "retry"})).status_code == 200
