"""Where the engine's query calls run: in this process, or in worker processes of their own.

Searches and the evidence operations (``grep``, ``related``, ``explain``, ``localize``)
are mostly pure Python: in a server's process they all hold the one interpreter lock that
every HTTP exchange of that process needs too, so on a busy server they queue for it
(docs/reliability.md). A server can run them in pools of worker processes instead
(:class:`WorkerPool`), each worker with its own :class:`~conexus.engine.Engine` per root
over the same index:

* the ``heavy`` pool (``heavy_processes``, at CPU priority ``+heavy_nice`` and, on Linux
  with ``heavy_idle``, under the ``SCHED_IDLE`` policy) runs the evidence operations, so
  they never hold the interpreter searches run on and the kernel gives the cores to
  everything else first: under ``SCHED_IDLE`` a worker runs only on CPU time no other
  process wants, where nice +10 still takes about a tenth of a contended core;
* the ``light`` pool (``search_processes``, at the server's priority) runs searches, so
  two searches run on two cores at once and the serving process keeps only the HTTP and
  MCP exchanges.

:class:`Offload` sends each call to the pool of its kind, or runs it here when that pool is
off; :class:`InProcess` runs everything here (the CLI, stdio, tests). All answer the same
call, :meth:`EngineRunner.run`, with the JSON-shaped dict of the engine's result: what
the operation returns before the service adds its view, so the paths cannot differ.

What a worker sees is the committed index (SQLite or PostgreSQL, as configured) and the
files on disk, as a `conexus` command run beside the server would: an update the server
committed is read by the next call (the store notices the new generation), an uncommitted
one is not, exactly as for the server's own readers. What a call measures in a worker (the
search stages) is sent back with its answer and counted in the server's metrics; its spans
are children of the server's request span, exported by the worker (the same ``OTEL_*``
settings); its log lines go to stderr.

A worker that dies (killed, out of memory) fails only the calls it held: the call that
finds its pool broken runs here instead, and a new pool takes the next. Workers end with
their server, even one killed with ``kill -9``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.util import Finalize
from typing import TYPE_CHECKING, Any, Literal, Protocol

from conexus.errors import ConexusError
from conexus.observability.instrument import MetricEvent, journaled, replay
from conexus.observability.tracing import attached, extract_context, inject_context

if TYPE_CHECKING:
    from conexus.config import Settings
    from conexus.engine import Engine

logger = logging.getLogger(__name__)

#: The engine calls a runner runs: :class:`~conexus.engine.Engine` methods whose results have ``to_dict``.
Method = Literal["search", "grep", "related", "explain", "localize"]
#: The pool each call runs in (the operation table's ``cost`` of the operation that makes it).
KIND: dict[Method, Literal["light", "heavy"]] = {
    "search": "light",
    "grep": "heavy",
    "related": "heavy",
    "explain": "heavy",
    "localize": "heavy",
}

#: Defaults of the server settings: worker processes for heavy calls and for searches, and how
#: much lower the heavy workers' CPU priority is.
DEFAULT_HEAVY_PROCESSES = 2
DEFAULT_SEARCH_PROCESSES = 2
DEFAULT_NICE = 10


def run_call(engine: Engine, method: Method, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Run one engine call and return its result as the dict the operations answer with.

    ``localize`` takes ``max_files`` and ``max_locations`` beside the engine's own
    arguments: its result is cut and its files' freshness checked here, where the
    engine is.

    Raises:
        ValueError: ``method`` is not one of :data:`KIND`.
        ConexusError: what the engine raises (a bad pattern, no index, ...).
    """
    if method not in KIND:
        raise ValueError(f"not an engine call: {method!r} (one of {', '.join(KIND)})")
    args = dict(kwargs)
    if method == "localize":
        max_files, max_locations = args.pop("max_files"), args.pop("max_locations")
        located = engine.localize(**args)
        return located.to_dict(engine.freshness, max_files=max_files, max_locations=max_locations)
    result = getattr(engine, method)(**args)
    return dict(result.to_dict())


