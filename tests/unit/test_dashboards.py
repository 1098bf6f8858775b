"""The chart's Grafana dashboards: valid JSON, a Prometheus datasource variable that every panel
uses, and PromQL that parses (promtool) and names only metrics the code exports (the operator's
registry and the telemetry agent's, rendered here, not listed by hand)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.test_metrics import exercise
from workqueue_operator.agent.ingest import IngestCollector
from workqueue_operator.agent.manager_metrics import ManagerCollector, ManagerSnapshot
from workqueue_operator.agent.metrics import TaskMetrics
from workqueue_operator.controllers.metrics import OperatorMetrics
from workqueue_operator.values.samples import Sample
from workqueue_operator.wq.status_models import CategoryStatus, QueueStatus
from workqueue_operator.wq.transactions import Observation

DASHBOARDS = Path(__file__).resolve().parents[2] / "helm" / "workqueue-operator" / "dashboards"
NAMES = ("overview.json", "sizing.json")

# Grafana's variables, replaced by something PromQL accepts in the same place.
GRAFANA_RANGES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h", "$window": "1h"}
PROMQL_KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan",
}  # fmt: skip


def operator_exposition() -> str:
    """The operator's metrics after every one of its calls (test_metrics.exercise)."""
    m = OperatorMetrics()
    exercise(m)
    return m.render().decode()


def agent_exposition() -> str:
    """The agent's registry as ``agent.server.build_agent`` assembles it, with data in every
    family (a manager snapshot with a queue and a category, one measured attempt)."""
    registry = CollectorRegistry(auto_describe=True)
    sample = Sample(category="c", cores=1.0, memory_mb=100.0, disk_mb=10.0, wall_time_s=30.0)
    TaskMetrics(registry).observe(Observation("c", "1", "success", 0, 30.0, sample))
    registry.register(IngestCollector([]))
    snapshot = ManagerSnapshot(
        address="mgr:9123",
        queue=QueueStatus(tasks_waiting=1),
        categories=[
            CategoryStatus.model_validate(
                {"category": "c", "max_cores": "1", "max_memory": "~100", "max_disk": ">10"}
            )
        ],
        up=True,
    )
    registry.register(ManagerCollector(snapshot))
    return generate_latest(registry).decode()


@cache
def exported_series() -> frozenset[str]:
    """Every series name the code exposes (histograms as _bucket/_sum/_count)."""
    names: set[str] = set()
    for text in (operator_exposition(), agent_exposition()):
        for family in text_string_to_metric_families(text):
            names.update(sample.name for sample in family.samples)
    return frozenset(names)


def load(name: str) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads((DASHBOARDS / name).read_text())
    return dashboard


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def variable_queries(dashboard: dict[str, Any]) -> dict[str, str]:
    """Each query variable's name and the series its ``label_values(series, label)`` reads."""
    queries = {}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+),\s*\w+\)", variable["definition"])
            assert match, variable["definition"]
            queries[variable["name"]] = match.group(1)
    return queries


def expressions(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]
    return exprs + list(variable_queries(dashboard).values())


def substitute(expr: str) -> str:
    """Grafana variables out: ranges get a duration, the rest (in label matchers) a regex."""
    for variable, duration in GRAFANA_RANGES.items():
        expr = expr.replace(variable, duration)
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (not functions, keywords or label names)."""
    text = substitute(expr)
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', text)
    text = re.sub(r"\{[^}]*\}", "{}", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if call or word in PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def test_metric_name_extraction() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (kind, le) "
        '(rate(a_bucket{kind=~"$kind"}[$__rate_interval]))) / on (kind) group_left '
        'b_total{x="y"} or vector(0) > bool 1e3 + sum(c) without (d)'
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c"}


def test_the_code_exports_what_the_dashboards_need() -> None:
    series = exported_series()
    for name in (
        "workqueue_operator_manager_tasks",
        "workqueue_operator_scale_actions_total",
        "workqueue_operator_pods_refused_total",
        "workqueue_operator_reconcile_duration_seconds_bucket",
        "workqueue_task_memory_bytes_bucket",
        "workqueue_task_attempts_total",
        "workqueue_manager_memory_bytes",
    ):
        assert name in series


@pytest.mark.parametrize("name", NAMES)
def test_dashboard_is_valid_json_with_a_prometheus_datasource_variable(name: str) -> None:
    dashboard = load(name)
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    datasource = variables["datasource"]
    assert datasource["type"] == "datasource"
    assert datasource["query"] == "prometheus"
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


@pytest.mark.parametrize("name", NAMES)
def test_every_panel_queries_the_datasource_variable(name: str) -> None:
    dashboard = load(name)
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(dashboard):
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert target["expr"].strip(), panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


@pytest.mark.parametrize("name", NAMES)
def test_promql_names_only_exported_metrics(name: str) -> None:
    exported = exported_series()
    used: set[str] = set()
    for expr in expressions(load(name)):
        names = metric_names(expr)
        assert names, f"no metric in {expr!r}"
        unknown = names - exported
        assert not unknown, f"{expr!r} names metrics nobody exports: {sorted(unknown)}"
        used |= names
    assert used


def test_dashboards_together_cover_the_operator_metrics() -> None:
    used = {n for name in NAMES for e in expressions(load(name)) for n in metric_names(e)}
    operator_series = {
        s.name
        for family in text_string_to_metric_families(operator_exposition())
        for s in family.samples
        if not s.name.endswith(("_created", "_sum", "_count"))
    }
    # Histograms are shown through their buckets; everything else by name.
    assert operator_series <= used, sorted(operator_series - used)


def test_promql_parses(tmp_path: Path) -> None:
    """Every expression, variables substituted, is valid PromQL to promtool."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package `prometheus`)")
    rules = [
        {"record": f"dashboard:check:{index}", "expr": substitute(expr)}
        for index, expr in enumerate(e for name in NAMES for e in expressions(load(name)))
    ]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
