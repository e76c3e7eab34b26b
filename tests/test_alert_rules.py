"""deploy/prometheus/alerts.yml: the alerts exist, with their severities, and every
metric they use is one a real /metrics scrape exposes (or Prometheus's own `up`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

RULES = Path(__file__).resolve().parent.parent / "deploy" / "prometheus" / "alerts.yml"
EXPECTED = {
    "BmadwebRunFailureRateHigh": "critical",
    "BmadwebEndpointDown": "critical",
    "BmadwebRequestLatencyHigh": "warning",
    "BmadwebMemoryHigh": "warning",
    "BmadwebAuditChainShrank": "critical",
    "BmadwebAuditCheckpointStale": "warning",
}
PROMETHEUS_OWN = {"up"}  # written by Prometheus for every target
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or"}
PROMQL_WORDS |= {"unless", "bool", "offset"}


def _alerts() -> dict[str, dict]:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return {
        rule["alert"]: rule
        for group in rules["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (functions, keywords, labels removed)."""
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        following = expr[match.end() :].lstrip()
        if following.startswith("(") or match.group() in PROMQL_WORDS:
            continue  # a function call or a keyword
        names.add(match.group())
    return names


def test_metric_name_extraction_skips_functions_labels_and_keywords():
    expr = 'sum by (le) (rate(a_bucket{x="y"}[5m])) / on (instance) b > 0.8 and up == 0'
    assert metric_names(expr) == {"a_bucket", "b", "up"}


def test_the_alerts_exist_with_their_severities():
    alerts = _alerts()
    assert {name: rule["labels"]["severity"] for name, rule in alerts.items()} == EXPECTED


def test_every_alert_has_a_summary():
    assert all(rule["annotations"]["summary"] for rule in _alerts().values())


def test_failure_rate_threshold_is_five_percent_and_latency_two_seconds():
    alerts = _alerts()
    assert alerts["BmadwebRunFailureRateHigh"]["expr"].rstrip().endswith("> 0.05")
    assert alerts["BmadwebRequestLatencyHigh"]["expr"].rstrip().endswith("> 2")
    assert "histogram_quantile(0.99" in alerts["BmadwebRequestLatencyHigh"]["expr"]
    assert alerts["BmadwebMemoryHigh"]["expr"].rstrip().endswith("> 0.8")
    assert "up{" in alerts["BmadwebEndpointDown"]["expr"]


@pytest.mark.django_db
def test_every_metric_the_alerts_use_is_exposed(client, settings, redis_conn):
    settings.METRICS_TOKEN = "alert-rules-test-token-0123"
    client.get(reverse("ops:health"))  # so the latency histogram has a series
    response = client.get(
        reverse("ops:metrics"), HTTP_AUTHORIZATION="Bearer alert-rules-test-token-0123"
    )
    exposed = {
        sample.name
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }
    used = set().union(*(metric_names(rule["expr"]) for rule in _alerts().values()))
    assert used - exposed - PROMETHEUS_OWN == set()
    assert "bmadweb_runs_total" in used


def test_the_chain_shrinking_fires_and_growing_does_not():
    """The shrink rule compares the chain's length with the longest seen in a day: its
    expression reads the length twice, once through max_over_time, and fires on '<'."""
    expr = " ".join(_alerts()["BmadwebAuditChainShrank"]["expr"].split())
    assert "bmadweb_audit_chain_length" in expr
    assert "max_over_time(bmadweb_audit_chain_length" in expr
    assert " < " in expr
    assert _alerts()["BmadwebAuditChainShrank"]["for"] == "0m"
