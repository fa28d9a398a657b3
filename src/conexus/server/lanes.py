"""Worker lanes: the bounded threads a server runs operations on, light work kept apart from heavy.

Every operation of the table names its ``cost`` (:class:`conexus.api.operations.Operation`):
``light`` ones (search, read, status: milliseconds) and ``heavy`` ones (grep, localize,
related, explain: whole-tree scans and graph walks, hundreds of milliseconds on a large
repository). A server runs each in its own lane, a fixed pool of worker threads
(``workers`` and ``heavy_workers`` of :class:`~conexus.server.settings.ServerSettings`):

* a burst of heavy requests queues in its lane and never takes the workers that
  searches need, so search latency holds while greps wait;
* the number of threads, and so of per-thread SQLite readers and their page caches,
  is bounded: a request abandoned by its client (a cancelled call, a time limit) keeps
  its worker until the operation notices the cancellation, and no new thread is made
  for the next request;
* a request that waited longer than ``queue_timeout_s`` for a worker is answered
  :class:`~conexus.errors.OverloadedError` (503 with ``Retry-After``) without running:
  its client has likely given up, and the work would only delay the requests behind it.

Threads alone do not keep heavy work off the interpreter that searches need (the GIL):
light requests run as interactive work and heavy ones as background work that steps
aside at its checkpoints while light ones are in flight (:mod:`conexus.priority`).

Both adapters (REST and MCP over HTTP or stdio) run operations through :meth:`Lanes.run`.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import TypeVar

from conexus import priority
from conexus.api.operations import Cost
from conexus.errors import OverloadedError
from conexus.observability import metrics

T = TypeVar("T")

#: Defaults of the ``workers``, ``heavy_workers`` and ``queue_timeout_s`` settings.
DEFAULT_WORKERS = 4
DEFAULT_HEAVY_WORKERS = 2
DEFAULT_QUEUE_TIMEOUT_S = 30.0


class Lane:
    """One fixed pool of worker threads and the requests waiting for them."""

    def __init__(
        self, name: Cost, workers: int, queue_timeout_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if workers < 1:
            raise ValueError(f"a lane needs at least one worker, got {workers}")
        self.name = name
        self.workers = workers
        self.queue_timeout_s = queue_timeout_s
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"conexus-{name}")
        self._lock = threading.Lock()
        self.queued = 0
        self.busy = 0
        metrics.LANE_WORKERS.labels(lane=name).set(workers)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` on a worker of this lane, in the caller's context (logs, traces).

        Cancelling the caller drops a request that has not started; one that has keeps
        its worker until ``fn`` returns (operations watch their call's ``cancelled`` event).

        Raises:
            OverloadedError: the request waited longer than ``queue_timeout_s``.
        """
        submitted = self._clock()
        context = contextvars.copy_context()
        self._count(queued=1)

        def job() -> T:
            waited = self._clock() - submitted
            self._count(queued=-1, busy=1)
            try:
                metrics.LANE_WAIT.labels(lane=self.name).observe(waited)
                if waited > self.queue_timeout_s:
                    metrics.SHED.inc()  # capacity refusals count as shed, as the availability SLO reads them
                    raise OverloadedError(
                        f"the server's {self.name} workers were all busy for {waited:.0f} s "
                        f"(queue_timeout_s is {self.queue_timeout_s:g})",
                        retry_after=max(1, math.ceil(self.queue_timeout_s / 10)),
                    )
                # Light work is interactive; heavy work yields the interpreter to it at its
                # checkpoints (conexus.priority), which lanes of threads alone cannot do.
                with self._priority():
                    return context.run(fn, *args)
            finally:
                self._count(busy=-1)

        future = self._pool.submit(job)
        future.add_done_callback(lambda f: self._count(queued=-1) if f.cancelled() else None)
        return await asyncio.wrap_future(future)

    def _priority(self) -> AbstractContextManager[None]:
        return priority.background() if self.name == "heavy" else priority.interactive()

    def _count(self, *, queued: int = 0, busy: int = 0) -> None:
        with self._lock:
            self.queued += queued
            self.busy += busy
            metrics.LANE_QUEUED.labels(lane=self.name).set(self.queued)
            metrics.LANE_BUSY.labels(lane=self.name).set(self.busy)

    def close(self) -> None:
        """Stop taking work; requests still queued are dropped, running ones finish on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class Lanes:
    """The lanes of one server: ``light`` and ``heavy``, picked by an operation's ``cost``."""

    def __init__(
        self,
        workers: int = DEFAULT_WORKERS,
        heavy_workers: int = DEFAULT_HEAVY_WORKERS,
        queue_timeout_s: float = DEFAULT_QUEUE_TIMEOUT_S,
    ) -> None:
        self.light = Lane("light", workers, queue_timeout_s)
        self.heavy = Lane("heavy", heavy_workers, queue_timeout_s)

    def lane(self, cost: Cost) -> Lane:
        """The lane operations of ``cost`` run in."""
        return self.heavy if cost == "heavy" else self.light

    async def run(self, cost: Cost, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` in the lane of ``cost`` (see :meth:`Lane.run`)."""
        return await self.lane(cost).run(fn, *args)

    def close(self) -> None:
        self.light.close()
        self.heavy.close()
