"""The worker lanes: heavy work never takes the light workers, threads stay bounded, waits are bounded."""

from __future__ import annotations

import threading
from collections.abc import Callable

import anyio

from conexus.api.errors import describe
from conexus.api.operations import OPERATIONS
from conexus.errors import OverloadedError
from conexus.server.lanes import Lane, Lanes

WAIT_S = 30.0


def _blocker(started: threading.Event, release: threading.Event) -> Callable[[], str]:
    def job() -> str:
        started.set()
        assert release.wait(WAIT_S), "the test never released the job"
        return "heavy done"

    return job


def test_light_requests_run_while_every_heavy_worker_is_busy() -> None:
    lanes = Lanes(workers=2, heavy_workers=1, queue_timeout_s=60)
    started, release = threading.Event(), threading.Event()
    results: list[str] = []

    async def main() -> None:
        async with anyio.create_task_group() as tg:

            async def heavy() -> None:
                results.append(await lanes.run("heavy", _blocker(started, release)))

            tg.start_soon(heavy)
            tg.start_soon(heavy)  # queued behind the first: the heavy lane has one worker
            await anyio.to_thread.run_sync(started.wait, WAIT_S)
            assert await lanes.run("light", lambda: "light done") == "light done"
            assert lanes.heavy.busy == 1 and lanes.heavy.queued == 1
            results.append("light first")
            release.set()

    try:
        anyio.run(main)
    finally:
        lanes.close()
    assert results == ["light first", "heavy done", "heavy done"]


def test_a_lane_never_runs_more_threads_than_its_workers() -> None:
    lane = Lane("light", 3, queue_timeout_s=60)
    names: set[str] = set()
    lock = threading.Lock()

    def job() -> None:
        with lock:
            names.add(threading.current_thread().name)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(60):
                tg.start_soon(lane.run, job)

    try:
        anyio.run(main)
    finally:
        lane.close()
    assert 1 <= len(names) <= 3
    assert lane.queued == 0 and lane.busy == 0


def test_a_request_that_waited_past_the_queue_time_limit_is_refused_without_running() -> None:
    now = [0.0]
    lane = Lane("heavy", 1, queue_timeout_s=5, clock=lambda: now[0])
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lane.run, _blocker(started, release))
            await anyio.to_thread.run_sync(started.wait, WAIT_S)
            refusals: list[BaseException] = []

            async def late() -> None:
                try:
                    await lane.run(lambda: ran.append("late"))
                except OverloadedError as exc:
                    refusals.append(exc)

            tg.start_soon(late)
            with anyio.fail_after(WAIT_S):
                while lane.queued < 1:  # the late request is in the queue
                    await anyio.sleep(0.001)
            now[0] = 6.0  # it has now waited 6 s when the worker frees up
            release.set()
        assert len(refusals) == 1
        assert isinstance(refusals[0], OverloadedError) and refusals[0].retry_after >= 1

    try:
        anyio.run(main)
    finally:
        lane.close()
    assert ran == []


def test_a_cancelled_request_that_had_not_started_never_runs() -> None:
    lane = Lane("heavy", 1, queue_timeout_s=60)
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lane.run, _blocker(started, release))
            await anyio.to_thread.run_sync(started.wait, WAIT_S)
            with anyio.move_on_after(0.05):
                await lane.run(lambda: ran.append("cancelled one"))
            release.set()
        assert await lane.run(lambda: "after") == "after"

    try:
        anyio.run(main)
    finally:
        lane.close()
    assert ran == []
    assert lane.queued == 0


def test_an_overloaded_refusal_is_a_503_problem_with_retry_after() -> None:
    failure = describe(OverloadedError("the heavy workers were all busy", retry_after=3), "context_grep")
    assert (failure.status, failure.type, failure.retry_after) == (503, "overloaded", 3)
    assert "Retry-After" in failure.message


def test_whole_tree_operations_run_in_the_heavy_lane() -> None:
    heavy = {op.name for op in OPERATIONS if op.cost == "heavy"}
    assert heavy == {"grep", "localize", "related", "explain"}