class EngineRunner(Protocol):
    """Runs the engine calls of a service (:attr:`conexus.app.service.ConexusService.workers`)."""

    def run(self, engine: Engine, method: Method, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """:func:`run_call` of ``engine``, wherever this runner runs it."""
        ...

    def close(self, timeout: float = 1.0) -> None:
        """Stop within about ``timeout`` seconds; later calls run in the caller's process."""
        ...


class InProcess:
    """Engine calls on the caller's thread, in this process."""

    def run(self, engine: Engine, method: Method, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        return run_call(engine, method, kwargs)

    def close(self, timeout: float = 1.0) -> None:
        pass


@dataclass(frozen=True)
class _Raised:
    """A :class:`ConexusError` of a worker, carried back by value (exceptions whose ``__init__``
    takes keywords do not survive pickling as themselves)."""

    kind: type[ConexusError]
    args: tuple[Any, ...]
    state: dict[str, Any]

    def rebuild(self) -> ConexusError:
        exc = self.kind.__new__(self.kind)
        exc.args = self.args
        exc.__dict__.update(self.state)
        return exc


@dataclass(frozen=True)
class _Answer:
    """What a worker sends back for one call: the result (or the error) and its metric events."""

    result: dict[str, Any] | _Raised
    metrics: list[MetricEvent]


class WorkerPool:
    """``processes`` worker processes that run engine calls at CPU priority ``+nice``, and
    under Linux's ``SCHED_IDLE`` policy with ``idle`` (only on CPU time nothing else wants).

    Each worker keeps one engine per root (and settings) it was asked about, opened on
    its first call: its first call of a root loads the index and, for calls that embed a
    query, the embedding model (about a second). Workers start with the first call, by
    ``spawn`` (a fork of a threaded server could inherit a held lock).
    """

    def __init__(
        self,
        processes: int,
        *,
        nice: int = 0,
        idle: bool = False,
        log_level: str = "info",
        log_format: str = "text",
        name: str = "",
        warm: Sequence[tuple[str, Settings]] = (),
    ) -> None:
        if processes < 1:
            raise ValueError(f"a pool needs at least one process, got {processes}")
        self.processes = processes
        self.nice = nice
        self.idle = idle
        self.log_level = log_level
        self.log_format = log_format
        self.name = name
        self.warm = tuple(warm)  # (root, settings) each worker opens as it starts
        self._lock = threading.Lock()
        self._closed = False
        self._pool = self._new_pool()
        self.replaced = 0  # how many times a broken pool was replaced

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.nice, self.idle, self.log_level, self.warm, self.log_format),
        )

    def start(self) -> None:
        """Start every worker now (they open the ``warm`` roots and load the model as they start),
        so that the first calls do not wait for them. Returns at once."""
        with self._lock:
            pool = None if self._closed else self._pool
        if pool is not None:
            for _ in range(self.processes):
                pool.submit(_started)

    def run(self, engine: Engine, method: Method, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """:func:`run_call` in a worker; here when the pool is closed or a worker died under it.

        Raises:
            ConexusError: what the engine raised in the worker, as itself.
        """
        with self._lock:
            pool = None if self._closed else self._pool
        if pool is None:
            return run_call(engine, method, kwargs)
        try:
            future: Future[_Answer] = pool.submit(
                _run_in_worker, str(engine.root), engine.settings, method, dict(kwargs), inject_context()
            )
            answer = future.result()
        except BrokenProcessPool:
            self._replace(pool)
            logger.error("a %s worker died; %s runs in the server's process this time", self.name, method)
            return run_call(engine, method, kwargs)
        replay(answer.metrics)  # what the call measured, into the metrics this server exports
        if isinstance(answer.result, _Raised):
            raise answer.result.rebuild()
        return answer.result

    def pids(self) -> list[int]:
        """The process ids of the workers running now (none before the first call)."""
        with self._lock:
            processes = getattr(self._pool, "_processes", None) or {}
            return sorted(int(pid) for pid in processes)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken and not self._closed:
                self._pool = self._new_pool()
                self.replaced += 1
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self, timeout: float = 1.0) -> None:
        """Stop the workers: queued calls are dropped, a running one gets ``timeout`` seconds to end,
        then its worker is terminated (workers only read the index: nothing is lost)."""
        with self._lock:
            self._closed = True
            pool = self._pool
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + timeout
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()
                process.join(1.0)


