"""A real Prometheus scrapes a live Conexus under a little traffic, and every query of the pack returns data.

The test starts ``conexus serve --http`` on loopback (fake embedder, a small repository), then a
``prometheus`` process in ``tmp_path`` that scrapes it every second and evaluates the pack's rule
files every second. After some traffic (searches, a read, a bad request, an index-control run and
a file edit the watcher picks up), it polls Prometheus' query API until every expression answers
with at least one sample, or a deadline passes:

- each dashboard query, with its template variables replaced (``pack.DASHBOARD_VARIABLES``);
- each recording rule, by the series it records (its name and its extra labels);
- each alert, by its expression with every comparison turned into a ``bool`` comparison
  (``x > 0.05`` becomes ``x > bool 0.05``, see ``pack.without_thresholds``): a healthy service
  fires nothing, so the thresholded expression is empty by design, while the ``bool`` form returns
  a 0/1 sample for each series the alert compares; empty means it reads series that do not exist.

It also asserts that Prometheus reports no rule evaluation error. Nothing sleeps to synchronise:
readiness, scrapes and rule results are polled against deadlines.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.deploy import pack
from tests.deploy.processes import POLL_S, free_port, poll, running
from tests.server.conftest import START_TIMEOUT_S, HttpServer, make_repo, start_http_server, write
from tests.services import require_binary

pytestmark = pytest.mark.timeout(180)

API = "/api/v1"
SCRAPE_S = 1
DATA_DEADLINE_S = 40.0


def every_query() -> list[tuple[str, str]]:
    """(where it comes from, PromQL to run) for every expression of the dashboard and the rules."""
    queries = [(f"panel {title}", pack.substitute(expr)) for title, expr in pack.dashboard_expressions()]
    for rule in pack.rules():
        if rule.is_alert:
            severity = rule.body["labels"]["severity"]
            queries.append((f"alert {rule.name} ({severity})", pack.without_thresholds(rule.expr)))
        else:
            queries.append((f"record {pack.recorded_selector(rule)}", pack.recorded_selector(rule)))
    return queries


# -- the processes -----------------------------------------------------------------------------------


@pytest.fixture
def conexus(tmp_path: Path) -> Iterator[tuple[HttpServer, Path]]:
    repo = make_repo(tmp_path / "repo")
    server = start_http_server([repo], tmp_path / "conexus-home")
    try:
        yield server, repo
    finally:
        server.stop()


@pytest.fixture
def prometheus(tmp_path: Path, conexus: tuple[HttpServer, Path]) -> Iterator[httpx.Client]:
    """A Prometheus scraping the server every second and evaluating the pack's rules every second."""
    binary = require_binary("prometheus")
    server, _ = conexus
    config = {
        "global": {"scrape_interval": f"{SCRAPE_S}s", "evaluation_interval": f"{SCRAPE_S}s"},
        "rule_files": [str(p) for p in pack.RULE_FILES],
        "scrape_configs": [
            {
                "job_name": "conexus",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [urlsplit(server.url).netloc]}],
            }
        ],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    cmd = [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with running(cmd, tmp_path / "prometheus.log", f"http://127.0.0.1:{port}") as client:
        yield client


# -- traffic -----------------------------------------------------------------------------------------


def wait_index_ready(api: httpx.Client) -> None:
    def ready() -> bool:
        body = api.post(f"{API}/status", json={}).json()
        jobs = body["status"]["jobs"]
        return bool(body["index_state"] == "ready" and jobs["current"] is None and not jobs["queued"])

    poll(ready, START_TIMEOUT_S, "the index is ready")


def send_traffic(api: httpx.Client, repo: Path) -> None:
    """Searches, a read, a bad request, an index-control run, and an edit that must become searchable."""
    for query in ("retry delay backoff", "parse Link header", "Session send"):
        response = api.post(f"{API}/search", json={"query": query, "top_k": 5})
        assert response.status_code == 200, response.text
    assert api.post(f"{API}/read", json={"path": "pkg/session.py"}).status_code == 200
    assert api.post(f"{API}/search", json={"query": "x", "top_k": -1}).status_code == 400
    response = api.post(f"{API}/index", json={"action": "reindex_paths", "paths": ["pkg"], "wait": True})
    assert response.status_code == 200, response.text

    write(repo, "pkg/fresh_metrics.py", "def walrus_gauge_reading():\n    return 'walrusgauge'\n")

    def searchable() -> bool:
        hits = api.post(f"{API}/search", json={"query": "walrus_gauge_reading", "top_k": 5}).json()["hits"]
        return any(h["path"] == "pkg/fresh_metrics.py" for h in hits)

    poll(searchable, 30.0, "the edited file is searchable")


# -- the test ----------------------------------------------------------------------------------------


def query(prom: httpx.Client, promql: str) -> list[dict[str, Any]]:
    response = prom.get(f"{API}/query", params={"query": promql})
    body = response.json()
    assert body["status"] == "success", f"{promql}: {body.get('error')}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_every_dashboard_query_recording_rule_and_alert_expression_returns_data_from_a_live_server(
    conexus: tuple[HttpServer, Path], prometheus: httpx.Client
) -> None:
    server, repo = conexus
    with httpx.Client(base_url=server.url.removesuffix("/mcp"), timeout=60) as api:
        wait_index_ready(api)
        send_traffic(api, repo)
        metrics_status = api.get("/metrics").status_code

    def scraped() -> bool:
        return bool(query(prometheus, 'count_over_time(up{job="conexus"}[1m]) >= 3'))

    poll(scraped, DATA_DEADLINE_S, "three scrapes of the server")
    queries = every_query()

    def missing() -> list[str]:
        return [f"{where}: {promql}" for where, promql in queries if not query(prometheus, promql)]

    deadline = time.monotonic() + DATA_DEADLINE_S
    while (empty := missing()) and time.monotonic() < deadline:
        time.sleep(POLL_S)  # polling interval: rules need a few evaluations after the last scrape
    up = [sample["value"][1] for sample in query(prometheus, 'up{job="conexus"}')]
    assert not empty, (
        f"{len(empty)} of {len(queries)} queries returned no data "
        f"(GET /metrics: {metrics_status}, up: {up}):\n" + "\n".join(empty)
    )

    groups = prometheus.get(f"{API}/rules").json()["data"]["groups"]
    errors = [
        f"{rule['name']}: {rule.get('lastError')}"
        for group in groups
        for rule in group["rules"]
        if rule["health"] != "ok"
    ]
    assert not errors, errors
    assert sum(len(group["rules"]) for group in groups) == len(pack.rules())
