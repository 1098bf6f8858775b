"""A WorkerPool whose PonchoEnv is not Ready creates no worker pods and says why."""

from __future__ import annotations

import textwrap

import pytest

from tests.cctools.manager import ManagerFactory
from tests.harness import Cluster, condition, wait_for, wait_for_passes

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
