"""The reconcile loop every kind runs on (controllers/loop.py), against the real apiserver and a
real manager: status is written only when it changes, and every kind's passes are counted."""

from __future__ import annotations

import pytest

from tests.cctools.manager import ManagerFactory
from tests.harness import Cluster, wait_for, wait_for_passes
from tests.manifests import external_manager, manifest, worker_pool
from workqueue_operator.controllers import metrics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

POLLS = 60
"""A minute of passes, one a second."""


def reconciles(kind: str) -> float:
    """``workqueue_operator_reconciles_total{kind, result="ok"}`` of the in-process operator."""
    return next(
        sample.value
        for family in metrics.REGISTRY.collect()
        for sample in family.samples
        if sample.name == "workqueue_operator_reconciles_total"
        and sample.labels == {"kind": kind, "result": "ok"}
    )


def test_an_idle_pool_and_its_manager_write_no_status_over_a_minute_of_polls(
    operator: Cluster, namespace: str, manager_factory: ManagerFactory
) -> None:
    manager = manager_factory()  # real, idle: no task, no worker
    operator.apply(external_manager(manager.port, name="idle"), namespace)
    pool = "minWorkers: 0\nautoscale: {pollIntervalSeconds: 1}"
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
    # Once settled, a minute of passes over an unchanging manager and pool sends no status
    # patch (the operator counts the patches it sends: a no-op patch would leave the object's
    # resourceVersion as it is, so the apiserver's view cannot tell).
    wait_for_passes("WorkerPool", namespace, "workers", 2)
    wait_for_passes("WorkQueueManager", namespace, "idle", 2)
    pool_patches = metrics.status_patches("WorkerPool", namespace, "workers")
    manager_patches = metrics.status_patches("WorkQueueManager", namespace, "idle")
    assert pool_patches >= 1 and manager_patches >= 1  # the first passes wrote their status
    wait_for_passes("WorkerPool", namespace, "workers", POLLS, timeout=10)
    wait_for_passes("WorkQueueManager", namespace, "idle", 2, timeout=10)

    assert metrics.status_patches("WorkerPool", namespace, "workers") == pool_patches
    assert metrics.status_patches("WorkQueueManager", namespace, "idle") == manager_patches


def test_every_kinds_passes_are_counted(operator: Cluster, namespace: str) -> None:
    """PonchoEnv passes used not to count in workqueue_operator_reconciles_total."""
    before = reconciles("PonchoEnv")
    env = "spec: {pip: [six==1.16.0]}\noutput: {tarball: {pvc: {claimName: no-such-claim}}}"
    operator.apply(manifest("PonchoEnv", "counted", env), namespace)
    wait_for_passes("PonchoEnv", namespace, "counted", 1)
    assert reconciles("PonchoEnv") > before
