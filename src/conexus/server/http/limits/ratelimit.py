"""Token buckets: the arithmetic, and two backends behind one :class:`RateLimiter` role.

A bucket holds at most ``burst`` tokens and gains ``rate`` tokens a second;
every request takes one. An empty bucket refuses the request and says how long
until a token is back (the ``Retry-After`` of the 429).

* :class:`MemoryRateLimiter` keeps the buckets of one process (one instance of
  the server). Memory stays bounded: a bucket that has refilled completely
  carries no information and is dropped, and past ``max_buckets`` the least
  recently used bucket goes first.
* :class:`RedisRateLimiter` keeps them in Redis, so several replicas share
  each bucket. One Lua script per take reads, refills, takes and writes
  atomically, with Redis' own clock (replicas' clocks need not agree). When
  Redis cannot be reached the limiter **fails open to local limits**: it
  answers from its own in-memory buckets (each replica then enforces the limit
  alone), logs one warning per outage, counts
  ``conexus_rate_limit_backend_errors_total`` and tries Redis again after
  :data:`REDIS_RETRY_S`. A rate limit protects the service from a noisy
  client; it must not turn a Redis outage into a Conexus outage, and the bound
  on concurrent requests still caps the load of each replica.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from conexus.observability import metrics

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

MAX_BUCKETS = 100_000  # ~100 bytes each: a few MB at most, whatever the clients do
REDIS_PREFIX = "conexus:ratelimit:"
REDIS_TIMEOUT_S = 0.25  # a take waits at most this long for Redis before answering locally
REDIS_RETRY_S = 1.0  # after a failure, answer locally for this long before trying Redis again


@dataclass(frozen=True)
class Decision:
    """The outcome of one take: allowed, or refused with the seconds until a token is back."""

    allowed: bool
    retry_after: float = 0.0

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` in whole seconds, rounded up, at least 1 (RFC 9110 delay-seconds)."""
        return str(max(1, math.ceil(self.retry_after)))


def refill_and_take(
    tokens: float, updated: float, now: float, rate: float, burst: int
) -> tuple[float, Decision]:
    """One take from a bucket holding ``tokens`` at time ``updated``: its new level and the decision.

    Pure: the Lua script of :class:`RedisRateLimiter` does the same arithmetic.
    """
    level = min(float(burst), tokens + max(0.0, now - updated) * rate)
    if level >= 1.0:
        return level - 1.0, Decision(True)
    return level, Decision(False, (1.0 - level) / rate)


class RateLimiter(Protocol):
    """Where buckets live. ``bucket`` is an opaque id (never a raw key or token)."""

    async def take(self, bucket: str, rate: float, burst: int) -> Decision:
        """Take one token from ``bucket`` (created full), refilled at ``rate`` per second up to ``burst``."""
        ...

    async def aclose(self) -> None:
        """Release connections (at server shutdown)."""
        ...


class MemoryRateLimiter:
    """Buckets in this process; safe to share between threads and tasks."""

    def __init__(self, *, clock: Clock = time.monotonic, max_buckets: int = MAX_BUCKETS) -> None:
        self._clock = clock
        self._max = max_buckets
        self._lock = threading.Lock()  # held for microseconds, never across an await
        self._buckets: OrderedDict[str, tuple[float, float, float]] = OrderedDict()  # tokens, t, full at

    def __len__(self) -> int:
        return len(self._buckets)

    def take_now(self, bucket: str, rate: float, burst: int) -> Decision:
        """:meth:`take`, synchronously."""
        with self._lock:
            now = self._clock()
            tokens, updated, _ = self._buckets.pop(bucket, (float(burst), now, now))
            tokens, decision = refill_and_take(tokens, updated, now, rate, burst)
            full_at = now + (burst - tokens) / rate
            self._buckets[bucket] = (tokens, now, full_at)  # most recently used last
            self._evict(now)
            return decision

    async def take(self, bucket: str, rate: float, burst: int) -> Decision:
        return self.take_now(bucket, rate, burst)

    def _evict(self, now: float) -> None:
        # Oldest first: a bucket that is full again is the same as no bucket. The scan stops at
        # the first one still refilling, so each take does O(1) work amortised.
        while self._buckets:
            name, (_, _, full_at) = next(iter(self._buckets.items()))
            if full_at > now and len(self._buckets) <= self._max:
                return
            del self._buckets[name]

    async def aclose(self) -> None:
        return None


# KEYS[1] the bucket; ARGV rate, burst. Returns {allowed (0/1), retry_after as a string}:
# Lua numbers become integers on the way out, so the fraction travels as text.
_TAKE_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1]) or burst
local updated = tonumber(state[2]) or now
local level = math.min(burst, tokens + math.max(0, now - updated) * rate)
local allowed = 0
local retry = 0
if level >= 1 then
  level = level - 1
  allowed = 1
else
  retry = (1 - level) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(level), 'updated', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - level) / rate * 1000) + 1000)
return {allowed, tostring(retry)}
"""


class RedisRateLimiter:
    """Buckets in Redis, shared by every replica using the same ``url``; local buckets while it is down."""

    def __init__(self, url: str, *, clock: Clock = time.monotonic) -> None:
        import redis.asyncio  # the `redis` extra: only servers configured with redis_url need it

        self._client: Any = redis.asyncio.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self._script = self._client.register_script(_TAKE_LUA)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError, TimeoutError)
        self._clock = clock
        self._local = MemoryRateLimiter(clock=clock)
        self._down_until: float | None = None  # set while Redis is considered unreachable

    async def take(self, bucket: str, rate: float, burst: int) -> Decision:
        now = self._clock()
        if self._down_until is not None and now < self._down_until:
            metrics.RATE_LIMIT_BACKEND_ERRORS.inc()
            return self._local.take_now(bucket, rate, burst)
        try:
            allowed, retry = await self._script(keys=[REDIS_PREFIX + bucket], args=[rate, burst])
        except self._errors as exc:
            metrics.RATE_LIMIT_BACKEND_ERRORS.inc()
            if self._down_until is None:
                logger.warning(
                    "rate limits: Redis is unreachable (%s); enforcing limits per process until it is back",
                    type(exc).__name__,
                )
            self._down_until = now + REDIS_RETRY_S
            return self._local.take_now(bucket, rate, burst)
        if self._down_until is not None:
            logger.info("rate limits: Redis is reachable again; buckets are shared")
            self._down_until = None
        return Decision(bool(int(allowed)), float(retry))

    async def aclose(self) -> None:
        await self._client.aclose()


def rate_limiter(redis_url: str) -> RateLimiter:
    """The backend for the settings: Redis when ``redis_url`` is set, else memory."""
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()
