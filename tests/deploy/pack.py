"""The monitoring pack as data: its files, its PromQL expressions and the metric names they use.

Shared by the static checks (``test_monitoring_pack.py``) and the real-Prometheus test
(``test_prometheus_live.py``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import Counter, Gauge, Histogram, Info, ProcessCollector
from prometheus_client.registry import CollectorRegistry

from conexus.observability import metrics

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "deploy" / "monitoring"
RULES_DIR = PACK / "prometheus" / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
TEST_FILES = sorted((PACK / "prometheus" / "tests").glob("*.yml"))
DASHBOARD = PACK / "grafana" / "conexus.json"
ALERTMANAGER = PACK / "alertmanager" / "alertmanager.yml"
PROMETHEUS_CONFIG = PACK / "prometheus" / "prometheus.yml"
RUNBOOKS = REPO / "docs" / "operations.md"  # its "Runbooks" section
RUNBOOK_PREFIX = "docs/operations.md#"

# Values the dashboard's template variables take when its queries run outside Grafana.
DASHBOARD_VARIABLES = {
    "$__rate_interval": "1m",
    "$job": "conexus",
    "$instance": ".+",
    "$root": ".+",
}


@dataclass(frozen=True)
class Rule:
    """One rule of the pack: a recording rule (``record``) or an alert (``alert``)."""

    file: str
    group: str
    body: dict[str, Any]

    @property
    def expr(self) -> str:
        return str(self.body["expr"])

    @property
    def name(self) -> str:
        return str(self.body.get("record") or self.body["alert"])

    @property
    def is_alert(self) -> bool:
        return "alert" in self.body


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules() -> list[Rule]:
    """Every rule of every rules file, in file order."""
    out = []
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            out.extend(Rule(path.name, group["name"], body) for body in group["rules"])
    return out


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def dashboard_panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def dashboard_expressions() -> list[tuple[str, str]]:
    """(panel title, raw PromQL) of every panel query, and of every template variable's query."""
    out = [(p["title"], t["expr"]) for p in dashboard_panels() for t in p["targets"]]
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            out.append((f"variable {var['name']}", label_values_metric(var["definition"])))
    return out


def label_values_metric(definition: str) -> str:
    """The series selector of a Grafana ``label_values(selector, label)`` variable query."""
    m = re.fullmatch(r"label_values\((.*),\s*\w+\)", definition)
    assert m, f"unexpected variable query {definition!r}"
    return m.group(1)


def substitute(expr: str) -> str:
    """A dashboard query with its template variables replaced, as Grafana would send it."""
    for name, value in DASHBOARD_VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unknown template variable in {expr!r}"
    return expr


# ------------------------------------------------------------------ metric names in PromQL

_KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan",
}  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.$:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
_NUMBER_EXP = re.compile(r"\b\d+(?:\.\d+)?e[+-]?\d+\b", re.IGNORECASE)


def metric_names(expr: str) -> set[str]:
    """The metric (and recorded series) names a PromQL expression reads.

    Strings, label matchers, range selectors and grouping label lists are removed; what is left
    are identifiers, minus function names (followed by ``(``) and keywords.
    """
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _NUMBER_EXP.sub(" ", text)
    return {m for m in _IDENT.findall(text) if m.lower() not in _KEYWORDS}


def catalogue_names() -> set[str]:
    """Every series name the catalogue's metrics expose, with prometheus-client's suffixes."""
    names = set()
    for obj in vars(metrics).values():
        if isinstance(obj, Counter):
            suffixes: tuple[str, ...] = ("_total",)
        elif isinstance(obj, Histogram):
            suffixes = ("_bucket", "_sum", "_count")
        elif isinstance(obj, Info):
            suffixes = ("_info",)
        elif isinstance(obj, Gauge):
            suffixes = ("",)
        else:
            continue
        (desc,) = obj.describe()
        names.update(desc.name + s for s in suffixes)
    names.update(metrics.STATE_METRICS)
    # The process collector of the default registry (RSS, CPU, file descriptors).
    process = ProcessCollector(registry=CollectorRegistry())
    names.update(sample.name for family in process.collect() for sample in family.samples)
    return names


