"""WorkerPools scale real work_queue_workers from a real manager's backlog, and back."""

from __future__ import annotations

import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from e2e.hostrunner import HostRunner

from tests.cctools.manager import CategorySpec, ManagerFactory, TestManager
from tests.harness import Cluster, wait_for, wait_for_passes
from tests.manifests import external_manager, worker_pool
from workqueue_operator.controllers import metrics

pytestmark = pytest.mark.e2e


def pool(
    *, min_workers: int = 0, max_workers: int = 20, autoscale: bool = True, idle_delay: int = 2
) -> str:
    return worker_pool(
        "workers",
        f"""
        minWorkers: {min_workers}
        maxWorkers: {max_workers}
        worker:
          cores: 1
          memory: 512Mi
          disk: 1Gi
        autoscale:
          enabled: {str(autoscale).lower()}
          pollIntervalSeconds: 1
          scaleUpStep: 20
          idleDelaySeconds: {idle_delay}
          cooldownSeconds: 2
        template:
          labels:
            workqueue.dev/host-runner: "true"
        """,
    )


def pods(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    import json  # noqa: PLC0415

    out = cluster.kubectl(
        "get", "pods", "-l", "workqueue.dev/pool=workers", "-o", "json", namespace=namespace
    ).stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def live_pods(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    """The pool's pods that are not being deleted."""
    return [p for p in pods(cluster, namespace) if not p["metadata"].get("deletionTimestamp")]


def tasks_lost_to_vanished_workers(log: Path) -> list[int]:
    """Tasks the manager put back to waiting (Work Queue's WAITING, TaskVine's READY) straight
    from RUNNING: their worker went away. (A task retried after exhausting its allocation goes
    through RETRIEVED in Work Queue and WAITING_RETRIEVAL in TaskVine first.)"""
    last: dict[int, str] = {}
    lost: list[int] = []
    pattern = re.compile(r"^\d+ \d+ TASK (\d+) (\w+)")
    for line in log.read_text().splitlines():
        match = pattern.match(line)
        if not match:
            continue
        task, state = int(match.group(1)), match.group(2)
        if state in ("WAITING", "READY") and last.get(task) == "RUNNING":
            lost.append(task)
        last[task] = state
    return lost


def submit_two_categories(manager: TestManager) -> int:
    manager.declare_category("short", CategorySpec(cores=1, memory_mb=50, disk_mb=50))
    manager.declare_category("long", CategorySpec(cores=1, memory_mb=100, disk_mb=50))
    for _ in range(150):
        manager.submit("sleep 1", category="short")
    for _ in range(50):
        manager.submit("sleep 2", category="long")
    return 200


def test_pool_scales_out_with_the_backlog_and_back_to_min_losing_no_task(
    operator: Cluster,
    namespace: str,
    host_runner: HostRunner,
    manager_factory: ManagerFactory,
    tmp_path: Path,
) -> None:
    log = tmp_path / "transactions.log"
    manager = manager_factory(transactions_log=log)
    total = submit_two_categories(manager)
    operator.apply(external_manager(manager.port), namespace)
    operator.apply(pool(), namespace)

    most_pods = 0
    finished: list[Any] = []
    deadline = time.monotonic() + 300
    while len(finished) < total and time.monotonic() < deadline:
        while (task := manager.wait(0.5)) is not None:
            finished.append(task)
        most_pods = max(most_pods, len(pods(operator, namespace)))
    assert len(finished) == total, f"{len(finished)} of {total} tasks finished"
    assert all(t.ok for t in finished), [t for t in finished if not t.ok][:3]
    assert most_pods == 20, f"the pool never reached maxWorkers: at most {most_pods} pods"

    wait_for(lambda: not pods(operator, namespace), timeout=120, what="the pool back at 0 pods")

    def settled() -> dict[str, Any] | None:
        status: dict[str, Any] = operator.get("wqpool", "workers", namespace)["status"]  # type: ignore[index]
        return status if (status["replicas"], status["desiredReplicas"]) == (0, 0) else None

    wait_for(settled, timeout=30, what="status.replicas and desiredReplicas back at 0")
    assert tasks_lost_to_vanished_workers(log) == []
    reasons = defaultdict(int)
    for event in operator.events_for("workers", namespace):
        reasons[event["reason"]] += event.get("count", 1)
    assert reasons["ScaleUp"] >= 1 and reasons["ScaleDown"] >= 1, dict(reasons)

    # The operator runs in this process: its metrics counted the same pods.
    scaled = {
        (sample.labels["direction"], sample.labels["reason"]): sample.value
        for family in metrics.REGISTRY.collect()
        if family.name == "workqueue_operator_scale_actions"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("namespace") == namespace
    }
    assert sum(v for (direction, _), v in scaled.items() if direction == "up") >= 20, scaled
    assert sum(v for (direction, _), v in scaled.items() if direction == "down") >= 1, scaled


def test_pool_without_autoscale_follows_kubectl_scale(
    operator: Cluster, namespace: str, host_runner: HostRunner, manager_factory: ManagerFactory
) -> None:
    manager = manager_factory()
    operator.apply(external_manager(manager.port), namespace)
    operator.apply(pool(max_workers=5, autoscale=False), namespace)

    def live(n: int) -> bool:
        return len(live_pods(operator, namespace)) == n

    wait_for(lambda: live(0), timeout=30, what="no pods at replicas unset (= minWorkers 0)")
    operator.kubectl("scale", "wqpool", "workers", "--replicas=3", namespace=namespace)
    wait_for(lambda: live(3), timeout=60, what="3 pods after kubectl scale --replicas=3")
    wait_for(lambda: manager.stats()["workers_connected"] == 3, timeout=60, what="3 workers")
    operator.kubectl("scale", "wqpool", "workers", "--replicas=1", namespace=namespace)
    wait_for(lambda: live(1), timeout=60, what="1 pod after kubectl scale --replicas=1")
    status = operator.get("wqpool", "workers", namespace)["status"]  # type: ignore[index]
    assert status["desiredReplicas"] == 1


def test_a_suspended_pool_drains_without_losing_a_task_and_resumes(
    operator: Cluster,
    namespace: str,
    host_runner: HostRunner,
    manager_factory: ManagerFactory,
    tmp_path: Path,
) -> None:
    """spec.suspend: the idle worker goes at once, the busy ones when their tasks are done (no
    task put back), nothing is created for a backlog while suspended; false resumes."""
    log = tmp_path / "transactions.log"
    manager = manager_factory(transactions_log=log)
    for _ in range(2):
        manager.submit("sleep 8", cores=1, memory_mb=50, disk_mb=50)
    operator.apply(external_manager(manager.port), namespace)
    operator.apply(pool(min_workers=3, max_workers=5, idle_delay=600), namespace)

    def live() -> list[dict[str, Any]]:
        return live_pods(operator, namespace)

    finished: list[Any] = []

    def serve_until(done: Any, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            if (task := manager.wait(0.5)) is not None:
                finished.append(task)

    # All three workers connected: a Running pod whose worker has not connected yet would be
    # kept for the connect grace (5 minutes), suspended or not.
    serve_until(
        lambda: manager.stats()["tasks_running"] == 2 and manager.stats()["workers_connected"] == 3,
        "2 tasks running on a pool of 3 connected workers",
    )
    operator.kubectl(
        "patch", "wqpool", "workers", "--type=merge", "-p", '{"spec":{"suspend":true}}',
        namespace=namespace,
    )  # fmt: skip
    # The idle worker goes although it has been idle for less than idleDelaySeconds (600).
    serve_until(lambda: len(live()) == 2, "the idle worker's pod deleted", timeout=30)
    assert finished == [], "the tasks were still running when the idle worker went"  # sleep 8
    serve_until(lambda: len(finished) == 2, "both tasks done")
    assert all(t.ok for t in finished), finished
    serve_until(lambda: not live(), "the busy workers' pods deleted once idle")
    assert tasks_lost_to_vanished_workers(log) == []
    status: dict[str, Any] = operator.get("wqpool", "workers", namespace)["status"]  # type: ignore[index]
    assert status["desiredReplicas"] == 0
    assert status["desiredReason"].startswith("suspended (spec.suspend)")

    # A backlog gets no pod while suspended, whatever minWorkers says.
    manager.submit("true", cores=1, memory_mb=50, disk_mb=50)
    wait_for_passes("WorkerPool", namespace, "workers", 3)
    assert live() == []
    operator.kubectl(
        "patch", "wqpool", "workers", "--type=merge", "-p", '{"spec":{"suspend":false}}',
        namespace=namespace,
    )  # fmt: skip
    serve_until(lambda: len(finished) == 3, "the task after the pool resumed")
    assert finished[-1].ok
