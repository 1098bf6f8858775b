"""The chart's alerting rules (helm/workqueue-operator/rules/alerts.yaml): valid to ``promtool
check rules``, every alert fired and not fired by ``promtool test rules`` (alerts_test.yaml),
each with a ``for``, a severity, a summary, a description and a runbook section that exists,
reading only series the code exports; and the chart's PrometheusRule is that file as it is."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_dashboards import exported_series, metric_names
from tests.unit.test_helm_chart import ALERTS, CHART, REPO, helm, one, render

__all__ = ["helm"]  # the fixture, imported so that pytest finds it

RULES_DIR = CHART / "rules"
ALERTS_FILE = RULES_DIR / "alerts.yaml"
ALERTS_TEST = RULES_DIR / "alerts_test.yaml"
TROUBLESHOOTING = REPO / "docs" / "troubleshooting.md"
SCRAPE_SERIES = {"up"}
"""Series Prometheus itself makes for every target."""


@cache
def rules_file() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ALERTS_FILE.read_text())
    return loaded


def alerts() -> list[dict[str, Any]]:
    return [rule for group in rules_file()["groups"] for rule in group["rules"] if "alert" in rule]


def promtool(*args: str, cwd: Path = RULES_DIR) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool not installed (Debian package `prometheus`, scripts/setup.sh)")
    return subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", ALERTS_FILE.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", ALERTS_TEST.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules_fails_on_a_changed_threshold(tmp_path: Path) -> None:
    """The unit tests pin the rules down: a stale-object threshold ten times larger fails."""
    text = ALERTS_FILE.read_text()
    assert text.count("> 600\n") == 1
    (tmp_path / ALERTS_FILE.name).write_text(text.replace("> 600\n", "> 6000\n"))
    shutil.copy(ALERTS_TEST, tmp_path / ALERTS_TEST.name)
    result = promtool("test", "rules", ALERTS_TEST.name, cwd=tmp_path)
    assert result.returncode != 0, result.stdout
    assert "WorkqueueObjectNotReconciled" in result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    cases = [
        case
        for test in yaml.safe_load(ALERTS_TEST.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    for alert in alerts():
        mine = [case for case in cases if case["alertname"] == alert["alert"]]
        assert any(case["exp_alerts"] for case in mine), f"{alert['alert']} never fires"
        assert any(not case["exp_alerts"] for case in mine), f"{alert['alert']} always fires"


def runbook_anchors() -> set[str]:
    """GitHub's anchors of the troubleshooting page's headings."""
    headings = re.findall(r"^#+ (.+)$", TROUBLESHOOTING.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_alert_has_for_severity_annotations_and_a_runbook_section() -> None:
    anchors = runbook_anchors()
    names = [alert["alert"] for alert in alerts()]
    assert len(names) == len(set(names)), names
    for alert in alerts():
        name = alert["alert"]
        assert re.fullmatch(r"\d+m", alert.get("for", "")), name
        assert alert["labels"]["severity"] in ("warning", "critical"), name
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"], name
        page, anchor = annotations["runbook"].split("#")
        assert page == "docs/troubleshooting.md", name
        assert anchor == name.lower() and anchor in anchors, f"{name}: no section {anchor}"


def test_alerts_read_only_exported_series() -> None:
    exported = exported_series() | SCRAPE_SERIES
    for alert in alerts():
        names = metric_names(alert["expr"])
        assert names, alert["alert"]
        assert names <= exported, f"{alert['alert']}: {sorted(names - exported)}"


def test_chart_prometheus_rule_is_the_rules_file(helm: Path) -> None:
    objects = render(helm, ALERTS, {"metrics__prometheusRule__labels__release": "kube-prom"})
    rule = one(objects, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kube-prom"
    assert rule["spec"] == rules_file()