# Series Prometheus itself adds to every scrape target.
PROMETHEUS_SERIES = {"up"}


# ------------------------------------------------------------------ thresholds

_COMPARISON = re.compile(r"==|!=|>=|<=|>|<")


def without_thresholds(expr: str) -> str:
    """An alert expression whose comparisons keep every sample: each gains the ``bool`` modifier.

    ``x > 0.05`` drops the samples not above 0.05 (so a healthy service returns nothing);
    ``x > bool 0.05`` returns every sample of ``x`` as 0 or 1. The result is non-empty exactly
    when the series the alert compares exist, which is what "the alert's expression returns data"
    means. Comparisons inside label matchers (``=~``, ``!=`` in ``{...}``) and strings are left alone.
    """
    out: list[str] = []
    depth = 0
    i = 0
    while i < len(expr):
        c = expr[i]
        if c in "\"'":
            m = _STRING.match(expr, i)
            assert m, f"unterminated string in {expr!r}"
            out.append(m.group(0))
            i = m.end()
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif depth == 0:
            m = _COMPARISON.match(expr, i)
            if m:
                out.append(m.group(0) + " bool")
                i = m.end()
                if re.match(r"\s*bool\b", expr[i:]):
                    i += len(re.match(r"\s*bool", expr[i:]).group(0))  # type: ignore[union-attr]
                continue
        out.append(c)
        i += 1
    return "".join(out)


def recorded_selector(rule: Rule) -> str:
    """The selector of the series a recording rule writes (its name and its extra labels)."""
    labels = rule.body.get("labels") or {}
    matchers = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{rule.name}{{{matchers}}}" if matchers else rule.name


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def runbook_anchors() -> set[str]:
    """The anchors of the headings in the "Runbooks" section of docs/operations.md."""
    text = RUNBOOKS.read_text(encoding="utf-8").partition("\n## Runbooks\n")[2]
    return {github_anchor(m) for m in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.MULTILINE)}


_SELECTOR = re.compile(r"(?<![\w:])([a-zA-Z_:][\w:]*)\s*\{([^{}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")
# Labels Prometheus attaches to every scraped series (the pack's config adds no others).
TARGET_LABELS = {"job", "instance"}


def selector_labels(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, label names matched) of every ``name{...}`` selector of an expression."""
    text = _STRING.sub(lambda m: '"' + "x" * (len(m.group(0)) - 2) + '"', expr)  # keep offsets
    out = []
    for m in _SELECTOR.finditer(text):
        inner = expr[m.start(2) : m.end(2)]
        out.append((m.group(1), set(_MATCHER_LABEL.findall(_STRING.sub('""', inner)))))
    return out


def catalogue_labels() -> dict[str, set[str]]:
    """Series name -> the label names it carries (the catalogue's own, plus job and instance)."""
    out: dict[str, set[str]] = {}
    for obj in vars(metrics).values():
        if not isinstance(obj, Counter | Gauge | Histogram | Info):
            continue
        (desc,) = obj.describe()
        own = set(obj._labelnames) | TARGET_LABELS  # prometheus-client keeps no public accessor
        if isinstance(obj, Counter):
            out[desc.name + "_total"] = own
        elif isinstance(obj, Histogram):
            out.update({desc.name + "_bucket": own | {"le"}, desc.name + "_sum": own})
            out[desc.name + "_count"] = own
        elif isinstance(obj, Info):
            out[desc.name + "_info"] = own | {"version"}  # BUILD_INFO.info({"version": ...})
        else:
            out[desc.name] = own
    for name in metrics.STATE_METRICS:
        out[name] = {"root", "reason"} | TARGET_LABELS if "skipped" in name else {"root"} | TARGET_LABELS
    return out
