"""Recording helpers: one call at each place the work happens feeds the metrics, the trace and the log.

The catalogue (:mod:`conexus.observability.metrics`) declares what is
measured; these helpers are how the code that does the work reports it:

* :func:`observe_request` in ``Operation.execute``, the one dispatch every
  adapter (MCP, REST, CLI) goes through: requests, latency, in-flight, the
  request span, the operation's log line;
* :func:`search_stage` around each stage of a search and localization;
* :func:`index_phase` around the indexer's phases (spans only: the job's
  duration is a metric of the service, which knows the root);
* :func:`record_embedding` and :func:`record_cache_lookups` where texts
  are embedded.

Work a server hands to a worker process (:mod:`conexus.app.workers`) is measured there
but scraped here: the worker runs each call inside :func:`journaled`, which notes what the
query path records (:func:`search_stage`, :func:`count_search_without_vectors`), and the
server applies the notes to its own metrics with :func:`replay`.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

from opentelemetry.context import Context
from opentelemetry.trace import Span

from conexus.observability import metrics
from conexus.observability.logs import bind, request_id_from
from conexus.observability.tracing import attached, extract_context, span
from conexus.priority import checkpoint

logger = logging.getLogger("conexus.requests")

STATUSES = ("ok", "client_error", "denied", "limited", "error")
SEARCH_STAGES = ("lexical", "vector", "exact", "fusion", "rerank")


class RequestObservation:
    """What :func:`observe_request` yields: the request's span, and a way to name its root."""

    def __init__(self, request_span: Span) -> None:
        self.span = request_span
        self.root: str | None = None
        self._bindings = ExitStack()

    def set_root(self, root: str | None) -> None:
        """Name the served root the request reads (a span attribute, a field of its log lines)."""
        if root is None:
            return
        self.root = root
        self.span.set_attribute("conexus.root", root)
        self._bindings.enter_context(bind(root=root))

    def close(self) -> None:
        self._bindings.close()


@contextmanager
def observe_request(
    operation: str, transport: str, classify: Callable[[BaseException], str]
) -> Iterator[RequestObservation]:
    """Count, time and trace one request of ``operation`` over ``transport``.

    ``classify(exc)`` maps a failure to a coarse status of :data:`STATUSES`
    (the API layer knows which errors are the client's). The exception is
    re-raised for the adapter to answer.
    """
    in_flight = metrics.IN_FLIGHT.labels(transport)
    in_flight.inc()
    started = time.perf_counter()
    status = "error"
    with (
        bind(operation=operation, transport=transport),
        span(
            f"conexus.{operation}",
            {"conexus.operation": operation, "conexus.transport": transport},
        ) as request_span,
    ):
        observation = RequestObservation(request_span)
        try:
            yield observation
            status = "ok"
        except BaseException as exc:
            status = classify(exc) if isinstance(exc, Exception) else "error"
            raise
        finally:
            seconds = time.perf_counter() - started
            in_flight.dec()
            metrics.REQUESTS.labels(operation, transport, status).inc()
            metrics.REQUEST_DURATION.labels(operation, transport).observe(seconds)
            request_span.set_attribute("conexus.status", status)
            logger.info(
                "%s %s in %.1f ms",
                operation,
                status,
                seconds * 1000,
                extra={"outcome": status, "duration_ms": round(seconds * 1000, 2)},
            )
            observation.close()


@contextmanager
def incoming(
    headers: Mapping[str, str], request_id: str | None = None, trace_context: Context | None = None
) -> Iterator[str]:
    """Serve a request in the client's trace context (``traceparent``) under its request id.

    ``headers`` are the request's, names in lower case; ``request_id`` and
    ``trace_context`` what the HTTP layer already chose, if it did (else
    ``X-Request-ID`` or a new id, and the headers' trace context). Yields the id.
    """
    rid = request_id or request_id_from(headers.get("x-request-id"))
    parent = trace_context if trace_context is not None else extract_context(headers)
    with attached(parent), bind(request_id=rid):
        yield rid


def record_rejected(operation: str, transport: str, status: str) -> None:
    """Count a request refused before it reached the operation (its body did not parse)."""
    metrics.REQUESTS.labels(operation, transport, status).inc()


@contextmanager
def search_stage(stage: str, **attributes: Any) -> Iterator[Span]:
    """Time one search stage (:data:`SEARCH_STAGES`) into the stage histogram, in a span of its own.

    Each stage begins with a :func:`conexus.priority.checkpoint`: a search run by background
    work (a localization, an explanation) steps aside there for interactive requests in
    flight, before the stage's clock starts.
    """
    checkpoint()
    started = time.perf_counter()
    try:
        with span(f"search.{stage}", attributes) as stage_span:
            yield stage_span
    finally:
        _record("SEARCH_STAGE_DURATION", (stage,), "observe", time.perf_counter() - started)


