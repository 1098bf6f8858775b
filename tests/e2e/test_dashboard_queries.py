"""Issue 19: every query of the chart's Grafana dashboards (each panel's targets and each
variable's ``label_values`` query) returns series from a real Prometheus that scrapes a real
run: the operator process (its metrics endpoint) and the telemetry agent of a real CCTools
7.17.1 Work Queue manager (monitoring on, transactions log, status polls).

The run, in a namespace of its own watched by its own operator:

* WorkerPool ``workers`` (sizing ``Buckets``, ``updateMode: InPlace``, 1 to 3 pods of 4 cores
  and 1 GiB, host-runner pods: real ``work_queue_worker`` processes) scales out for a backlog
  of category ``work`` (tasks holding ~100 MiB for 6 s, measured completely, and short ones,
  under-measured) and of category ``hog`` (declared 1 core and 100 MB, so a quarter of a worker:
  256 MB; its task holds 400 MiB and ends ``RESOURCE_EXHAUSTION``). Once ``work`` has its
  samples, the pool recommends a bucket and asks for the pod kept idle at ``minWorkers`` to be
  resized in place to it (pods/resize: the ``pod_resizes_total`` panel). On a KWOK node the
  apiserver refuses that (``Pod running on node without support for resize``): the series is
  ``result="infeasible"`` and the operator recreates the pod in the bucket's shape. Resizes
  the kubelet does are tested on the real node (test_real_node_inplace.py).
* WorkerPool ``refused`` wants one pod whose ``priorityClassName`` does not exist: the
  apiserver refuses it at every pass (the ``pods_refused_total`` query).

Grafana's variables become what the run made (namespace, manager, both pools, both
categories), so an empty answer means a query that finds nothing in a real run, not a regex
that matches nothing. Queries are range queries over the run (what a time-series panel
draws). No panel is exempt.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e.hostrunner import HostRunner

from tests.cctools.manager import CategorySpec, FinishedTask, ManagerFactory
from tests.cctools.tasks import hold_memory
from tests.e2e.test_restart import WITH_METRICS, OwnOperator, own_operator
from tests.e2e.test_sizing import StartAgent, start_agent
from tests.manifests import external_manager, worker_pool
from tests.prometheus import Prometheus, ScrapeJob, missing_prometheus
from tests.unit.test_alert_rules import ALERTS_FILE, alerts
from tests.unit.test_dashboards import GRAFANA_RANGES, NAMES, load, panels, variable_queries

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(360)]

__all__ = ["own_operator", "start_agent"]  # the fixtures, imported so that pytest finds them

MANAGER = "mgr"
POOL = "workers"
REFUSED_POOL = "refused"
WORK = "work"
HOG = "hog"
HOST_RUNNER_LABEL = "workqueue.dev/host-runner"
SCRAPE_INTERVAL = "1s"
STEP_S = 2.0
DATA_TIMEOUT_S = 120.0
"""How long after the tasks end every query may take to have data (the resize comes last)."""


@dataclass(frozen=True)
class DashboardQuery:
    """One query of a dashboard: a panel target's ``expr`` or a variable's ``label_values``."""

    dashboard: str
    where: str
    expr: str

    def __str__(self) -> str:
        return f"{self.dashboard}: {self.where}: {self.expr}"


def dashboard_queries() -> list[DashboardQuery]:
    queries = []
    for name in NAMES:
        dashboard = load(name)
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                where = f"panel {panel['id']} {panel['title']!r} {target['refId']}"
                queries.append(DashboardQuery(name, where, target["expr"]))
        for variable, series in variable_queries(dashboard).items():
            queries.append(DashboardQuery(name, f"variable ${variable}", series))
    return queries


def for_run(expr: str, variables: Mapping[str, str]) -> str:
    """Grafana's variables out: ranges get a duration, label-matcher variables the run's
    values (every variable a query uses must be given)."""
    for variable, duration in GRAFANA_RANGES.items():
        expr = expr.replace(variable, duration)

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"no value for ${name} in {expr!r}"
        return variables[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def test_variables_become_the_runs_values() -> None:
    expr = 'sum(x{namespace=~"$namespace", pool=~"${pool}"}[$__rate_interval])'
    assert for_run(expr, {"namespace": "ns", "pool": "a|b"}) == (
        'sum(x{namespace=~"ns", pool=~"a|b"}[5m])'
    )


def sized_pool() -> str:
    return worker_pool(
        POOL,
        f"""
        minWorkers: 1
        maxWorkers: 3
        worker:
          cores: 4
          memory: 1Gi
          disk: 1Gi
        sizing:
          mode: Buckets
          updateMode: InPlace
          strategy: greedy
          minSamples: 3
          marginPercent: 10
          resizeDeadlineSeconds: 10
        autoscale:
          enabled: true
          pollIntervalSeconds: 1
          scaleUpStep: 3
          idleDelaySeconds: 2
          cooldownSeconds: 2
        template:
          labels:
            {HOST_RUNNER_LABEL}: "true"
        """,
        manager=MANAGER,
    )


def refused_pool() -> str:
    return worker_pool(
        REFUSED_POOL,
        """
        minWorkers: 1
        maxWorkers: 1
        worker:
          cores: 1
          memory: 256Mi
          disk: 256Mi
        autoscale:
          enabled: false
          pollIntervalSeconds: 2
        template:
          priorityClassName: no-such-priority-class
        """,
        manager=MANAGER,
    )


@dataclass
class Run:
    """What the scenario started, for the queries."""

    prometheus: Prometheus
    started: float
    variables: dict[str, str]

    def empty(self, queries: list[DashboardQuery]) -> list[DashboardQuery]:
        """The queries that return no series over the run so far."""
        now = time.time()
        return [
            q
            for q in queries
            if not self.prometheus.query_range(
                for_run(q.expr, self.variables), self.started, now, STEP_S
            )
        ]


@pytest.fixture
def prometheus_dir(tmp_path: Path) -> Iterator[Path]:
    problem = missing_prometheus()
    if problem is not None:
        pytest.skip(problem)
    yield tmp_path / "prometheus"


@pytest.mark.parametrize("own_operator", [WITH_METRICS], indirect=True)
def test_every_dashboard_query_returns_series_from_a_real_run(
    own_operator: OwnOperator,
    manager_factory: ManagerFactory,
    start_agent: StartAgent,
    prometheus_dir: Path,
) -> None:
    cluster, namespace, operator = (
        own_operator.cluster,
        own_operator.namespace,
        own_operator.operator,
    )
    operator.start()
    manager = manager_factory(
        monitoring=True, categories={HOG: CategorySpec(cores=1, memory_mb=100)}
    )
    assert manager.transactions_log is not None
    address = f"127.0.0.1:{manager.port}"
    telemetry = start_agent(manager.transactions_log, address)
    jobs = [
        ScrapeJob("workqueue-operator", [f"127.0.0.1:{operator.metrics_port}"]),
        ScrapeJob("telemetry-agent", [telemetry.removeprefix("http://")]),
    ]
    queries = dashboard_queries()
    with (
        Prometheus(
            prometheus_dir, jobs, interval=SCRAPE_INTERVAL, rule_files=[ALERTS_FILE]
        ) as prometheus,
        HostRunner(
            cluster.kubeconfig, label_selector=f"{HOST_RUNNER_LABEL}=true", namespace=namespace
        ),
    ):
        run = Run(
            prometheus,
            time.time(),
            {
                "namespace": namespace,
                "manager": MANAGER,
                "pool": f"{POOL}|{REFUSED_POOL}",
                "category": f"{WORK}|{HOG}",
            },
        )
        cluster.apply(
            external_manager(manager.port, name=MANAGER, extra=f"telemetryUrl: {telemetry}"),
            namespace,
        )
        cluster.apply(sized_pool(), namespace)
        cluster.apply(refused_pool(), namespace)
        prometheus.wait_scraped(timeout=60)

        for _ in range(4):
            manager.submit(hold_memory(100, 6), category=WORK)
        for _ in range(2):
            manager.submit(hold_memory(10, 0.5), category=WORK)
        hog = manager.submit(hold_memory(400, 6), category=HOG)
        finished: list[FinishedTask] = manager.wait_for(7, timeout=180)
        results = {t.task_id: t.result_str.upper().replace(" ", "_") for t in finished}
        assert results.pop(hog) == "RESOURCE_EXHAUSTION", [t.output for t in finished]
        assert set(results.values()) == {"SUCCESS"}, finished

        # Every query must find series; the in-place resize of the idle pod comes last.
        deadline = time.monotonic() + DATA_TIMEOUT_S
        while (empty := run.empty(queries)) and time.monotonic() < deadline:
            time.sleep(3)
        assert not empty, "queries with no series over the run:\n" + "\n".join(map(str, empty))

        # The check can fail: the same queries for a namespace nobody used find nothing
        # (but those that add a default, `or vector(0)`).
        elsewhere = Run(prometheus, run.started, run.variables | {"namespace": "not-this-run"})
        scoped = [q for q in queries if "$namespace" in q.expr and "vector(" not in q.expr]
        assert scoped and elsewhere.empty(scoped) == scoped
        check_alerts(prometheus, namespace)
        report(run, len(queries))


def check_alerts(prometheus: Prometheus, namespace: str) -> None:
    """The chart's alerting rules, loaded by the same Prometheus, see the run: the operator is
    up, and of the alerts about this run's objects only the refused pool's is active (pending:
    its `for` is minutes)."""
    loaded = {r["name"] for g in prometheus.rules() for r in g["rules"] if r["type"] == "alerting"}
    assert loaded == {rule["alert"] for rule in alerts()}, loaded
    expected = {("WorkqueuePoolPodsRefused", REFUSED_POOL)}

    def about_run() -> set[tuple[str, str]]:
        active = prometheus.alerts()
        assert "WorkqueueOperatorDown" not in {a["labels"]["alertname"] for a in active}
        return {
            (a["labels"]["alertname"], a["labels"].get("pool", a["labels"].get("manager", "")))
            for a in active
            if a["labels"].get("namespace") == namespace
        }

    # A pod the last pass recreated may still be Pending for a moment (that alert's pending).
    deadline = time.monotonic() + 30
    while (seen := about_run()) != expected and time.monotonic() < deadline:
        time.sleep(1)
    assert seen == expected, seen


def report(run: Run, queries: int) -> None:
    """Shown with -s: what the run produced (to the real stdout)."""
    ns = run.variables["namespace"]
    figures = {
        "resizes": 'sum by (result) (workqueue_operator_pod_resizes_total{namespace="%s"})',
        "refused": 'sum by (pool) (workqueue_operator_pods_refused_total{namespace="%s"})',
        "scaled": 'sum by (direction) (workqueue_operator_scale_actions_total{namespace="%s"})',
        "buckets": 'workqueue_operator_bucket_memory_bytes{namespace="%s"} / 2^20',
    }
    summary: dict[str, object] = {"queries": queries, "run_s": round(time.time() - run.started)}
    for name, expr in figures.items():
        summary[name] = {
            ",".join(f"{k}={v}" for k, v in sorted(item["metric"].items())): item["value"][1]
            for item in run.prometheus.query(expr % ns)
        }
    print(json.dumps(summary), file=sys.__stdout__)