class Offload:
    """Each call in the pool of its kind (:data:`KIND`); here when that kind has no pool."""

    def __init__(self, *, light: WorkerPool | None = None, heavy: WorkerPool | None = None) -> None:
        self.pools: dict[str, WorkerPool | None] = {"light": light, "heavy": heavy}

    @classmethod
    def for_server(
        cls,
        *,
        search_processes: int,
        heavy_processes: int,
        heavy_nice: int,
        heavy_idle: bool = False,
        log_level: str,
        log_format: str = "text",
        warm: Sequence[tuple[str, Settings]] = (),
    ) -> Offload:
        """The pools a server's settings ask for (0 processes: that kind runs in the server's process),
        their workers opening the ``warm`` roots as they start."""
        light = heavy = None
        if search_processes > 0:
            light = WorkerPool(
                search_processes, log_level=log_level, log_format=log_format, name="search", warm=warm
            )
        if heavy_processes > 0:
            heavy = WorkerPool(
                heavy_processes,
                nice=heavy_nice,
                idle=heavy_idle,
                log_level=log_level,
                log_format=log_format,
                name="heavy",
                warm=warm,
            )
        return cls(light=light, heavy=heavy)

    def start(self) -> None:
        """Start every pool's workers now (see :meth:`WorkerPool.start`)."""
        for pool in self.pools.values():
            if pool is not None:
                pool.start()

    def run(self, engine: Engine, method: Method, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        pool = self.pools.get(KIND.get(method, ""))  # an unknown method: run_call says so
        return run_call(engine, method, kwargs) if pool is None else pool.run(engine, method, kwargs)

    def close(self, timeout: float = 1.0) -> None:
        for pool in self.pools.values():
            if pool is not None:
                pool.close(timeout / 2)


# ----------------------------------------------------------------------------- in the worker

_engines: dict[str, tuple[Settings, Engine]] = {}
_engines_lock = threading.Lock()

#: How often a worker checks that the server that started it is still there.
PARENT_POLL_S = 0.5


def _init_worker(
    nice: int,
    idle: bool,
    log_level: str,
    warm: Sequence[tuple[str, Settings]] = (),
    log_format: str = "text",
) -> None:
    """Set up a worker: its priority (nice, and ``SCHED_IDLE`` with ``idle``); fd 1 pointed at
    stderr, so nothing a library prints can reach a protocol stream; log lines on stderr; an
    end with its server; and the ``warm`` roots opened, with the model loaded and one search
    run, before the first call.

    A worker holds both ends of its pool's call queue, so a server killed with ``kill -9``
    never closes it: the worker watches its parent instead and exits once it is gone.
    """
    os.dup2(2, 1)
    parent = os.getppid()

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(0)  # the server is gone: nobody waits for an answer

    threading.Thread(target=watch_parent, name="conexus-parent-watch", daemon=True).start()
    if nice:
        try:
            os.nice(nice)
        except OSError as exc:  # a sandbox may refuse it: the worker still helps, unprioritized
            logger.warning("could not lower the worker's priority: %s", exc)
    if idle:
        _schedule_idle()
    from conexus.observability.logs import configure_logging
    from conexus.observability.tracing import configure_tracing, shutdown_tracing

    configure_logging(log_format, log_level)  # the server's format: one log stream, one format
    for root, settings in warm:  # before tracing is configured: the warm-up traces nothing
        _warm(root, settings)
    configure_tracing()  # export off unless the OTEL_* variables the server inherited ask for it
    # A worker leaves through multiprocessing's exit, which runs its finalizers, not atexit's.
    Finalize(None, shutdown_tracing, exitpriority=10)


def _schedule_idle() -> None:
    """Put this process under ``SCHED_IDLE`` (Linux): it runs only when a core has nothing else to run."""
    policy = getattr(os, "SCHED_IDLE", None)
    if policy is None:  # not Linux: the nice value alone lowers the priority
        logger.info("SCHED_IDLE is not available here: heavy workers run at their nice value only")
        return
    try:
        os.sched_setscheduler(0, policy, os.sched_param(0))
    except OSError as exc:  # a sandbox may refuse it: the nice value still applies
        logger.warning("could not put the worker under SCHED_IDLE: %s", exc)


def _warm(root: str, settings: Settings) -> None:
    """Open ``root``'s engine, load its embedder, and search its index once (when it has one)."""
    from conexus.search.hybrid import SearchRequest

    try:
        engine = _engine(root, settings)
        _ = engine.embedder
        if engine.has_index():
            engine.search(SearchRequest(query="warm up", top_k=1))
    except Exception as exc:  # the first call reports what is wrong, to its caller
        logger.debug("warming %s in a worker: %s", root, exc)


def _started() -> None:
    """A call that only makes the pool start a worker."""


def _engine(root: str, settings: Settings) -> Engine:
    from conexus.engine import Engine

    with _engines_lock:
        held = _engines.get(root)
        if held is not None and held[0] == settings:
            return held[1]
        if held is not None:
            held[1].close()
        engine = Engine(root, settings)
        _engines[root] = (settings, engine)
        return engine


def _run_in_worker(
    root: str, settings: Settings, method: Method, kwargs: dict[str, Any], trace_context: dict[str, str]
) -> _Answer:
    """One call in a worker: its spans children of the server's request span (exported by the
    worker's own provider, configured from the same OTEL_* variables), its metric events noted."""
    with journaled() as events, attached(extract_context(trace_context)):
        try:
            result: dict[str, Any] | _Raised = run_call(_engine(root, settings), method, kwargs)
        except ConexusError as exc:
            result = _Raised(type(exc), exc.args, dict(exc.__dict__))
    return _Answer(result, events)
