"""Work Queue and TaskVine (CCTools 7.17.1) on the real node: the same WorkerPool scenario for
both frameworks, and TaskVine's worker-to-worker (peer) transfers between pods.

The managers are the test's own, written with ``ndcctools.work_queue`` and
``ndcctools.taskvine`` (tests/cctools/manager_program.py), reached by the pods at the node's
InternalIP. Worker pods come from the project's worker image: ``work_queue_worker`` or
``vine_worker`` as the WorkQueueManager's ``framework`` says. Every count comes from the
manager: the tasks it returned, and its own transactions log."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cctools.manager import CategoryMode, CategorySpec, FinishedTask, ManagerFactory
from tests.e2e.realnode import (
    POD_NETWORK_PREFIX,
    external_manager,
    free_cpu_millicores,
    registry_image,
)
from tests.e2e.test_autoscale import tasks_lost_to_vanished_workers
from tests.e2e.test_real_node import PodWatch, collect, real_node_pool
from tests.harness import Cluster, wait_for
from workqueue_operator.api.common import Framework

pytestmark = pytest.mark.e2e

DECLARED_TASKS = 150
MEASURED_TASKS = 50
TRANSFER_PORT = 9124
"""The port worker pods serve their cache on (k8s/pods.py TRANSFER_PORT)."""


def pod_ip(task: FinishedTask) -> str:
    return task.host.rsplit(":", 1)[0]


@pytest.mark.parametrize("framework", list(Framework))
def test_two_hundred_tasks_scale_a_pool_zero_to_max_to_zero_and_none_is_lost(
    framework: Framework,
    operator: Cluster,
    namespace: str,
    real_node: str,
    manager_factory: ManagerFactory,
) -> None:
    """200 tasks in two categories, one with declared resources and one known only by what
    the monitor measures (its tasks take a whole worker); the pool goes 0 -> 2 -> 0 pods (the
    node has two CPUs), every task finishes once, and the manager's log shows no task sent
    back to the queue because its worker went away."""
    wait_for(
        lambda: free_cpu_millicores(operator) >= 2000, timeout=300, what="2 free CPUs on the node"
    )
    manager = manager_factory(framework=framework, monitoring=True)
    manager.declare_category("declared", CategorySpec(cores=1, memory_mb=100, disk_mb=100))
    manager.declare_category("measured", CategorySpec(mode=CategoryMode.MAX))
    for i in range(DECLARED_TASKS):
        manager.submit(f"sleep 0.2; echo declared-{i}", category="declared")
    for i in range(MEASURED_TASKS):
        manager.submit(f"sleep 0.2; echo measured-{i}", category="measured")
    operator.apply(external_manager(manager.port, framework=framework), namespace)

    with PodWatch(operator, namespace) as watch:
        operator.apply(json.dumps(real_node_pool(max_workers=2, memory="512Mi")), namespace)
        finished = collect(manager, DECLARED_TASKS + MEASURED_TASKS, timeout=600)
        wait_for(lambda: watch.alive_now == 0, timeout=120, what="the pool back at 0 pods")

    tasks = [t for _, t in finished]
    assert all(t.ok for t in tasks), [t for t in tasks if not t.ok][:3]
    outputs = sorted(t.output.strip() for t in tasks)
    expected = [f"declared-{i}" for i in range(DECLARED_TASKS)]
    expected += [f"measured-{i}" for i in range(MEASURED_TASKS)]
    assert outputs == sorted(expected)  # each task exactly once
    assert {t.category for t in tasks} == {"declared", "measured"}
    measured = [t for t in tasks if t.category == "measured"]
    assert all(t.measured.get("wall_time", 0) > 0 for t in measured), measured[:2]
    assert all(pod_ip(t).startswith(POD_NETWORK_PREFIX) for t in tasks)
    assert watch.most_alive == 2, f"the pool never reached maxWorkers: {watch.timeline}"
    assert watch.images == {registry_image("worker")}
    assert manager.transactions_log is not None
    assert tasks_lost_to_vanished_workers(manager.transactions_log) == []
    expected_program = "vine_worker" if framework is Framework.TASKVINE else "work_queue_worker"
    assert watch.programs == {expected_program}, watch.programs


def test_taskvine_worker_pods_exchange_a_temporary_file_by_peer_transfer(
    operator: Cluster,
    namespace: str,
    real_node: str,
    manager_factory: ManagerFactory,
) -> None:
    """A producer task leaves a temporary file on its worker (TaskVine keeps it there, never on
    the manager); two consumers that need it at once run on both workers, so one of them gets
    it from the other worker's pod: the manager tells that worker to fetch it from the
    producer pod's own IP and transfer port (``--contact-hostport``), as its debug log shows."""
    wait_for(
        lambda: free_cpu_millicores(operator) >= 2000, timeout=300, what="2 free CPUs on the node"
    )
    manager = manager_factory(framework=Framework.TASKVINE)
    operator.apply(external_manager(manager.port, framework=Framework.TASKVINE), namespace)
    operator.apply(
        json.dumps(real_node_pool(max_workers=2, memory="512Mi", min_workers=2, idle_delay=60)),
        namespace,
    )
    wait_for(
        lambda: manager.stats()["workers_connected"] == 2, timeout=180, what="two vine_workers"
    )
    manager.declare_temp("shared")
    manager.submit(
        "echo payload-from-$(hostname) > out.txt", cores=1, outputs=(("shared", "out.txt"),)
    )
    [producer] = manager.wait_for(1, timeout=120)
    assert producer.ok, producer
    for _ in range(2):
        manager.submit("sleep 3; cat in.txt", cores=1, inputs=(("shared", "in.txt"),))
    consumers = manager.wait_for(2, timeout=120)

    assert all(t.ok for t in consumers), consumers
    payload = f"payload-from-{producer.hostname}"
    assert [t.output.strip() for t in consumers] == [payload, payload]
    ips = {pod_ip(t) for t in consumers}
    assert len(ips) == 2 and all(ip.startswith(POD_NETWORK_PREFIX) for ip in ips), consumers
    [fetcher] = [t for t in consumers if pod_ip(t) != pod_ip(producer)]
    assert manager.logs_dir is not None
    debug = (manager.logs_dir / "debug").read_text(errors="replace")
    puts = re.findall(
        r"tx to \S+ \(([\d.]+):\d+\): puturl workerip://([\d.]+):(\d+)/(temp-\S+)", debug
    )
    assert (pod_ip(fetcher), pod_ip(producer), str(TRANSFER_PORT)) in {p[:3] for p in puts}, puts
    temp_file = next(p[3] for p in puts if p[0] == pod_ip(fetcher))
    updates = transactions_cache_updates(manager.logs_dir / "transactions", temp_file)
    assert len(updates) == 2, updates  # the file is in both workers' caches


def transactions_cache_updates(log: Path, file: str) -> list[str]:
    """Workers whose cache the manager's transactions log says received ``file``."""
    pattern = re.compile(rf"^\d+ \d+ WORKER (\S+) CACHE_UPDATE {re.escape(file)} ")
    return [m.group(1) for line in log.read_text().splitlines() if (m := pattern.match(line))]
