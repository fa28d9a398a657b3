"""``GET /metrics`` of a running ``conexus serve --http`` holds every metric of the catalogue."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
from mcp import Client
from prometheus_client import Counter, Gauge, Histogram, Info
from prometheus_client.parser import text_string_to_metric_families

from conexus.observability import metrics
from tests.observability.live import eventually
from tests.server.conftest import make_repo, start_http_server


def exposed_names() -> set[str]:
    """The sample names the catalogue exposes (with _total, _bucket, _info ... suffixes)."""
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            names.add(value._name + "_total")
        elif isinstance(value, Histogram):
            names.update(value._name + suffix for suffix in ("_bucket", "_sum", "_count"))
        elif isinstance(value, Info):
            names.add(value._name + "_info")
        elif isinstance(value, Gauge):
            names.add(value._name)
    names.update(metrics.STATE_METRICS)
    names.add("process_resident_memory_bytes")
    return names


def test_a_live_server_exposes_every_metric_of_the_catalogue_after_a_little_traffic(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    server = start_http_server([repo], tmp_path / "home")
    base = server.url.removesuffix("/mcp")
    try:
        with httpx.Client(timeout=30) as http:

            def indexed() -> bool:
                body = http.post(f"{base}/api/v1/status", json={}).json()
                return bool(body["index_state"] == "ready" and body["status"].get("chunks"))

            eventually(indexed, 60, "the index is ready")
            assert http.post(f"{base}/api/v1/search", json={"query": "parse header links"}).status_code == 200
            assert http.post(f"{base}/api/v1/localize", json={"issue": "retry delay too long"}).is_success

            async def tool_call() -> None:
                async with Client(server.url) as client:
                    assert not (await client.call_tool("context_grep", {"pattern": "def "})).is_error

            anyio.run(tool_call)
            response = http.get(f"{base}/metrics")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
            families = list(text_string_to_metric_families(response.text))
            openmetrics = http.get(f"{base}/metrics", headers={"Accept": "application/openmetrics-text"})
            assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    finally:
        server.stop()

    samples = {s.name: s for f in families for s in f.samples}
    missing = sorted(exposed_names() - set(samples))
    assert not missing, f"not exposed: {missing}"
    root = repo.name
    by_labels = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}
    assert (
        by_labels[
            ("conexus_requests_total", (("operation", "search"), ("status", "ok"), ("transport", "rest")))
        ]
        == 1
    )
    assert (
        by_labels[("conexus_requests_total", (("operation", "grep"), ("status", "ok"), ("transport", "mcp")))]
        == 1
    )
    assert by_labels[("conexus_index_files", (("root", root),))] > 0
    assert samples["process_resident_memory_bytes"].value > 0
    # Bounded cardinality: no label of Conexus holds a query, a key, a path or an address.
    label_names = {k for f in families if f.name.startswith("conexus_") for s in f.samples for k in s.labels}
    assert label_names <= {
        "operation",
        "transport",
        "status",
        "stage",
        "lane",
        "root",
        "outcome",
        "reason",
        "bucket",
        "embedder",
        "result",
        "le",
        "version",
    }, label_names
