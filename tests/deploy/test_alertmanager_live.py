"""A real Alertmanager with the pack's routes and inhibition rules: a page holds back the ticket of its alert.

The test runs ``prometheus-alertmanager`` on loopback with ``alertmanager/alertmanager.yml``
unchanged except for the receivers' integrations (each receiver keeps its name but sends to a
closed local port, so nothing leaves the machine), posts alerts through the v2 API and reads back
which ones Alertmanager suppresses. Routing itself is checked by ``amtool config routes test``
in ``test_monitoring_pack.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy import pack
from tests.deploy.processes import POLL_S, free_port, running
from tests.services import require_binary

pytestmark = pytest.mark.timeout(120)

NOWHERE = "http://127.0.0.1:9/"  # the discard port: notifications fail locally, never leave the host


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[httpx.Client]:
    binary = require_binary("prometheus-alertmanager")
    config = pack.load_yaml(pack.ALERTMANAGER)
    config["global"] = {"resolve_timeout": config["global"]["resolve_timeout"]}
    config["receivers"] = [
        {"name": r["name"], "webhook_configs": [{"url": NOWHERE, "send_resolved": False}]}
        for r in config["receivers"]
    ]
    config_path = tmp_path / "alertmanager.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    cmd = [
        binary,
        f"--config.file={config_path}",
        f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip port: a single instance
        "--log.level=warn",
    ]
    with running(cmd, tmp_path / "alertmanager.log", f"http://127.0.0.1:{port}") as client:
        yield client


def alert(**labels: str) -> dict[str, Any]:
    return {"labels": labels, "annotations": {"summary": labels["alertname"]}}


def states(client: httpx.Client) -> dict[tuple[str, str, str, str], str]:
    """(alertname, severity, job, instance) -> active or suppressed, for every alert Alertmanager holds."""
    out = {}
    for a in client.get("/api/v2/alerts").json():
        labels = a["labels"]
        key = (labels["alertname"], labels["severity"], labels["job"], labels.get("instance", ""))
        out[key] = a["status"]["state"]
    return out


def test_a_page_suppresses_the_ticket_of_its_alert_and_job_and_a_down_instance_its_other_alerts(
    alertmanager: httpx.Client,
) -> None:
    burn = "ConexusAvailabilityBudgetBurn"
    alerts = [
        alert(alertname=burn, severity="page", job="conexus", slo="availability"),
        alert(alertname=burn, severity="ticket", job="conexus", slo="availability"),
        alert(alertname=burn, severity="ticket", job="conexus-staging", slo="availability"),
        alert(alertname="ConexusIndexStale", severity="ticket", job="conexus", instance="a", root="app"),
        alert(alertname="ConexusDown", severity="page", job="conexus", instance="b"),
        alert(alertname="ConexusHighMemory", severity="ticket", job="conexus", instance="b"),
    ]
    assert alertmanager.post("/api/v2/alerts", json=alerts).status_code == 200
    expected = {
        (burn, "page", "conexus", ""): "active",
        (burn, "ticket", "conexus", ""): "suppressed",  # the page of the same alert and job fires
        (burn, "ticket", "conexus-staging", ""): "active",  # another job: its own ticket
        ("ConexusIndexStale", "ticket", "conexus", "a"): "active",  # another alert: not inhibited
        ("ConexusDown", "page", "conexus", "b"): "active",
        ("ConexusHighMemory", "ticket", "conexus", "b"): "suppressed",  # its instance is down
    }
    deadline = time.monotonic() + 30
    while (got := states(alertmanager)) != expected and time.monotonic() < deadline:
        time.sleep(POLL_S)  # polling interval: the inhibitor marks alerts as they arrive
    assert got == expected
