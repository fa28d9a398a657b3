"""The long-running side of the server: the served roots, their index jobs and their watchers.

::

    ConexusService            every root served by one process, plus the connector registry
    └── ServedRoot            one root: an Engine, a TreeWatcher, one worker thread
        └── IndexJob          one run of Engine.index (incremental, rebuild, paths) or clear

Each root has exactly one worker thread, which runs its jobs one after the
other: jobs clients ask for (``submit``) in order, then the files the watcher
reported since the last job, coalesced into one ``paths`` job. Searches never
wait for the worker; they read what is indexed, and ``busy`` tells the
adapters to say ``index_state: "indexing"``.

Stopping is cooperative: a job's ``stop_event`` is the ``should_stop`` of
``Engine.index``, which finishes the batch it is writing and returns, leaving
a consistent index.

Roles (``conexus serve --role``, issue #14) are decided here and only read by
the adapters: ``all`` (the default) answers queries and runs index jobs and
watchers; ``index`` does the same and is meant to sit outside the query load
balancer (it still answers queries: health checks, a debugging session);
``query`` answers the read operations only: no job is queued on start, no
watcher runs, and the operations that index answer :class:`RoleError`
(:meth:`ConexusService.require_indexer`). Replicas of any role may share one
index: :meth:`Engine.index` holds the index's job lock, so jobs of one root
never interleave across processes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conexus.app.connectors import Connector, ConnectorRegistry
from conexus.app.workers import EngineRunner, InProcess
from conexus.config import Settings
from conexus.engine import Engine
from conexus.errors import (
    ConexusError,
    ConfigError,
    IndexStateError,
    PathDeniedError,
    PathError,
    PathNotFoundError,
    RoleError,
)
from conexus.indexing.indexer import IndexProgress, IndexReport
from conexus.layout import served_root
from conexus.observability import metrics
from conexus.observability.instrument import index_phase, prime_embedder, prime_root
from conexus.paths import real_path, within_any
from conexus.sources.filesystem.watcher import ChangeBatch, TreeWatcher

logger = logging.getLogger(__name__)

JOB_KINDS = ("incremental", "rebuild", "paths", "clear")
#: What a replica does: ``all`` (queries, index jobs, watchers), ``query`` (queries only),
#: ``index`` (index jobs and watchers, and queries for whoever asks it directly).
ROLES = ("all", "query", "index")
WATCH_READY_TIMEOUT_S = 10.0
MAX_RECENT_JOBS = 20


@dataclass
class IndexJob:
    """One unit of work for a root's worker: its state is read by the status tool while it runs."""

    id: int
    kind: str  # incremental | rebuild | paths | clear
    reason: str  # startup | client | watch | connector
    paths: tuple[str, ...] | None = None
    status: str = "queued"  # queued | running | done | stopped | failed | cancelled
    error: str | None = None
    report: IndexReport | None = None
    progress: IndexProgress | None = None
    queued_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    changes_seen_at: float | None = None  # a watch job: when the watcher saw its first change

    def request_stop(self) -> None:
        self.stop_event.set()

    def on_progress(self, p: IndexProgress) -> None:
        self.progress = p

    @property
    def has_work(self) -> bool:
        """Whether this job is known to change the index (a sync that finds nothing to do is not)."""
        if self.kind != "incremental":
            return True
        p = self.progress
        return p is not None and p.files_total > 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot."""
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "reason": self.reason,
            "status": self.status,
            "queued_at": self.queued_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }
        if self.paths is not None:
            out["paths"] = list(self.paths[:50])
            out["paths_total"] = len(self.paths)
        if self.progress is not None:
            out["progress"] = self.progress.to_dict()
        if self.report is not None:
            out["report"] = self.report.to_dict()
        if self.error is not None:
            out["error"] = self.error
        return out


class ServedRoot:
    """One root: its engine, its watcher and the worker thread that runs its index jobs."""

    def __init__(
        self,
        name: str,
        engine: Engine,
        *,
        source: str = "cli",
        connector_id: str | None = None,
        watch: bool = True,
        exclude_dirs: Iterable[Path] = (),
        role: str = "all",
    ) -> None:
        self.name = name
        self.role = role
        self.engine = engine
        self.path = engine.root
        self.source = source
        self.connector_id = connector_id
        self.auto_index = True  # paused by clear, resumed by start/reindex/rebuild
        self.git: Connector | None = None  # the git connector for this root, if any
        self._cv = threading.Condition()
        self._queue: deque[IndexJob] = deque()
        self._changed: set[str] = set()
        self._deleted: set[str] = set()
        self._rescan = False
        self._changes_seen_at: float | None = None  # the oldest change not yet taken into a job
        self._closed = False
        self._next_id = 1
        self.current: IndexJob | None = None
        self.recent: deque[IndexJob] = deque(maxlen=MAX_RECENT_JOBS)
        self.watch_updates = 0  # watcher-triggered jobs run so far
        self.watcher: TreeWatcher | None = None
        if watch and engine.has_checkout():
            # The engine's source watches itself, with the same ignore rules it indexes by.
            self.watcher = engine.source.watch(
                self.on_changes, exclude_dirs=[engine.settings.home, engine.index_dir, *exclude_dirs]
            )
        self._worker = threading.Thread(target=self._work, name=f"conexus-index-{name}", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, *, index: bool = True) -> None:
        """Start the watcher and the worker; with ``index``, queue an incremental job first."""
        prime_root(self.name)
        if self.watcher is not None:
            self.watcher.start()
        if index and self.engine.has_checkout():  # a replica without the checkout serves the index
            self.submit("incremental", reason="startup")
        self._worker.start()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the watcher, stop the running job, drop queued ones, close the engine."""
        with self._cv:
            self._closed = True
            for job in self._queue:
                job.status = "cancelled"
                job.done.set()
            self._queue.clear()
            if self.current is not None:
                self.current.request_stop()
            self._cv.notify_all()
        if self.watcher is not None:
            self.watcher.stop(timeout)
        if self._worker.is_alive():
            self._worker.join(timeout)
        if self._worker.is_alive():
            # The job is finishing a batch; the engine closes when the process exits.
            logger.warning(
                "index job of %s is still finishing; leaving it to exit with the process", self.name
            )
            return
        self.engine.close()

    # -- jobs ----------------------------------------------------------------------------------------
    def submit(
        self, kind: str, *, reason: str = "client", paths: Iterable[str] | None = None, join: bool = True
    ) -> tuple[IndexJob, bool]:
        """Queue a job; returns it and whether it is new.

        With ``join``, an incremental job that is already queued or running (and
        not stopping) is returned instead of queueing another one.

        Raises:
            ConfigError: unknown kind, or the root is no longer served.
        """
        if kind not in JOB_KINDS:
            raise ConfigError(f"unknown job kind {kind!r}")
        with self._cv:
            if self._closed:
                raise ConfigError(f"root {self.name} is no longer served")
            if kind in ("incremental", "rebuild", "paths"):
                self.auto_index = True
            if kind == "incremental" and join:
                for job in [self.current, *self._queue]:
                    if job is not None and job.kind == "incremental" and not job.stop_event.is_set():
                        return job, False
            job = IndexJob(
                self._next_id, kind, reason, tuple(sorted(set(paths))) if paths is not None else None
            )
            self._next_id += 1
            self._queue.append(job)
            self._cv.notify_all()
            return job, True

    def stop(self) -> list[IndexJob]:
        """Stop the running job and cancel the queued ones; returns the jobs affected."""
        with self._cv:
            affected: list[IndexJob] = []
            for job in self._queue:
                job.status = "cancelled"
                job.finished_at = time.time()
                job.done.set()
                self.recent.append(job)
                affected.append(job)
            self._queue.clear()
            if self.current is not None:
                self.current.request_stop()
                affected.insert(0, self.current)
            return affected

    def pause(self) -> None:
        """Stop reacting to file changes until the next start/reindex/rebuild (used by clear)."""
        with self._cv:
            self.auto_index = False
            self._changed.clear()
            self._deleted.clear()
            self._rescan = False

    @property
    def busy(self) -> bool:
        """True while a job runs or is queued, or changes wait to be indexed."""
        with self._cv:
            pending = self.auto_index and bool(self._changed or self._deleted or self._rescan)
            return self.current is not None or bool(self._queue) or pending

    @property
    def updating(self) -> bool:
        """True while the index is known to be behind the tree: changes wait to be indexed, or a
        queued or running job will change the index. Unlike :attr:`busy`, a start-up sync that
        finds nothing changed does not count, so results are not flagged as incomplete for it."""
        with self._cv:
            if self.auto_index and self._has_changes():
                return True
            return any(job.has_work for job in (self.current, *self._queue) if job is not None)

    def jobs(self) -> dict[str, Any]:
        """The running, queued and recent jobs, as JSON."""
        with self._cv:
            return {
                "current": self.current.to_dict() if self.current else None,
                "queued": [j.to_dict() for j in self._queue],
                "recent": [j.to_dict() for j in reversed(self.recent)],
            }

    # -- file changes --------------------------------------------------------------------------------
    def on_changes(self, batch: ChangeBatch) -> None:
        """Called by the watcher thread: remember the changes and wake the worker."""
        with self._cv:
            if self._closed or not self.auto_index:
                return
            self._changed |= batch.changed
            self._changed -= batch.deleted
            self._deleted |= batch.deleted
            self._deleted -= batch.changed
            self._rescan = self._rescan or batch.rules_changed or batch.overflow
            if self._changes_seen_at is None and batch:
                self._changes_seen_at = time.time()
            self._cv.notify_all()

    def _take_changes(self) -> IndexJob | None:
        """Turn the pending changes into one job (lock held by the caller)."""
        if not (self._changed or self._deleted or self._rescan):
            return None
        if self._rescan:
            kind, paths = "incremental", None
        else:
            kind, paths = "paths", sorted(self._changed | self._deleted)
        self._changed.clear()
        self._deleted.clear()
        self._rescan = False
        job = IndexJob(self._next_id, kind, "watch", tuple(paths) if paths is not None else None)
        job.changes_seen_at, self._changes_seen_at = self._changes_seen_at, None
        self._next_id += 1
        return job

    def _expand_deleted(self, job: IndexJob) -> IndexJob:
        """A deleted directory is reported as one path: widen it to the indexed files under it."""
        if job.paths is None:
            return job
        try:
            indexed = self.indexed_paths()
        except ConexusError:
            return job
        known = set(indexed)
        out: set[str] = set()
        for p in job.paths:
            out.add(p)
            if p not in known:
                prefix = p + "/"
                out.update(f for f in indexed if f.startswith(prefix))
        job.paths = tuple(sorted(out))
        return job

    def indexed_paths(self) -> list[str]:
        """Root-relative paths of every indexed file, sorted (empty without an index)."""
        return list_indexed_files(self.engine)

    # -- the worker ------------------------------------------------------------------------------------
    def _work(self) -> None:
        if self.watcher is not None and not self.watcher.ready.wait(WATCH_READY_TIMEOUT_S):
            logger.warning(
                "watcher of %s is not ready after %.0fs; indexing anyway", self.name, WATCH_READY_TIMEOUT_S
            )
        while True:
            with self._cv:
                while not self._closed and not self._queue and not (self.auto_index and self._has_changes()):
                    self._cv.wait()
                if self._closed:
                    return
                job = self._queue.popleft() if self._queue else self._take_changes()
                if job is None:
                    continue
                job.status = "running"
                job.started_at = time.time()
                self.current = job
            if job.reason == "watch":
                if not self.engine.has_index():
                    # Nothing to keep fresh (--no-index, or cleared): a few changed files
                    # must not become a partial index. Start/reindex/rebuild build one.
                    job.status = "cancelled"
                    job.done.set()
                    with self._cv:
                        self.current = None
                    continue
                job = self._expand_deleted(job)
            self._run(job)
            with self._cv:
                self.current = None
                if job.reason == "watch":
                    self.watch_updates += 1
                self.recent.append(job)
                self._cv.notify_all()

    def _has_changes(self) -> bool:
        return bool(self._changed or self._deleted or self._rescan)

    @property
    def pending_changes(self) -> int:
        """Files the watcher saw change that no finished job has indexed yet (waiting or being indexed)."""
        with self._cv:
            running = self.current
            in_job = len(running.paths or ()) if running is not None and running.reason == "watch" else 0
            return len(self._changed) + len(self._deleted) + in_job

    def _run(self, job: IndexJob) -> None:
        attributes = {"conexus.root": self.name, "conexus.job_kind": job.kind, "conexus.reason": job.reason}
        with index_phase("job", **attributes) as job_span:
            self._run_job(job)
            job_span.set_attribute("conexus.outcome", job.status)
        if job.status == "done" and job.kind != "clear":
            prime_embedder(self.engine.embedder)  # loaded by the job: its series exist from now on

    def _run_job(self, job: IndexJob) -> None:
        stop = job.stop_event.is_set
        try:
            if job.kind == "clear":
                self.engine.clear()
                job.status = "done"
                return
            report = self.engine.index(
                rebuild=job.kind == "rebuild",
                paths=list(job.paths) if job.kind == "paths" and job.paths is not None else None,
                on_progress=job.on_progress,
                should_stop=stop,
            )
            job.report = report
            job.status = "stopped" if report.stopped else "done"
            if job.reason != "watch" or report.files_changed or report.files_deleted:
                logger.info(
                    "%s: %s index job %d %s in %.2fs (changed %d, deleted %d)",
                    self.name,
                    job.kind,
                    job.id,
                    job.status,
                    report.seconds,
                    report.files_changed,
                    report.files_deleted,
                )
        except ConexusError as exc:
            job.status = "failed"
            job.error = str(exc)
            logger.error("%s: %s index job %d failed: %s", self.name, job.kind, job.id, exc)
        except Exception as exc:  # the top of a job: log it, keep the worker alive
            job.status = "failed"
            job.error = f"unexpected {type(exc).__name__}; see the server log"
            logger.exception("%s: %s index job %d crashed", self.name, job.kind, job.id)
        finally:
            job.finished_at = time.time()
            record_job(self.name, job)
            job.done.set()

    # -- status ------------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Name, path, source and watcher state (no index access)."""
        watcher: dict[str, Any] = {"enabled": self.watcher is not None}
        if self.watcher is not None:
            watcher.update(
                {
                    "running": self.watcher.running,
                    "ready": self.watcher.ready.is_set() and self.watcher.failed is None,
                    "error": self.watcher.failed,
                }
            )
        return {
            "name": self.name,
            "path": str(self.path),
            "source": self.source,
            "connector_id": self.connector_id,
            "auto_index": self.auto_index,
            "watcher": watcher,
            "git_history": self.git is None or self.git.enabled,
            "role": self.role,
        }


