"""The monitoring pack (deploy/monitoring) checked by the tools that will run it, and against the code.

promtool checks and unit-tests the rules and checks the Prometheus config; amtool checks the
Alertmanager config and where it routes pages and tickets. The rest reads the pack as data:
every alert is unit-tested, carries a severity, a summary, a description and a runbook that
exists; every metric and label the dashboard and the rules query is declared in the catalogue
(src/conexus/observability/metrics.py); the dashboard is what its generator writes.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from collections import Counter as Tally
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import pack
from tests.services import require_binary

TIMEOUT_S = 60


def run(*cmd: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=cwd, check=False)


def assert_ok(result: subprocess.CompletedProcess[str]) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(result.args)} failed:\n{output}"
    return output


# -- the tools ---------------------------------------------------------------------------------------


def test_promtool_accepts_every_rules_file() -> None:
    promtool = require_binary("promtool")
    output = assert_ok(run(promtool, "check", "rules", *map(str, pack.RULE_FILES)))
    assert output.count("SUCCESS") == len(pack.RULE_FILES)


def test_every_promtool_unit_test_of_the_rules_passes() -> None:
    promtool = require_binary("promtool")
    output = assert_ok(run(promtool, "test", "rules", *map(str, pack.TEST_FILES)))
    assert "FAILED" not in output


def test_promtool_accepts_the_prometheus_config_and_the_rule_files_it_loads() -> None:
    promtool = require_binary("promtool")
    output = assert_ok(run(promtool, "check", "config", str(pack.PROMETHEUS_CONFIG)))
    assert f"{len(pack.RULE_FILES)} rule files found" in output


def test_the_prometheus_config_scrapes_conexus_and_sends_alerts_to_alertmanager() -> None:
    config = pack.load_yaml(pack.PROMETHEUS_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["conexus"]["metrics_path"] == "/metrics"
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert config["rule_files"] == ["rules/*.yml"]


def test_amtool_accepts_the_alertmanager_config() -> None:
    amtool = require_binary("amtool")
    output = assert_ok(run(amtool, "check-config", str(pack.ALERTMANAGER)))
    assert "SUCCESS" in output


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (("severity=page", "alertname=ConexusDown"), "slack-pager"),
        (("severity=page", "alertname=ConexusAvailabilityBudgetBurn", "slo=availability"), "slack-pager"),
        (("severity=ticket", "alertname=ConexusIndexStale"), "email-tickets"),
        (("severity=ticket", "alertname=ConexusFreshnessBudgetBurn", "slo=freshness"), "email-tickets"),
        (("alertname=SomethingWithoutSeverity",), "email-tickets"),
    ],
)
def test_alertmanager_routes_pages_to_the_pager_and_tickets_to_email(
    labels: tuple[str, ...], receiver: str
) -> None:
    amtool = require_binary("amtool")
    result = run(
        amtool, "config", "routes", "test", f"--config.file={pack.ALERTMANAGER}",
        f"--verify.receivers={receiver}", *labels,
    )  # fmt: skip
    assert_ok(result)
    assert result.stdout.strip() == receiver


def test_alertmanager_has_slack_and_email_receivers_and_a_page_inhibits_the_ticket_of_its_alert() -> None:
    config = pack.load_yaml(pack.ALERTMANAGER)
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["slack-pager"]["slack_configs"] and receivers["email-tickets"]["email_configs"]
    assert config["route"]["group_by"] == ["alertname", "job"]
    page_over_ticket = [
        rule
        for rule in config["inhibit_rules"]
        if rule["source_matchers"] == ['severity="page"'] and rule["target_matchers"] == ['severity="ticket"']
    ]
    assert page_over_ticket and set(page_over_ticket[0]["equal"]) == {"alertname", "job"}


# -- every alert is tested and documented ------------------------------------------------------------


def alerts() -> list[pack.Rule]:
    return [rule for rule in pack.rules() if rule.is_alert]


def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook_that_exists() -> None:
    anchors = pack.runbook_anchors()
    for rule in alerts():
        assert rule.body["labels"]["severity"] in {"page", "ticket"}, rule.name
        annotations = rule.body["annotations"]
        assert annotations["summary"] and annotations["description"], rule.name
        url = annotations["runbook_url"]
        assert url.startswith(pack.RUNBOOK_PREFIX), url
        anchor = url.removeprefix(pack.RUNBOOK_PREFIX)
        assert anchor == rule.name.lower(), f"{rule.name}: runbook anchor {anchor!r}"
        assert anchor in anchors, f"{rule.name}: no section #{anchor} in {pack.RUNBOOKS.name}"


def alerts_under_test() -> tuple[set[tuple[str, str]], set[str]]:
    """(alert name, severity) pairs some promtool test expects firing; names some test expects silent."""
    firing: set[tuple[str, str]] = set()
    silent: set[str] = set()
    for path in pack.TEST_FILES:
        for test in pack.load_yaml(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                expected: list[dict[str, Any]] = case.get("exp_alerts") or []
                if not expected:
                    silent.add(case["alertname"])
                firing.update((case["alertname"], alert["exp_labels"]["severity"]) for alert in expected)
    return firing, silent


def test_every_alert_and_severity_has_a_promtool_test_where_it_fires_and_one_where_it_is_silent() -> None:
    firing, silent = alerts_under_test()
    for rule in alerts():
        assert (rule.name, rule.body["labels"]["severity"]) in firing, f"no test where {rule.name} fires"
        assert rule.name in silent, f"no test where {rule.name} stays silent"


def test_the_promtool_tests_load_every_rules_file() -> None:
    for path in pack.TEST_FILES:
        loaded = {(path.parent / f).resolve() for f in pack.load_yaml(path)["rule_files"]}
        assert loaded <= {p.resolve() for p in pack.RULE_FILES}, path.name


def test_alert_names_are_unique_per_severity_and_the_runbooks_have_one_section_per_alert() -> None:
    pairs = Tally((rule.name, rule.body["labels"]["severity"]) for rule in alerts())
    assert all(n == 1 for n in pairs.values()), pairs
    assert {rule.name.lower() for rule in alerts()} <= pack.runbook_anchors()


# -- the queries read only what the code records -----------------------------------------------------


def every_expression() -> list[tuple[str, str]]:
    return [(f"rule {r.name}", r.expr) for r in pack.rules()] + [
        (f"panel {title}", expr) for title, expr in pack.dashboard_expressions()
    ]


def test_every_metric_the_dashboard_and_the_rules_query_is_declared_in_the_catalogue_or_recorded() -> None:
    known = pack.catalogue_names() | pack.PROMETHEUS_SERIES
    recorded = {rule.name for rule in pack.rules() if not rule.is_alert}
    unknown = {
        (where, name)
        for where, expr in every_expression()
        for name in pack.metric_names(expr)
        if name not in known | recorded
    }
    assert not unknown, f"queried but neither in the catalogue nor recorded: {sorted(unknown)}"


def test_every_label_the_dashboard_and_the_rules_match_is_a_label_of_that_metric() -> None:
    labels = pack.catalogue_labels()
    wrong = [
        (where, name, sorted(used - labels[name]))
        for where, expr in every_expression()
        for name, used in pack.selector_labels(expr)
        if name in labels and not used <= labels[name]
    ]
    assert not wrong, wrong


def test_the_metric_name_parser_finds_metrics_and_skips_functions_labels_and_keywords() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{le="0.5", x=~"y|z"}[5m]))) '
        "> 2.5 and on (job) b:rec:ratio > bool 4e9 unless time() - c_seconds offset 5m"
    )
    assert pack.metric_names(expr) == {"a_bucket", "b:rec:ratio", "c_seconds"}


def test_thresholds_become_bool_comparisons_outside_label_matchers() -> None:
    expr = 'up{job!="x", a=~">"} == 0 and rate(b[5m]) > 0.5 or c <= bool 1'
    assert pack.without_thresholds(expr) == (
        'up{job!="x", a=~">"} == bool 0 and rate(b[5m]) > bool 0.5 or c <= bool 1'
    )


def test_every_recorded_series_an_expression_reads_is_recorded_by_some_rule() -> None:
    recorded = {rule.name for rule in pack.rules() if not rule.is_alert}
    used = {name for _, expr in every_expression() for name in pack.metric_names(expr) if ":" in name}
    assert used <= recorded, used - recorded


def test_the_slo_thresholds_are_bucket_boundaries_of_the_catalogue() -> None:
    from conexus.observability import metrics

    slo_rules = [rule.expr for rule in pack.rules() if rule.group.startswith("conexus-slo-")]
    assert any('le="0.5"' in expr for expr in slo_rules) and 0.5 in metrics.LATENCY_BUCKETS
    assert any('le=~"60(\\\\.0)?"' in expr for expr in slo_rules) and 60.0 in metrics.JOB_BUCKETS


# -- the dashboard -----------------------------------------------------------------------------------


def test_the_dashboard_is_what_its_generator_writes() -> None:
    path = pack.PACK / "grafana" / "build_dashboard.py"
    spec = importlib.util.spec_from_file_location("build_dashboard", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert pack.DASHBOARD.read_text(encoding="utf-8") == module.render(), (
        "conexus.json is stale: run python deploy/monitoring/grafana/build_dashboard.py"
    )


def test_the_dashboard_has_the_panels_an_operator_needs_and_job_instance_root_variables() -> None:
    board = pack.dashboard()
    titles = {p["title"] for p in pack.dashboard_panels()}
    assert len(titles) >= 11
    assert {
        "Traffic", "Outcomes", "Latency by operation", "Saturation", "Search latency by stage",
        "Freshness", "Index jobs", "Embedding throughput", "Embedding cache hit ratio", "Rejections",
        "Memory and CPU", "Store size", "Error budget left (30 days)", "Burn rate",
    } <= titles  # fmt: skip
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "job", "instance", "root"}
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in pack.dashboard_panels():
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            pack.substitute(target["expr"])  # only known template variables


def test_the_grafana_provisioning_points_at_a_prometheus_datasource_and_the_dashboard_folder() -> None:
    datasource = pack.load_yaml(pack.PACK / "grafana/provisioning/datasources/prometheus.yml")
    assert datasource["datasources"][0]["type"] == "prometheus"
    provider = pack.load_yaml(pack.PACK / "grafana/provisioning/dashboards/conexus.yml")
    assert provider["providers"][0]["type"] == "file"


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    records = [
        {"record": f"dashboard:query_{i}:check", "expr": pack.substitute(expr)}
        for i, (_, expr) in enumerate(pack.dashboard_expressions())
    ]
    rules = tmp_path / "dashboard.yml"
    rules.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": records}]}), encoding="utf-8")
    assert_ok(run(promtool, "check", "rules", str(rules)))
