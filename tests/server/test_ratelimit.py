"""Token-bucket arithmetic and the in-memory backend, on an injected clock (no sleeps)."""

from __future__ import annotations

import pytest

from conexus.server.http.limits.middleware import client_address, key_id
from conexus.server.http.limits.ratelimit import Decision, MemoryRateLimiter, refill_and_take
from conexus.server.http.limits.transport import HostCheck, mcp_transport_security, split_host

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_a_full_bucket_allows_burst_requests_then_says_how_long_until_the_next_token() -> None:
    tokens, now = 3.0, 0.0
    decisions = []
    for _ in range(4):
        tokens, d = refill_and_take(tokens, now, now, rate=0.5, burst=3)
        decisions.append(d)
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].retry_after == pytest.approx(2.0)  # one token at 0.5/s
    assert decisions[-1].retry_after_header == "2"


def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one() -> None:
    assert Decision(False, 0.01).retry_after_header == "1"
    assert Decision(False, 1.2).retry_after_header == "2"
    assert Decision(False, 3.0).retry_after_header == "3"


async def test_buckets_refill_with_time_up_to_the_burst_and_are_independent() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock=clock)
    results = [(await limiter.take("a", 1.0, 2)).allowed for _ in range(3)]
    assert results == [True, True, False]
    assert (await limiter.take("b", 1.0, 2)).allowed  # another bucket is untouched
    clock.now += 1.0
    assert (await limiter.take("a", 1.0, 2)).allowed
    assert not (await limiter.take("a", 1.0, 2)).allowed
    clock.now += 3600  # refills to the burst, never beyond it
    assert [(await limiter.take("a", 1.0, 2)).allowed for _ in range(3)] == [True, True, False]


def test_a_bucket_that_refilled_completely_is_forgotten() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock=clock)
    for i in range(100):
        limiter.take_now(f"client-{i}", 10.0, 5)
    assert len(limiter) == 100
    clock.now += 1.0  # 10/s refills the one token each took within 0.1 s
    limiter.take_now("late", 10.0, 5)
    assert len(limiter) == 1


def test_memory_stays_bounded_by_evicting_the_least_recently_used_bucket() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock=clock, max_buckets=10)
    for i in range(50):
        limiter.take_now(f"client-{i}", 0.001, 5)  # refilling for over an hour: not idle
    assert len(limiter) == 10
    limiter.take_now("client-49", 0.001, 5)
    assert len(limiter) == 10


def test_the_key_bucket_is_a_digest_of_the_bearer_token_never_the_token() -> None:
    scope = {"headers": [(b"authorization", b"Bearer cx_secret-token-value")]}
    ident = key_id(scope)
    assert ident is not None and "secret" not in ident and len(ident) == 32
    assert key_id({"headers": [(b"authorization", b"bearer cx_secret-token-value")]}) == ident
    assert key_id({"headers": [(b"authorization", b"Basic dXNlcjpwdw==")]}) is None
    assert key_id({"headers": []}) is None


def test_the_client_address_is_the_socket_peer_unless_forwarded_for_is_trusted() -> None:
    scope = {
        "client": ("127.0.0.1", 5000),
        "headers": [(b"x-forwarded-for", b"6.6.6.6, 10.1.2.3"), (b"x-forwarded-for", b"10.9.9.9")],
    }
    assert client_address(scope) == "127.0.0.1"
    # The proxy appends what it saw; anything before that is the client's own claim.
    assert client_address(scope, trust_forwarded_for=True) == "10.9.9.9"


def test_host_names_are_compared_without_port_and_case_ipv6_in_brackets() -> None:
    assert split_host("[::1]:8080") == ("::1", "8080")
    assert split_host("Example.COM.:443") == ("example.com", "443")
    assert split_host("::1") == ("::1", None)
    check = HostCheck(app=None, allowed=["localhost", "::1", "api.example.com:8443"])  # type: ignore[arg-type]
    assert check.accepts("localhost:1234") and check.accepts("LOCALHOST") and check.accepts("[::1]:9")
    assert check.accepts("api.example.com:8443")
    assert not check.accepts("api.example.com:9999")
    assert not check.accepts("evil.example") and not check.accepts(None) and not check.accepts("")


def test_the_sdk_rebinding_check_gets_our_hosts_on_any_port_and_their_origins() -> None:
    sec = mcp_transport_security(["localhost", "::1", "api.example.com:8443"], ["https://app.example"])
    assert sec.enable_dns_rebinding_protection
    assert {"localhost", "localhost:*", "[::1]:*", "api.example.com:8443"} <= set(sec.allowed_hosts)
    assert "https://app.example" in sec.allowed_origins
    assert {"http://localhost:*", "https://[::1]:*", "https://api.example.com:8443"} <= set(
        sec.allowed_origins
    )