def record_job(root: str, job: IndexJob) -> None:
    """A finished job's duration and outcome, the last success, and for a watch job the freshness lag."""
    if job.kind == "clear" or job.started_at is None or job.finished_at is None:
        return
    outcome = {"done": "ok", "failed": "failed"}.get(job.status, "cancelled")
    metrics.INDEX_JOBS.labels(root, outcome).inc()
    metrics.INDEX_JOB_DURATION.labels(root, outcome).observe(job.finished_at - job.started_at)
    if outcome == "ok":
        metrics.INDEX_LAST_SUCCESS.labels(root).set(job.finished_at)
        if job.changes_seen_at is not None:
            # Seen by the watcher -> committed: how long an edit took to become searchable.
            metrics.FRESHNESS_LAG.labels(root).observe(max(0.0, job.finished_at - job.changes_seen_at))


def list_indexed_files(engine: Engine) -> list[str]:
    """Every indexed root-relative path of ``engine``'s index, sorted; empty when there is no index."""
    try:
        return engine.indexed_files()
    except IndexStateError:  # cleared or rebuilt between the check and the open
        return []


SettingsFactory = Callable[[Path], Settings]


class ConexusService:
    """Every root served by this process, in order (the first is the default), and the connectors."""

    def __init__(
        self,
        settings_for: SettingsFactory,
        home: Path,
        *,
        watch: bool = True,
        auto_index: bool = True,
        allow_roots: Sequence[Path | str] | None = None,
        role: str = "all",
    ) -> None:
        """Serve roots with ``settings_for`` each; ``role`` is one of :data:`ROLES`.

        A ``query`` replica never watches nor indexes, whatever ``watch`` and ``auto_index`` say.

        Raises:
            ConfigError: an unknown role.
        """
        if role not in ROLES:
            raise ConfigError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        self.role = role
        self._settings_for = settings_for
        self.home = home
        # The directories roots may lie in, fixed for the life of the service (issue #13: a
        # connector must not widen the server's reach). None: no limit (the CLI's local use).
        self.allow_roots: tuple[Path, ...] | None = (
            None if allow_roots is None else tuple(real_path(p) for p in allow_roots)
        )
        self.watch = watch and self.runs_index_jobs
        self.auto_index = auto_index and self.runs_index_jobs
        self._lock = threading.RLock()
        self._roots: list[ServedRoot] = []
        self._started = False
        self._closed = False
        self.connectors = ConnectorRegistry(home)
        # Where searches, grep, related, explain and localize run: here, unless a server gives
        # them worker processes (conexus.app.workers; search_processes, heavy_processes).
        self.workers: EngineRunner = InProcess()

    # -- role ---------------------------------------------------------------------------------------
    @property
    def runs_index_jobs(self) -> bool:
        """Whether this replica indexes (roles ``all`` and ``index``); a ``query`` replica only reads."""
        return self.role != "query"

    def require_indexer(self, what: str) -> None:
        """Refuse ``what`` (an index or connector action) on a query replica.

        Raises:
            RoleError: this replica's role is ``query``.
        """
        if not self.runs_index_jobs:
            raise RoleError(
                f"this replica serves queries only (role query), so it cannot {what}; index jobs run "
                "on replicas with role index or all"
            )

    # -- roots --------------------------------------------------------------------------------------
    @property
    def roots(self) -> list[ServedRoot]:
        with self._lock:
            return list(self._roots)

    def add_root(
        self, path: Path | str, *, source: str = "cli", connector_id: str | None = None
    ) -> ServedRoot:
        """Serve another root (started at once when the service runs).

        Raises:
            PathDeniedError: the path lies outside ``allow_roots``.
            PathError: missing path, not a directory, already served, or the data home.
            ConfigError: the root's conexus.toml is invalid.
        """
        self.check_reach(path)
        root = served_root(path)  # without a checkout here, the engine serves the root's index
        home = self.home.resolve()
        if root == home or root.is_relative_to(home):
            raise PathError(f"{root} is inside the Conexus data home; it cannot be served as a root")
        if root == Path(root.anchor):
            raise PathError("refusing to serve the filesystem root; give a project folder")
        with self._lock:
            for r in self._roots:
                if r.path == root:
                    raise PathError(f"{root} is already served as root {r.name!r}")
            engine = Engine(root, self._settings_for(root))
            served = ServedRoot(
                self._unique_name(root.name or "root"),
                engine,
                source=source,
                connector_id=connector_id,
                watch=self.watch,
                role=self.role,
            )
            served.git = self.connectors.find("git", str(root))
            self._roots.append(served)
            if self._started:
                served.start(index=self.auto_index)
        return served

    def check_reach(self, path: Path | str) -> None:
        """Refuse ``path`` as a root unless it lies inside ``allow_roots`` (symlinks and ``..`` resolved).

        Called before anything looks at the path, so a refused path's existence is not revealed.

        Raises:
            PathDeniedError: ``path`` is outside every allowed directory.
        """
        if self.allow_roots is None or within_any(path, self.allow_roots):
            return
        allowed = ", ".join(str(p) for p in self.allow_roots) or "none"
        raise PathDeniedError(
            f"{real_path(path)} is outside the directories this server may serve ({allowed}); "
            "they are fixed when the server starts by its allow_roots setting "
            "(--allow-root, CONEXUS_ALLOW_ROOTS, or allow_roots in the [serve] table of --config)"
        )

    def remove_root(self, served: ServedRoot, *, delete_index: bool = False) -> None:
        """Stop serving ``served``; with ``delete_index``, delete its index from the data home too."""
        with self._lock:
            if served in self._roots:
                self._roots.remove(served)
        served.close()
        if delete_index:
            # Waits for a job that outlived close() to finish its batch (clear takes the index lock).
            served.engine.clear()
            logger.info("deleted the index of %s (%s)", served.name, served.path)

    def _unique_name(self, base: str) -> str:
        names = {r.name for r in self._roots}
        if base not in names:
            return base
        n = 2
        while f"{base}-{n}" in names:
            n += 1
        return f"{base}-{n}"

    def root(self, ref: str | None = None) -> ServedRoot:
        """The served root named ``ref`` (its name or its path); the first root when ``ref`` is empty.

        Raises:
            PathError: no root matches, with the list of served roots.
        """
        return select_root(self.roots, ref)

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Load filesystem connectors, then start every root's watcher and initial index job."""
        with self._lock:
            for c in self.connectors.all():
                if c.kind == "filesystem" and c.enabled:
                    try:
                        self.add_root(c.target, source="connector", connector_id=c.id)
                    except ConexusError as exc:
                        logger.error("connector %s (%s) not served: %s", c.id, c.target, exc)
            self._started = True
            for r in self._roots:
                r.start(index=self.auto_index)

    def close(self, timeout: float = 1.5) -> None:
        """Stop all watchers and jobs, then close the engines.

        Bounded by ``timeout`` overall: a stdio client kills the server two seconds
        after closing its stdin, and a job interrupted mid-batch leaves a
        consistent index anyway (each batch is one transaction).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            roots = list(self._roots)
            self._started = False
        for r in roots:  # signal everyone first, so the waits below overlap
            if r.watcher is not None:
                r.watcher.stop(0)
            r.stop()
        deadline = time.monotonic() + timeout
        self.workers.close(timeout / 2)
        for r in roots:
            r.close(max(0.0, deadline - time.monotonic()))

    # -- connectors ----------------------------------------------------------------------------------
    def apply_connector(self, connector: Connector) -> None:
        """Bring the served roots in line with one added or updated connector.

        Raises:
            PathError, ConfigError: the folder of a filesystem connector cannot be served.
        """
        if connector.kind == "filesystem":
            served = self._served_by(connector.id)
            if connector.enabled and served is None:
                self.add_root(connector.target, source="connector", connector_id=connector.id)
            elif not connector.enabled and served is not None:
                self.remove_root(served)
        elif connector.kind == "git":
            for r in self.roots:
                if str(r.path) == connector.target:
                    r.git = connector

    def drop_connector(self, connector: Connector, *, keep_index: bool = False) -> bool:
        """Undo what a removed connector did: stop serving its folder, or turn git history off.

        A filesystem connector's index is deleted from the data home unless ``keep_index``
        (or another served root still uses it). Returns whether an index was deleted.
        """
        if connector.kind == "filesystem":
            served = self._served_by(connector.id)
            if served is not None:
                self.remove_root(served, delete_index=not keep_index)
                return not keep_index
            if keep_index:
                return False
            # A disabled connector is not served, but its index may still be there: its folder,
            # or its tree of its repository's shared database (which a folder delete would leave).
            target = Path(connector.target)
            if any(r.path == target for r in self.roots):
                return False
            try:
                engine = Engine(target, self._settings_for(target))
            except PathNotFoundError:
                return False  # neither the folder nor an index of it
            with engine:
                if not engine.has_index():
                    return False
                engine.clear()
            logger.info("deleted the index of %s", target)
            return True
        elif connector.kind == "git":
            for r in self.roots:
                if r.git is not None and r.git.id == connector.id:
                    r.git = None
        return False

    def _served_by(self, connector_id: str) -> ServedRoot | None:
        for r in self.roots:
            if r.connector_id == connector_id:
                return r
        return None


def select_root(roots: list[ServedRoot], ref: str | None = None) -> ServedRoot:
    """The root of ``roots`` named ``ref`` (its name or its path); the first one when ``ref`` is empty.

    The service's lookup, also used over the roots a caller may see (:mod:`conexus.api.access`):
    the error then lists only those.

    Raises:
        PathError: no root matches, with the list of ``roots``.
    """
    if not roots:
        raise PathError("no root is served; add one with context_connector_management (kind=filesystem)")
    if ref is None or not ref.strip():
        return roots[0]
    if "\x00" in ref or len(ref) > 4096:
        raise PathError("invalid root: give the name or the path of a served root")
    for r in roots:
        if ref == r.name or ref == str(r.path):
            return r
    try:
        resolved = Path(ref).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        resolved = None
    for r in roots:
        if resolved is not None and resolved == r.path:
            return r
    served = ", ".join(f"{r.name} ({r.path})" for r in roots)
    raise PathNotFoundError(f"{ref!r} is not a served root; served roots: {served}")
