"""The log-shipping examples in deploy/logging read fields Conexus' JSON lines really have.

No collector or Loki runs here (Debian's ``loki`` package is an unrelated program, not
Grafana Loki), so the configurations are checked against real log lines offline.
"""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import datetime
from pathlib import Path

from conexus.observability.instrument import incoming
from conexus.observability.logs import bind, configure_logging

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "logging"


def _request_line() -> dict[str, object]:
    """A JSON line written inside a request, as `conexus serve --log-format json` writes it."""
    stream = io.StringIO()
    root, conexus = logging.getLogger(), logging.getLogger("conexus")
    saved = (list(root.handlers), root.level, conexus.level)
    handler = configure_logging("json", "info", stream=stream)
    try:
        headers = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
        with incoming(headers), bind(operation="search", root="main"):
            logging.getLogger("conexus.requests").info("search ok", extra={"outcome": "ok"})
    finally:
        root.removeHandler(handler)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        conexus.setLevel(saved[2])
    line: dict[str, object] = json.loads(stream.getvalue())
    return line


def test_the_collector_parses_fields_every_request_line_has() -> None:
    line = _request_line()
    config = (DEPLOY / "otel-collector.yaml").read_text(encoding="utf-8")
    read = set(re.findall(r"attributes\.(\w+)", config))
    assert read == {"timestamp", "level", "trace_id", "span_id", "message"}
    assert read <= line.keys()
    # The Go layout 2006-01-02T15:04:05.999999-07:00: microseconds and a +hh:mm offset.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d", str(line["timestamp"]))
    assert datetime.fromisoformat(str(line["timestamp"])).utcoffset() is not None


def test_promtail_extracts_fields_every_request_line_has_and_labels_only_bounded_ones() -> None:
    line = _request_line()
    config = (DEPLOY / "promtail.yaml").read_text(encoding="utf-8")
    block = config.split("expressions:", 1)[1].split("- timestamp:", 1)[0]
    extracted = dict(re.findall(r"^\s+(\w+): (\w+)$", block, re.M))
    assert set(extracted.values()) <= line.keys()
    labels = config.split("- labels:", 1)[1].split("- structured_metadata:", 1)[0]
    assert set(re.findall(r"^\s+(\w+):$", labels, re.M)) == {"level", "logger"}
