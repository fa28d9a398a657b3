"""Engine calls in worker processes (conexus.app.workers) answer as the engine does here.

Real processes (spawned), a real SQLite index of the golden repository, the fake embedder.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY

from conexus.app.workers import InProcess, Method, Offload, WorkerPool
from conexus.engine import Engine
from conexus.errors import IndexNotFoundError, QueryError
from conexus.observability.tracing import use_provider
from conexus.search.hybrid import SearchRequest
from tests.conftest import without_timings, write

CALLS: list[tuple[Method, dict[str, Any]]] = [
    ("search", {"request": SearchRequest(query="digest auth nonce", top_k=5)}),
    ("grep", {"pattern": r"def \w+", "max_results": 50}),
    ("related", {"target": "httpkit/sessions.py", "limit": 10, "history": False}),
    ("explain", {"target": "HTTPDigestAuth", "limit": 4}),
    (
        "localize",
        {
            "issue": "digest authentication sends the wrong nonce count on retry",
            "history": False,
            "max_files": 5,
            "max_locations": 5,
        },
    ),
]


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    processes = WorkerPool(1, nice=5)
    yield processes
    processes.close()


@pytest.fixture
def engine(golden_repo: Path, make_engine: Callable[..., Engine]) -> Engine:
    e = make_engine(golden_repo)
    e.index()
    return e


@pytest.mark.parametrize(("method", "kwargs"), CALLS, ids=[m for m, _ in CALLS])
def test_a_worker_answers_as_the_engine_here(
    engine: Engine, pool: WorkerPool, method: Method, kwargs: dict[str, Any]
) -> None:
    here = InProcess().run(engine, method, kwargs)
    there = pool.run(engine, method, kwargs)
    assert without_timings(there) == without_timings(here)
    assert there  # a real answer, not an empty dict


def test_an_engine_error_comes_back_as_itself(engine: Engine, pool: WorkerPool) -> None:
    with pytest.raises(QueryError) as here:
        InProcess().run(engine, "grep", {"pattern": "(unclosed"})
    with pytest.raises(QueryError) as there:
        pool.run(engine, "grep", {"pattern": "(unclosed"})
    assert str(there.value) == str(here.value)
    assert type(there.value) is type(here.value)


def test_a_root_without_index_is_reported(tmp_path: Path, make_engine: Callable[..., Engine]) -> None:
    root = tmp_path / "empty"
    write(root, "a.py", "x = 1\n")
    processes = WorkerPool(1)
    try:
        with pytest.raises(IndexNotFoundError):
            processes.run(make_engine(root), "grep", {"pattern": "x"})
    finally:
        processes.close()


def test_a_worker_reads_what_the_server_committed_since(
    golden_repo: Path, engine: Engine, pool: WorkerPool
) -> None:
    assert pool.run(engine, "grep", {"pattern": "zebra_quagga"})["matches"] == []
    write(golden_repo, "httpkit/new_module.py", "def zebra_quagga():\n    return 1\n")
    engine.index()
    found = pool.run(engine, "grep", {"pattern": "zebra_quagga"})
    assert [m["path"] for m in found["matches"]] == ["httpkit/new_module.py"]
    related = pool.run(engine, "related", {"target": "zebra_quagga", "history": False})
    assert any(d["path"] == "httpkit/new_module.py" for d in related["definitions"])


def test_workers_run_at_a_lower_priority_and_write_nothing_to_stdout(
    engine: Engine, pool: WorkerPool, capfd: pytest.CaptureFixture[str]
) -> None:
    pool.run(engine, "grep", {"pattern": "def"})
    (pid,) = pool.pids()
    assert psutil.Process(pid).nice() == os.nice(0) + 5
    pool.run(engine, "localize", CALLS[4][1])
    assert capfd.readouterr().out == ""


def test_a_worker_logs_in_the_format_of_its_server(engine: Engine, capfd: pytest.CaptureFixture[str]) -> None:
    # A root that cannot be opened: the worker's warm-up says so in a debug line.
    missing = [(str(engine.root / "no-such-folder"), engine.settings)]
    processes = WorkerPool(1, log_format="json", log_level="debug", warm=missing)
    try:
        processes.run(engine, "grep", {"pattern": "def"})
    finally:
        processes.close()
    lines = [x for x in capfd.readouterr().err.splitlines() if x.strip()]
    assert any("warming" in json.loads(x)["message"] for x in lines), lines
    assert all(json.loads(x)["logger"] for x in lines)


def test_a_killed_worker_costs_no_answer(engine: Engine, pool: WorkerPool) -> None:
    expected = without_timings(InProcess().run(engine, "grep", {"pattern": "def"}))
    pool.run(engine, "grep", {"pattern": "def"})
    (pid,) = pool.pids()
    os.kill(pid, signal.SIGKILL)
    psutil.Process(pid).wait(10) if psutil.pid_exists(pid) else None
    # The call that finds the pool broken is answered here; the next runs in a new worker.
    assert without_timings(pool.run(engine, "grep", {"pattern": "def"})) == expected
    assert pool.replaced == 1
    assert without_timings(pool.run(engine, "grep", {"pattern": "def"})) == expected
    (new_pid,) = pool.pids()
    assert new_pid != pid


def test_close_ends_the_workers_and_later_calls_run_here(engine: Engine) -> None:
    processes = WorkerPool(2)
    processes.run(engine, "grep", {"pattern": "def"})
    pids = processes.pids()
    assert pids
    processes.close()
    deadline = time.monotonic() + 10
    while any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids):
        assert time.monotonic() < deadline, "a worker outlived close()"
        time.sleep(0.05)
    assert processes.run(engine, "grep", {"pattern": "def"})["matches"]


def test_offload_sends_each_call_to_the_pool_of_its_kind(engine: Engine) -> None:
    light, heavy = WorkerPool(1), WorkerPool(1, nice=3, idle=True)
    offload = Offload(light=light, heavy=heavy)
    try:
        offload.run(engine, "search", {"request": SearchRequest(query="cookie jar")})
        assert light.pids() and not heavy.pids()
        offload.run(engine, "grep", {"pattern": "def"})
        ((light_pid,), (heavy_pid,)) = light.pids(), heavy.pids()
        assert psutil.Process(light_pid).nice() == os.nice(0)
        assert psutil.Process(heavy_pid).nice() == os.nice(0) + 3
        assert os.sched_getscheduler(heavy_pid) == os.SCHED_IDLE
        assert os.sched_getscheduler(light_pid) == os.sched_getscheduler(0)
        # A kind without a pool runs here.
        here_only = Offload(heavy=None)
        assert here_only.run(engine, "grep", {"pattern": "def"})["matches"]
    finally:
        offload.close()


def test_what_a_worker_measures_is_counted_here(engine: Engine, pool: WorkerPool) -> None:
    def stage_count() -> float:
        value = REGISTRY.get_sample_value("conexus_search_stage_duration_seconds_count", {"stage": "lexical"})
        return value or 0.0

    before = stage_count()
    pool.run(engine, "search", {"request": SearchRequest(query="cookie jar")})
    assert stage_count() == before + 1
    pool.run(engine, "localize", CALLS[4][1])  # two searches of its own
    assert stage_count() == before + 3


def test_a_workers_spans_continue_the_servers_trace(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")  # the worker's exporter: stderr
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    provider = TracerProvider()
    previous = use_provider(provider)
    processes = WorkerPool(1)
    try:
        with provider.get_tracer("test").start_as_current_span("request") as request:
            processes.run(engine, "search", {"request": SearchRequest(query="cookie jar")})
        trace_id = format(request.get_span_context().trace_id, "032x")
    finally:
        processes.close(timeout=10)  # the worker flushes its spans on the way out
        use_provider(previous)
    spans = [json.loads(chunk) for chunk in _json_objects(capfd.readouterr().err)]
    stages = [s for s in spans if s.get("name", "").startswith("search.")]
    assert stages, "the worker exported no search spans"
    assert {s["context"]["trace_id"] for s in stages} == {"0x" + trace_id}


def _json_objects(text: str) -> list[str]:
    """The top-level JSON objects printed one after another (the console exporter's output)."""
    decoder = json.JSONDecoder()
    found, i = [], 0
    while (start := text.find("{", i)) != -1:
        try:
            _obj, end = decoder.raw_decode(text, start)
        except ValueError:
            i = start + 1
            continue
        found.append(text[start:end])
        i = end
    return found


def test_start_spawns_every_worker_and_they_open_the_roots_they_are_given(engine: Engine) -> None:
    processes = WorkerPool(2, warm=[(str(engine.root), engine.settings)])
    try:
        assert processes.pids() == []
        processes.start()
        deadline = time.monotonic() + 60
        while len(processes.pids()) < 2:
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.05)
        # Warmed workers answer like any other (and a root that cannot be opened does not stop them).
        assert processes.run(engine, "grep", {"pattern": "def"})["matches"]
    finally:
        processes.close()
    broken = WorkerPool(1, warm=[("/nonexistent/root", engine.settings)])
    try:
        assert broken.run(engine, "grep", {"pattern": "def"})["matches"]
    finally:
        broken.close()


def test_each_call_runs_in_the_pool_of_its_operations_cost() -> None:
    from conexus.api.operations import BY_NAME
    from conexus.app.workers import KIND

    assert {method: BY_NAME[method].cost for method in KIND} == KIND
