"""A WorkerPool whose PonchoEnv is not Ready creates no worker pods and says why."""

from __future__ import annotations

import textwrap

import pytest

from tests.cctools.manager import ManagerFactory
from tests.harness import Cluster, condition, wait_for, wait_for_passes
from tests.manifests import manifest

pytestmark = pytest.mark.integration


def test_pool_waits_for_its_environment(
    operator: Cluster, namespace: str, manager_factory: ManagerFactory
) -> None:
    manager = manager_factory()
    for _ in range(3):
        manager.submit("true")
    manifest = textwrap.dedent(
        f"""
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {{name: envs}}
        spec:
          accessModes: [ReadWriteMany]
          resources: {{requests: {{storage: 1Gi}}}}
        ---
        apiVersion: workqueue.dev/v1alpha1
        kind: PonchoEnv
        metadata: {{name: env}}
        spec:
          spec: {{pip: ["six==1.16.0"]}}
          output: {{tarball: {{pvc: {{claimName: envs}}}}}}
        ---
        apiVersion: workqueue.dev/v1alpha1
        kind: WorkerPool
        metadata: {{name: workers}}
        spec:
          manager: {{address: "127.0.0.1:{manager.port}"}}
          envRef: {{name: env}}
          maxWorkers: 3
          autoscale: {{pollIntervalSeconds: 1}}
        """
    )
    operator.apply(manifest, namespace)
    waiting = wait_for(
        lambda: condition(operator.get("wqpool", "workers", namespace), "EnvironmentReady"),
        timeout=60,
        what="the EnvironmentReady condition",
    )
    assert (waiting["status"], waiting["reason"]) == ("False", "EnvironmentNotReady")
    assert "no worker pods until it is Ready" in waiting["message"]
    # The backlog wants 3 workers, but none is created while the environment is not Ready
    # (its build pod cannot start here: the claim has no volume).
    wait_for_passes("WorkerPool", namespace, "workers", 3)
    pods = operator.kubectl(
        "get", "pods", "-l", "workqueue.dev/pool=workers", "-o", "name", namespace=namespace
    ).stdout.split()
    assert pods == []
    pool = operator.get("wqpool", "workers", namespace)
    assert pool is not None and pool["status"]["desiredReplicas"] == 3


def test_pool_whose_pods_cannot_run_says_why_then_recovers(
    operator: Cluster, namespace: str, manager_factory: ManagerFactory
) -> None:
    """Worker pods no node can take: PodsRunning=False with the scheduler's words and one
    Warning, not just pending pods; once a node takes them, True again with a Normal Event."""
    manager = manager_factory()
    for _ in range(2):
        manager.submit("true")
    label = f"workqueue.dev/test-{namespace}"
    operator.apply(
        manifest(
            "WorkerPool",
            "workers",
            f"""
            manager: {{address: "127.0.0.1:{manager.port}"}}
            maxWorkers: 2
            autoscale: {{pollIntervalSeconds: 1}}
            template: {{nodeSelector: {{{label}: "true"}}}}
            """,
        ),
        namespace,
    )
    stuck = operator.wait_condition(
        "wqpool", "workers", namespace, "PodsRunning", reason="Unschedulable", what="the pods"
    )
    assert stuck["status"] == "False"
    assert "worker pods cannot run now; worker pod workers-" in stuck["message"]
    assert "cannot be scheduled: 0/" in stuck["message"]
    assert "node affinity/selector" in stuck["message"]
    # Ready sums up what the operator can act on; pods waiting for room are a pool's normal life.
    ready = condition(operator.get("wqpool", "workers", namespace), "Ready")
    assert ready is not None and ready["status"] == "True"
    wait_for_passes("WorkerPool", namespace, "workers", 3)
    warnings = [
        e for e in operator.events_for("workers", namespace) if e["reason"] == stuck["reason"]
    ]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"
    assert warnings[0].get("count", 1) == 1

    operator.kubectl("label", "node", "kwok-node-1", f"{label}=true")
    try:
        operator.wait_condition(
            "wqpool", "workers", namespace, "PodsRunning", status="True", what="the pods running"
        )
        back = wait_for(
            lambda: [
                e for e in operator.events_for("workers", namespace) if e["reason"] == "NoPodStuck"
            ],
            timeout=30,
            what="a NoPodStuck Event",
        )
        assert back[0]["type"] == "Normal"
        operator.kubectl(
            "wait", "--for=condition=Ready", "wqpool/workers", "--timeout=30s", namespace=namespace
        )
    finally:
        operator.kubectl("label", "node", "kwok-node-1", f"{label}-")
