"""The served roots' state as Prometheus gauges, read when Prometheus scrapes.

Counters and histograms are recorded where the work happens; the state of
each root (files, chunks, stale files, partial, skips, busy, store size) is
read from the service at scrape time by :class:`RootStateCollector`, one
collector for the process, to which a running HTTP app attaches its service.

A scrape never walks the tree: counts come from the index (re-read only
after a commit changed its generation), stale files are the changes the
watcher saw and no job has indexed yet (or, without a watcher, the figure of
the last status check), the store size is a ``stat`` of the index folder's
few files.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import REGISTRY, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from conexus.app.service import ConexusService, ServedRoot
from conexus.errors import ConexusError
from conexus.observability.metrics import STATE_METRICS

logger = logging.getLogger(__name__)


@dataclass
class RootFigures:
    """One root's state, as the gauges report it."""

    files: int = 0
    chunks: int = 0
    stale_files: int = 0
    partial: bool = False
    skipped: dict[str, int] = field(default_factory=dict)
    busy: bool = False
    store_bytes: int = 0


def store_bytes(root: ServedRoot) -> int:
    """Bytes the root's index takes: its folder's files, or its estimated share of a PostgreSQL database."""
    try:
        return root.engine.location.size_bytes()
    except ConexusError:  # the database cannot be reached: the other gauges say so
        return 0


class RootStateCollector(Collector):
    """Reports :data:`~conexus.observability.metrics.STATE_METRICS` for the roots of the attached services."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._services: list[ConexusService] = []
        # root object id -> (index generation, figures read at it)
        self._cache: dict[int, tuple[int, RootFigures]] = {}

    def attach(self, service: ConexusService) -> None:
        with self._lock:
            if service not in self._services:
                self._services.append(service)

    def detach(self, service: ConexusService) -> None:
        with self._lock:
            if service in self._services:
                self._services.remove(service)
            self._cache.clear()

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def _families(self) -> Iterator[GaugeMetricFamily]:
        for name, help_text in STATE_METRICS.items():
            labels = ["root", "reason"] if name == "conexus_index_skipped_files" else ["root"]
            yield GaugeMetricFamily(name, help_text, labels=labels)

    def collect(self) -> Iterable[Metric]:
        families = {f.name: f for f in self._families()}
        with self._lock:
            services = list(self._services)
        seen: set[str] = set()
        for service in services:
            for root in service.roots:
                if root.name in seen:  # two services in one process (tests): the first one's root
                    continue
                seen.add(root.name)
                try:
                    figures = self.figures(root)
                except Exception:  # a scrape must answer: a root that cannot be read is left out
                    logger.debug("state of %s not readable for metrics", root.name, exc_info=True)
                    continue
                name = root.name
                families["conexus_index_files"].add_metric([name], figures.files)
                families["conexus_index_chunks"].add_metric([name], figures.chunks)
                families["conexus_index_stale_files"].add_metric([name], figures.stale_files)
                families["conexus_index_partial"].add_metric([name], float(figures.partial))
                families["conexus_index_busy"].add_metric([name], float(figures.busy))
                families["conexus_store_bytes"].add_metric([name], figures.store_bytes)
                for reason, count in sorted(figures.skipped.items()):
                    families["conexus_index_skipped_files"].add_metric([name, reason], count)
        return list(families.values())

    def figures(self, root: ServedRoot) -> RootFigures:
        """The state of ``root`` now (index counts re-read only when its generation moved)."""
        engine = root.engine
        figures = RootFigures()
        if engine.has_index():
            try:
                generation = engine.generation()
            except ConexusError:  # cleared or being rebuilt between the check and the read
                generation = -1
            cached = self._cache.get(id(root))
            if cached is not None and cached[0] == generation and generation >= 0:
                figures = RootFigures(**vars(cached[1]))
            elif generation >= 0:
                status = engine.status(check_stale=False)
                figures.files = int(status.get("files", 0))
                figures.chunks = int(status.get("chunks", 0))
                figures.partial = bool(status.get("partial", False))
                figures.skipped = dict(status.get("skipped", {}))
                self._cache[id(root)] = (generation, RootFigures(**vars(figures)))
        figures.busy = root.busy
        figures.stale_files = root.pending_changes if root.watcher is not None else engine.last_stale or 0
        figures.store_bytes = store_bytes(root)
        return figures


_collector: RootStateCollector | None = None
_collector_lock = threading.Lock()


def state_collector() -> RootStateCollector:
    """The process's collector, registered in the default registry on first use."""
    global _collector
    with _collector_lock:
        if _collector is None:
            _collector = RootStateCollector()
            REGISTRY.register(_collector)
        return _collector