#: One metric event of a worker's call: the metric's name in :mod:`~conexus.observability.metrics`,
#: its label values, ``observe`` or ``inc``, and the value.
MetricEvent = tuple[str, tuple[str, ...], str, float]
_journal: contextvars.ContextVar[list[MetricEvent] | None] = contextvars.ContextVar(
    "conexus_metric_journal", default=None
)


def _record(metric: str, labels: tuple[str, ...], method: str, value: float) -> None:
    """Record one event in this process's metric, and in the journal of the call, if any."""
    target: Any = getattr(metrics, metric)
    getattr(target.labels(*labels) if labels else target, method)(value)
    journal = _journal.get()
    if journal is not None:
        journal.append((metric, labels, method, value))


@contextmanager
def journaled() -> Iterator[list[MetricEvent]]:
    """Note the metric events of the block (on this thread), for :func:`replay` in another process."""
    events: list[MetricEvent] = []
    token = _journal.set(events)
    try:
        yield events
    finally:
        _journal.reset(token)


def replay(events: Iterable[MetricEvent]) -> None:
    """Apply a worker's metric events to this process's metrics (the ones a scrape of it reads)."""
    for metric, labels, method, value in events:
        if method not in ("observe", "inc"):
            continue
        target: Any = getattr(metrics, metric, None)
        if target is not None:
            getattr(target.labels(*labels) if labels else target, method)(value)


def count_query_cache(result: str) -> None:
    """A search was looked up in the query-result cache: ``hit`` (answered from it) or ``miss``."""
    _record("QUERY_CACHE_LOOKUPS", (result,), "inc", 1.0)


def count_search_without_vectors() -> None:
    """A search ran without vectors (the embedder failed, timed out or cannot load)."""
    _record("SEARCH_WITHOUT_VECTORS", (), "inc", 1.0)


@contextmanager
def index_phase(phase: str, **attributes: Any) -> Iterator[Span]:
    """A span for one phase of an index run (walk, chunk, embed, write, commit)."""
    with span(f"index.{phase}", attributes) as phase_span:
        yield phase_span


def embedder_kind(embedder: object) -> str:
    """A bounded label for an embedder: its class name without ``Embedder`` (``onnx``, ``fake``, ...)."""
    name = type(embedder).__name__.removesuffix("Embedder").lower()
    return name or "unknown"


def record_embedding(kind: str, texts: int, seconds: float) -> None:
    """``texts`` run through the model of ``kind`` in ``seconds``."""
    metrics.EMBEDDED_TEXTS.labels(kind).inc(texts)
    metrics.EMBED_DURATION.labels(kind).inc(seconds)


def record_cache_lookups(hits: int, misses: int) -> None:
    """Embedding-cache lookups of one batch: how many keys were found, how many were not."""
    if hits:
        metrics.EMBED_CACHE_LOOKUPS.labels("hit").inc(hits)
    if misses:
        metrics.EMBED_CACHE_LOOKUPS.labels("miss").inc(misses)


# Series that exist before their first event: a rate over a counter that is absent
# until something fails is "no data", not 0, and alert rules and dashboards misread it.
AUTH_REASONS = ("missing", "invalid", "expired", "scope", "root")
RATE_BUCKETS = ("key", "address")
INDEX_OUTCOMES = ("ok", "failed", "cancelled")


def prime_requests(operations: Iterable[str], transports: Iterable[str]) -> None:
    """Create the request, rejection and search-stage series of a server at zero."""
    transports = tuple(transports)
    for transport in transports:
        metrics.IN_FLIGHT.labels(transport)
        for operation in operations:
            metrics.REQUEST_DURATION.labels(operation, transport)
            for status in STATUSES:
                metrics.REQUESTS.labels(operation, transport, status)
    for reason in AUTH_REASONS:
        metrics.AUTH_FAILURES.labels(reason)
    for bucket in RATE_BUCKETS:
        metrics.RATE_LIMITED.labels(bucket)
    for stage in SEARCH_STAGES:
        metrics.SEARCH_STAGE_DURATION.labels(stage)
    for result in ("hit", "miss"):
        metrics.EMBED_CACHE_LOOKUPS.labels(result)
        metrics.QUERY_CACHE_LOOKUPS.labels(result)


def prime_root(root: str) -> None:
    """Create a served root's index-job and freshness series at zero."""
    for outcome in INDEX_OUTCOMES:
        metrics.INDEX_JOBS.labels(root, outcome)
        metrics.INDEX_JOB_DURATION.labels(root, outcome)
    metrics.FRESHNESS_LAG.labels(root)


def prime_embedder(embedder: object) -> None:
    """Create the embedding series of ``embedder``'s kind at zero."""
    kind = embedder_kind(embedder)
    metrics.EMBEDDED_TEXTS.labels(kind)
    metrics.EMBED_DURATION.labels(kind)
