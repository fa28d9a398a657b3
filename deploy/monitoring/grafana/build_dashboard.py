"""Write the Conexus Grafana dashboard (``conexus.json`` beside this file) from the panel list below.

The dashboard is generated so that each panel stays a few readable lines: its title, what it
tells an operator, and its PromQL. Every query reads only the metrics of the catalogue
(``src/conexus/observability/metrics.py``) and the recording rules of ``../prometheus/rules``;
``tests/deploy/test_monitoring_pack.py`` checks that, and that ``conexus.json`` is what this
script writes. Run it after editing: ``python deploy/monitoring/grafana/build_dashboard.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("conexus.json")
DS = {"type": "prometheus", "uid": "${datasource}"}
# Selectors of the template variables, spliced into every query.
JI = 'job=~"$job", instance=~"$instance"'
JIR = 'job=~"$job", instance=~"$instance", root=~"$root"'
RI = "$__rate_interval"


def target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}


def panel(
    kind: str,
    title: str,
    description: str,
    queries: list[tuple[str, str]],
    unit: str,
    pos: tuple[int, int, int, int],
    **extra: Any,
) -> dict[str, Any]:
    """A panel: ``queries`` are (PromQL, legend) pairs; ``pos`` is (x, y, width, height) on the grid."""
    x, y, w, h = pos
    field_defaults: dict[str, Any] = {"unit": unit}
    field_defaults.update(extra.pop("defaults", {}))
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [target(q, legend, chr(ord("A") + i)) for i, (q, legend) in enumerate(queries)],
        "fieldConfig": {"defaults": field_defaults, "overrides": extra.pop("overrides", [])},
        "options": extra.pop("options", {"legend": {"displayMode": "list", "placement": "bottom"}}),
        **extra,
    }


def row(title: str, y: int) -> dict[str, Any]:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
        "panels": [],
    }


def quantiles(metric: str, by: str, selector: str, window: str) -> list[tuple[str, str]]:
    return [
        (
            f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{selector}}}[{window}])))",
            f"p{round(q * 100)} {{{{{by}}}}}",
        )
        for q in (0.5, 0.95, 0.99)
    ]


def right_axis(legend_prefix: str, unit: str) -> dict[str, Any]:
    """An override: series whose legend starts with ``legend_prefix`` go on a right axis in ``unit``."""
    return {
        "matcher": {"id": "byRegexp", "options": f"{legend_prefix}.*"},
        "properties": [
            {"id": "custom.axisPlacement", "value": "right"},
            {"id": "unit", "value": unit},
        ],
    }


def panels() -> list[dict[str, Any]]:
    ts, stat = "timeseries", "stat"
    requests = f"conexus_requests_total{{{JI}}}"
    return [
        row("Service", 0),
        panel(
            ts,
            "Traffic",
            "Requests answered per second, by operation (all transports).",
            [(f"sum by (operation) (rate({requests}[{RI}]))", "{{operation}}")],
            "reqps",
            (0, 1, 8, 8),
        ),
        panel(
            ts,
            "Outcomes",
            "Share of requests by coarse status: ok, client_error, denied, limited, error "
            "(server errors: the availability SLO counts these and shed requests).",
            [
                (
                    f"sum by (status) (rate({requests}[{RI}])) / ignoring (status) group_left "
                    f"sum(rate({requests}[{RI}]))",
                    "{{status}}",
                )
            ],
            "percentunit",
            (8, 1, 8, 8),
            defaults={"max": 1, "min": 0},
        ),
        panel(
            ts,
            "Latency by operation",
            "p50, p95 and p99 of the time from request to answer, per operation.",
            quantiles("conexus_request_duration_seconds", "operation", JI, RI),
            "s",
            (16, 1, 8, 8),
        ),
        panel(
            ts,
            "Saturation",
            "Requests in flight against the max_concurrent bound; past it requests are "
            "shed (503, right axis).",
            [
                (f"sum by (instance) (conexus_requests_in_flight{{{JI}}})", "in flight {{instance}}"),
                (f"max by (instance) (conexus_requests_max_concurrent{{{JI}}})", "max {{instance}}"),
                (f"sum by (instance) (rate(conexus_shed_total{{{JI}}}[{RI}]))", "shed/s {{instance}}"),
            ],
            "short",
            (0, 9, 8, 8),
            overrides=[right_axis("shed/s", "reqps")],
        ),
        panel(
            ts,
            "Search latency by stage",
            "p50 and p95 of each search stage (lexical, vector, exact, "
            "fusion, rerank): which one a slow search spends its time in.",
            quantiles("conexus_search_stage_duration_seconds", "stage", JI, RI)[:2],
            "s",
            (8, 9, 8, 8),
        ),
        panel(
            ts,
            "Rejections",
            "Requests refused by authentication or authorization (by reason) and "
            "answered 429 by a rate limit (by bucket).",
            [
                (f"sum by (reason) (rate(conexus_auth_failures_total{{{JI}}}[{RI}]))", "auth {{reason}}"),
                (f"sum by (bucket) (rate(conexus_rate_limited_total{{{JI}}}[{RI}]))", "429 per {{bucket}}"),
            ],
            "reqps",
            (16, 9, 8, 8),
        ),
        row("Index", 17),
        panel(
            stat,
            "Time since last index success",
            "Per root: how long ago its last index job succeeded.",
            [(f"time() - max by (root) (conexus_index_last_success_timestamp_seconds{{{JIR}}})", "{{root}}")],
            "s",
            (0, 18, 6, 8),
            options={"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value", "graphMode": "none"},
        ),
        panel(
            ts,
            "Freshness",
            "From a file change seen by the watcher to the change being searchable "
            "(p50, p95), and files whose disk content differs from the index (right axis).",
            [
                *quantiles("conexus_index_freshness_lag_seconds", "root", JIR, "15m")[:2],
                (f"sum by (root) (conexus_index_stale_files{{{JIR}}})", "stale files {{root}}"),
            ],
            "s",
            (6, 18, 9, 8),
            overrides=[right_axis("stale files", "short")],
        ),
        panel(
            ts,
            "Index jobs",
            "Index jobs finished in the last hour by outcome (failed ones need a look), "
            "p95 job duration (right axis), and 1 while a root's index is partial or busy.",
            [
                (
                    f"sum by (root, outcome) (increase(conexus_index_jobs_total{{{JIR}}}[1h]))",
                    "{{root}} {{outcome}}",
                ),
                (
                    "histogram_quantile(0.95, sum by (root, le) "
                    f"(rate(conexus_index_job_duration_seconds_bucket{{{JIR}}}[1h])))",
                    "p95 duration {{root}}",
                ),
                (f"max by (root) (conexus_index_partial{{{JIR}}})", "partial {{root}}"),
                (f"max by (root) (conexus_index_busy{{{JIR}}})", "busy {{root}}"),
            ],
            "short",
            (15, 18, 9, 8),
            overrides=[right_axis("p95 duration", "s")],
        ),
        panel(
            ts,
            "Files, chunks and skips",
            "Files and chunks in each root's index, and files the last walk "
            "skipped, by reason (secrets, binary, too large, ignored ...).",
            [
                (f"sum by (root) (conexus_index_files{{{JIR}}})", "files {{root}}"),
                (f"sum by (root) (conexus_index_chunks{{{JIR}}})", "chunks {{root}}"),
                (
                    f"sum by (root, reason) (conexus_index_skipped_files{{{JIR}}})",
                    "skipped {{root}} {{reason}}",
                ),
            ],
            "short",
            (0, 26, 12, 8),
        ),
        panel(
            ts,
            "Store size",
            "Bytes on disk of each root's index (database, vectors, side files).",
            [(f"sum by (root) (conexus_store_bytes{{{JIR}}})", "{{root}}")],
            "bytes",
            (12, 26, 12, 8),
        ),
        row("Embedding and resources", 34),
        panel(
            ts,
            "Embedding throughput",
            "Texts embedded per second (cache misses) and the model's speed "
            "(texts per second of model time).",
            [
                (
                    f"sum by (embedder) (rate(conexus_embedded_texts_total{{{JI}}}[{RI}]))",
                    "texts/s {{embedder}}",
                ),
                (
                    f"sum by (embedder) (rate(conexus_embedded_texts_total{{{JI}}}[{RI}])) "
                    f"/ sum by (embedder) (rate(conexus_embed_seconds_total{{{JI}}}[{RI}]))",
                    "model texts/s {{embedder}}",
                ),
            ],
            "short",
            (0, 35, 8, 8),
        ),
        panel(
            ts,
            "Embedding cache hit ratio",
            "Share of embedding lookups answered by the content-addressed "
            "cache (re-indexing unchanged text costs nothing).",
            [
                (
                    f'sum(rate(conexus_embedding_cache_lookups_total{{{JI}, result="hit"}}[{RI}])) / '
                    f"sum(rate(conexus_embedding_cache_lookups_total{{{JI}}}[{RI}]))",
                    "hit ratio",
                )
            ],
            "percentunit",
            (8, 35, 8, 8),
            defaults={"max": 1, "min": 0},
        ),
        panel(
            ts,
            "Memory and CPU",
            "Resident memory of each process (the HNSW index and SQLite caches live "
            "here) and CPU seconds per second (right axis).",
            [
                (f"process_resident_memory_bytes{{{JI}}}", "RSS {{instance}}"),
                (f"rate(process_cpu_seconds_total{{{JI}}}[{RI}])", "CPU {{instance}}"),
            ],
            "bytes",
            (16, 35, 8, 8),
            overrides=[right_axis("CPU", "percentunit")],
        ),
        row("Service level objectives", 43),
        panel(
            stat,
            "Error budget left (30 days)",
            "Share of each SLO's 30-day error budget not yet spent: "
            "availability 99.9%, search latency 99% within 500 ms, freshness 99% within 60 s.",
            [('slo:conexus_error_budget_remaining:ratio{job=~"$job"}', "{{slo}}")],
            "percentunit",
            (0, 44, 8, 8),
            defaults={
                "thresholds": {
                    "mode": "absolute",
                    "steps": [
                        {"color": "red", "value": None},
                        {"color": "orange", "value": 0.25},
                        {"color": "green", "value": 0.5},
                    ],
                }
            },
            options={"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value", "graphMode": "area"},
        ),
        panel(
            ts,
            "Burn rate",
            "How fast each SLO spends its budget (1 = exactly in 30 days); the page "
            "alerts fire at 14.4 (1h) and 6 (6h), the tickets at 3 (1d) and 1 (3d).",
            [
                (
                    f'slo:conexus_sli_error:ratio_rate{w}{{job=~"$job"}} / on (slo) group_left () '
                    "(1 - slo:conexus_objective:ratio)",
                    f"{{{{slo}}}} {w}",
                )
                for w in ("1h", "6h", "1d")
            ],
            "short",
            (8, 44, 8, 8),
        ),
        panel(
            ts,
            "SLI over 30 days",
            "Each SLO's good-event ratio over the budget period against its objective.",
            [
                ('1 - slo:conexus_sli_error:ratio_rate30d{job=~"$job"}', "{{slo}}"),
                ("slo:conexus_objective:ratio", "objective {{slo}}"),
            ],
            "percentunit",
            (16, 44, 8, 8),
        ),
        panel(
            stat,
            "Targets up",
            "1 when Prometheus scrapes the instance, 0 when it is down.",
            [('up{job=~"$job", instance=~"$instance"}', "{{instance}}")],
            "none",
            (0, 52, 12, 4),
            options={
                "reduceOptions": {"calcs": ["lastNotNull"]},
                "colorMode": "background",
                "graphMode": "none",
            },
        ),
        panel(
            stat,
            "Version",
            "The Conexus version each instance runs.",
            [(f"count by (version) (conexus_build_info{{{JI}}})", "{{version}}")],
            "none",
            (12, 52, 12, 4),
            options={"reduceOptions": {"calcs": ["lastNotNull"]}, "textMode": "name", "graphMode": "none"},
        ),
    ]


def variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": f"{name}-var"},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
        "sort": 1,
    }


def dashboard() -> dict[str, Any]:
    """The dashboard's JSON model (Grafana 10+, schema version 39)."""
    return {
        "uid": "conexus",
        "title": "Conexus",
        "description": "Traffic, errors, latency, saturation, index freshness, embedding, SLOs of Conexus.",
        "tags": ["conexus"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "links": [],
        "annotations": {"list": []},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                },
                variable("job", "Job", "label_values(conexus_build_info, job)"),
                variable("instance", "Instance", 'label_values(conexus_build_info{job=~"$job"}, instance)'),
                variable(
                    "root",
                    "Root",
                    'label_values(conexus_index_files{job=~"$job", instance=~"$instance"}, root)',
                ),
            ]
        },
        "panels": [dict(p, id=i + 1) for i, p in enumerate(panels())],
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
