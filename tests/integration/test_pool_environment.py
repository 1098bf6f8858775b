"""A WorkerPool whose PonchoEnv is not Ready creates no worker pods and says why."""

from __future__ import annotations

import json
import textwrap
from typing import Any

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


def apply_unschedulable_pool(
    operator: Cluster, namespace: str, manager_factory: ManagerFactory
) -> str:
    """A manager with 2 tasks and a pool of 2 workers whose nodeSelector no node has; the
    label it selects on."""
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
    return label


def test_pool_whose_pods_cannot_run_says_why_then_recovers(
    operator: Cluster, namespace: str, manager_factory: ManagerFactory
) -> None:
    """Worker pods no node can take: PodsRunning=False with the scheduler's words and one
    Warning, not just pending pods; once a node takes them, True again with a Normal Event."""
    label = apply_unschedulable_pool(operator, namespace, manager_factory)
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


def test_pods_that_cannot_run_are_replaced_when_the_spec_that_mends_them_comes(
    operator: Cluster, namespace: str, manager_factory: ManagerFactory
) -> None:
    """A nodeSelector no node has: the pods cannot be scheduled. Editing the pool's template
    reaches only new pods, so the old stuck ones go (Outdated) and their replacements run."""
    apply_unschedulable_pool(operator, namespace, manager_factory)
    operator.wait_condition(
        "wqpool", "workers", namespace, "PodsRunning", reason="Unschedulable", what="the pods"
    )

    def pods() -> list[dict[str, Any]]:
        listed = operator.kubectl(
            "get", "pods", "-l", "workqueue.dev/pool=workers", "-o", "json", namespace=namespace
        ).stdout
        items: list[dict[str, Any]] = json.loads(listed)["items"]
        return items

    stuck = {p["metadata"]["name"] for p in pods()}
    assert len(stuck) == 2
    operator.kubectl(
        "patch", "wqpool", "workers", "--type=merge",
        "-p", '{"spec":{"template":{"nodeSelector":null}}}', namespace=namespace,
    )  # fmt: skip
    operator.wait_condition(
        "wqpool", "workers", namespace, "PodsRunning", status="True", what="the new pods running"
    )
    names = {p["metadata"]["name"] for p in pods() if not p["metadata"].get("deletionTimestamp")}
    assert len(names) == 2 and not names & stuck
    outdated = [e for e in operator.events_for("workers", namespace) if e["reason"] == "Outdated"]
    assert outdated and "made from an older spec" in outdated[0]["message"]
