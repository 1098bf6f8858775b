"""The reconcile loop every kind runs on (controllers/loop.py), against the real apiserver and a
real manager: status is written only when it changes, a pool whose passes change nothing backs
them off and probes its manager instead, and every kind's passes are counted."""

from __future__ import annotations

import pytest

from tests.cctools.manager import ManagerFactory
from tests.harness import Cluster, wait_for, wait_for_passes
from tests.manifests import external_manager, manifest, worker_pool
from workqueue_operator.controllers import metrics
from workqueue_operator.values.cadence import QUIET_PASS_MAX_SECONDS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

QUIET_LOOKS = 20
"""Probes of an idle pool polled once a second, after its passes have started to back off."""


def reconciles(kind: str) -> float:
    """``workqueue_operator_reconciles_total{kind, result="ok"}`` of the in-process operator."""
    return next(
        sample.value
        for family in metrics.REGISTRY.collect()
        for sample in family.samples
        if sample.name == "workqueue_operator_reconciles_total"
        and sample.labels == {"kind": kind, "result": "ok"}
    )


def pods_of(operator: Cluster, namespace: str, pool: str) -> list[str]:
    found = operator.kubectl(
        "get", "pods", "-l", f"workqueue.dev/pool={pool}", "-o", "name", namespace=namespace
    )
    return found.stdout.split()


def test_an_idle_pool_backs_off_its_passes_writes_nothing_and_wakes_on_a_backlog(
    operator: Cluster, namespace: str, manager_factory: ManagerFactory
) -> None:
    manager = manager_factory()  # real, idle: no task, no worker
    operator.apply(external_manager(manager.port, name="idle"), namespace)
    pool = "minWorkers: 0\nmaxWorkers: 2\nautoscale: {pollIntervalSeconds: 1}"
    operator.apply(worker_pool("workers", pool, manager="idle"), namespace)
    operator.wait_condition_true(
        "wqm", "idle", namespace, "Reachable", what="the manager reachable"
    )
    wait_for(
        lambda: (
            (operator.get("wqpool", "workers", namespace) or {})
            .get("status", {})
            .get("desiredReplicas")
            == 0
        ),
        what="the pool's first decision",
    )
    wait_for_passes("WorkerPool", namespace, "workers", 2, timeout=10)
    wait_for_passes("WorkQueueManager", namespace, "idle", 2)
    pool_patches = metrics.status_patches("WorkerPool", namespace, "workers")
    manager_patches = metrics.status_patches("WorkQueueManager", namespace, "idle")
    assert pool_patches >= 1 and manager_patches >= 1  # the first passes wrote their status

    # Nothing moves: passes back off (scaling/cadence.py) and a probe a second looks instead.
    def probes(changed: bool, kind: str = "WorkerPool", name: str = "workers") -> int:
        return metrics.probes(kind, namespace, name, changed=changed)

    passes_before, probes_before = reconciles("WorkerPool"), probes(False)
    wait_for(
        lambda: probes(False) - probes_before >= QUIET_LOOKS,
        timeout=QUIET_LOOKS * 3,
        what=f"{QUIET_LOOKS} quiet probes",
    )
    pool_passes = reconciles("WorkerPool") - passes_before  # other tests' pools count too
    assert pool_passes < QUIET_LOOKS / 2, (pool_passes, QUIET_LOOKS)
    assert probes(True) == 0
    # ... and no status patch from any of those looks (the operator counts the patches it
    # sends: a no-op patch would leave the object's resourceVersion as it is).
    wait_for_passes("WorkQueueManager", namespace, "idle", 2, timeout=QUIET_PASS_MAX_SECONDS + 5)
    assert probes(False, "WorkQueueManager", "idle") >= 1  # the manager's passes back off too
    assert metrics.status_patches("WorkerPool", namespace, "workers") == pool_patches
    assert metrics.status_patches("WorkQueueManager", namespace, "idle") == manager_patches

    # A backlog, just after a pass (the next one is 8 s or more away, backed off): the next
    # probe, within a second, sees the manager's categories move and starts a pass at once.
    wait_for_passes("WorkerPool", namespace, "workers", 1, timeout=QUIET_PASS_MAX_SECONDS + 5)
    manager.submit("sleep 60", category="woken", cores=1, memory_mb=100)
    wait_for(lambda: pods_of(operator, namespace, "workers"), timeout=30, what="a worker pod")
    assert probes(True) >= 1
    # The manager's probe saw the queue move too: its status shows the task without waiting
    # for its backed-off pass.
    wait_for(
        lambda: (
            (operator.get("wqm", "idle", namespace) or {})
            .get("status", {})
            .get("queue", {})
            .get("tasksWaiting", 0)
            + (operator.get("wqm", "idle", namespace) or {})
            .get("status", {})
            .get("queue", {})
            .get("tasksRunning", 0)
            >= 1
        ),
        timeout=30,
        what="the manager's status counting the task",
    )
    assert probes(True, "WorkQueueManager", "idle") >= 1


def test_every_kinds_passes_are_counted(operator: Cluster, namespace: str) -> None:
    """PonchoEnv passes used not to count in workqueue_operator_reconciles_total."""
    before = reconciles("PonchoEnv")
    env = "spec: {pip: [six==1.16.0]}\noutput: {tarball: {pvc: {claimName: no-such-claim}}}"
    operator.apply(manifest("PonchoEnv", "counted", env), namespace)
    wait_for_passes("PonchoEnv", namespace, "counted", 1)
    assert reconciles("PonchoEnv") > before
