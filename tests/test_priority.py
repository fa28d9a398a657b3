"""Interactive work first (conexus.priority): background work steps aside at its checkpoints."""

from __future__ import annotations

import threading

import anyio
import pytest

from conexus import priority
from conexus.server.lanes import Lanes

WAIT_S = 30.0


def test_a_checkpoint_outside_background_work_never_waits() -> None:
    with priority.interactive():
        assert priority.in_flight() == 1
        assert not priority.is_background()
        assert priority.checkpoint() == 0.0
    assert priority.in_flight() == 0


def test_background_work_waits_at_a_checkpoint_until_interactive_work_is_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(priority, "SLICE_S", 0.0)
    monkeypatch.setattr(priority, "MAX_YIELD_S", WAIT_S)  # only the end of the interactive work frees it
    at_checkpoint, waited = threading.Event(), []

    def heavy() -> None:
        with priority.background():
            at_checkpoint.set()
            waited.append(priority.checkpoint())

    with priority.interactive():
        worker = threading.Thread(target=heavy)
        worker.start()
        assert at_checkpoint.wait(WAIT_S)
        worker.join(0.3)
        assert worker.is_alive(), "the background thread went on while interactive work ran"
    worker.join(WAIT_S)
    assert not worker.is_alive() and waited[0] > 0


def test_background_work_is_slowed_never_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(priority, "SLICE_S", 0.0)
    monkeypatch.setattr(priority, "MAX_YIELD_S", 0.01)
    done = threading.Event()

    def heavy() -> None:
        with priority.background():
            for _ in range(5):
                priority.checkpoint()  # each waits at most MAX_YIELD_S: the interactive work never ends here
        done.set()

    with priority.interactive():
        threading.Thread(target=heavy).start()
        assert done.wait(WAIT_S)


def test_a_background_thread_yields_only_after_running_a_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(priority, "SLICE_S", 3600.0)  # never a whole slice in this test
    monkeypatch.setattr(priority, "MAX_YIELD_S", WAIT_S)
    with priority.interactive(), priority.background():
        assert priority.is_background()
        assert priority.checkpoint() == 0.0
    assert not priority.is_background()


def test_server_lanes_run_light_operations_as_interactive_and_heavy_ones_as_background() -> None:
    lanes = Lanes(workers=1, heavy_workers=1, queue_timeout_s=60)

    def seen() -> tuple[int, bool]:
        return priority.in_flight(), priority.is_background()

    async def main() -> tuple[tuple[int, bool], tuple[int, bool]]:
        return await lanes.run("light", seen), await lanes.run("heavy", seen)

    try:
        light, heavy = anyio.run(main)
    finally:
        lanes.close()
    assert light == (1, False)
    assert heavy == (0, True)
