"""OpenTelemetry tracing: a span per request, per search stage and per index phase.

Spans are opened through :func:`span` everywhere in Conexus. Until
:func:`configure_tracing` runs (``conexus serve`` calls it once at start-up,
never an import), they go to OpenTelemetry's global provider, which is a
no-op unless the embedding application installed one: a library use of
Conexus pays nothing.

Configuration is OpenTelemetry's own environment variables:

==============================  ===================================================================
``OTEL_TRACES_EXPORTER``        ``none`` (default here: export is off), ``otlp`` (OTLP over
                                HTTP/protobuf, needs the ``otlp`` extra) or ``console`` (stderr)
``OTEL_EXPORTER_OTLP_ENDPOINT`` the collector's base URL (``/v1/traces`` is appended), or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` the full URL; ``..._HEADERS``, ``..._TIMEOUT`` likewise
``OTEL_EXPORTER_OTLP_PROTOCOL`` ``http/protobuf`` only (``grpc`` is refused with a message)
``OTEL_SERVICE_NAME``           ``conexus`` unless set; ``OTEL_RESOURCE_ATTRIBUTES`` adds more
``OTEL_TRACES_SAMPLER``         the SDK's samplers (``parentbased_always_on`` by default)
``OTEL_BSP_*``                  the batch span processor's delays and queue sizes
``OTEL_SDK_DISABLED``           ``true``: no provider is installed at all
==============================  ===================================================================

Even with export off, ``conexus serve`` installs the SDK's provider, so every
request has a real trace id: the one its ``traceparent`` header named, or a
new one. The logs carry it (:mod:`conexus.observability.logs`), which ties a
client's trace to the server's log lines without any collector.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from conexus import __version__
from conexus.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

logger = logging.getLogger(__name__)

TRACER_NAME = "conexus"
EXPORTERS = ("none", "otlp", "console")

_provider: trace.TracerProvider | None = None
_tracer: trace.Tracer | None = None


def tracer() -> trace.Tracer:
    """The tracer Conexus' spans come from: the configured provider's, else the global one's."""
    if _tracer is not None:
        return _tracer
    return trace.get_tracer(TRACER_NAME, __version__)


def use_provider(provider: trace.TracerProvider | None) -> trace.TracerProvider | None:
    """Send Conexus' spans to ``provider`` (None: back to the global provider); returns the previous one.

    OpenTelemetry's global provider can be set once per process; Conexus keeps
    its own reference so a test (or an embedding application) can swap it.
    """
    global _provider, _tracer
    previous = _provider
    _provider = provider
    _tracer = provider.get_tracer(TRACER_NAME, __version__) if provider is not None else None
    return previous


def configure_tracing(environ: Mapping[str, str] | None = None) -> TracerProvider | None:
    """Install the SDK's tracer provider for this process, exporting as the ``OTEL_*`` variables say.

    ``environ`` (the process environment by default) chooses the exporter; the
    exporter itself and the resource read the process environment. Returns the
    provider (None when ``OTEL_SDK_DISABLED`` is true). Call
    :func:`shutdown_tracing` at exit so batched spans are sent.

    Raises:
        ConfigError: an exporter other than none/otlp/console, a protocol other
            than http/protobuf, or ``otlp`` without the ``otlp`` extra installed.
    """
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "none").split(",") if n.strip()]
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "none":
            continue
        if name == "otlp":
            exporters.append(_otlp_exporter(env))
        elif name == "console":
            # Never stdout: in stdio mode it is the MCP channel.
            exporters.append(ConsoleSpanExporter(out=sys.stderr))
        else:
            raise ConfigError(
                f"OTEL_TRACES_EXPORTER={name!r} is not supported; use one of {', '.join(EXPORTERS)}"
            )
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read by the detector) win over these defaults.
    resource = Resource.create({SERVICE_NAME: "conexus", SERVICE_VERSION: __version__}).merge(
        OTELResourceDetector().detect()
    )
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    use_provider(provider)
    if exporters:
        logger.info("exporting traces with %s", ", ".join(n for n in names if n != "none"))
    return provider


def _otlp_exporter(env: Mapping[str, str]) -> Any:
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol.strip() != "http/protobuf":
        raise ConfigError(
            f"OTLP protocol {protocol!r} is not supported: Conexus exports OTLP over HTTP "
            "(set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf and point the endpoint at port 4318)"
        )
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ConfigError(
            "OTEL_TRACES_EXPORTER=otlp needs the OTLP exporter: pip install 'conexus[otlp]'"
        ) from exc
    return OTLPSpanExporter()  # endpoint, headers, timeout and compression from OTEL_EXPORTER_OTLP_*


def shutdown_tracing() -> None:
    """Flush and stop the provider :func:`configure_tracing` installed (no-op otherwise)."""
    provider = _provider
    shutdown = getattr(provider, "shutdown", None)
    if shutdown is not None:
        shutdown()
    use_provider(None)


@contextmanager
def span(
    name: str, attributes: Mapping[str, Any] | None = None, *, kind: SpanKind = SpanKind.INTERNAL
) -> Iterator[Span]:
    """A span around the block, child of the current one; an exception is recorded and re-raised."""
    with tracer().start_as_current_span(
        name,
        kind=kind,
        attributes={k: v for k, v in (attributes or {}).items() if v is not None},
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as exc:
            if isinstance(exc, Exception):
                current.record_exception(exc)
            current.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise


def start_span(name: str, attributes: Mapping[str, Any] | None = None) -> Span:
    """A started span, child of the current one, that the caller ends (for work no block encloses)."""
    return tracer().start_span(
        name, attributes={k: v for k, v in (attributes or {}).items() if v is not None}
    )


def extract_context(headers: Mapping[str, str]) -> otel_context.Context:
    """The trace context a client sent (W3C ``traceparent``/``tracestate``), by the global propagator."""
    return propagate.extract(headers)


def inject_context() -> dict[str, str]:
    """The current trace context as W3C headers, for work another process continues."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def attached(ctx: otel_context.Context) -> Iterator[None]:
    """Make ``ctx`` the current trace context for the block."""
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


def current_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` of the current span as lowercase hex, or None outside a valid span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
