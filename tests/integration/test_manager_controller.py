"""WorkQueueManager reconciliation on the real apiserver, with a real Work Queue manager."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from tests.cctools.manager import ManagerFactory
from tests.harness import Cluster, condition, wait_for, wait_for_passes

pytestmark = pytest.mark.integration


def external_manager(name: str, port: int) -> str:
    return textwrap.dedent(
        f"""
        apiVersion: workqueue.dev/v1alpha1
        kind: WorkQueueManager
        metadata:
          name: {name}
        spec:
          mode: External
          address: 127.0.0.1:{port}
          pollIntervalSeconds: 1
        """
    )


def test_external_manager_status_follows_the_real_queue(
    operator: Cluster, namespace: str, manager_factory: ManagerFactory
) -> None:
    manager = manager_factory()
    for _ in range(7):
        manager.submit("true", category="alpha")
    operator.apply(external_manager("ext", manager.port), namespace)

    def figures() -> dict[str, Any] | None:
        obj = operator.get("wqm", "ext", namespace)
        queue = (obj or {}).get("status", {}).get("queue")
        return obj if queue and queue["tasksWaiting"] == 7 else None

    obj = wait_for(figures, timeout=60, what="the queue figures in status")
    assert obj["status"]["phase"] == "Running"
    assert obj["status"]["address"] == f"127.0.0.1:{manager.port}"
    reachable = condition(obj, "Reachable")
    assert reachable is not None and reachable["status"] == "True"
    categories = {c["category"]: c for c in obj["status"]["categories"]}
    assert categories["alpha"]["tasksWaiting"] == 7

    manager.shutdown()
    down = wait_for(
        lambda: (
            (c := condition(operator.get("wqm", "ext", namespace), "Reachable"))
            and c["status"] == "False"
            and c
        ),
        timeout=60,
        what="Reachable=False after the manager stopped",
    )
    assert down["reason"] == "Unreachable"
    assert operator.get("wqm", "ext", namespace)["status"]["phase"] == "Unreachable"  # type: ignore[index]
    warnings = wait_for(
        lambda: [e for e in operator.events_for("ext", namespace) if e["reason"] == "Unreachable"],
        what="an Unreachable Event",
    )
    # Events on transitions only: three more polls (one a second) must not add any.
    wait_for_passes("WorkQueueManager", namespace, "ext", 3)
    again = [e for e in operator.events_for("ext", namespace) if e["reason"] == "Unreachable"]
    assert len(warnings) == len(again) == 1
    assert again[0].get("count", 1) == 1


def test_in_cluster_manager_gets_a_deployment_and_service_that_roll_out(
    operator: Cluster, namespace: str
) -> None:
    manifest = textwrap.dedent(
        """
        apiVersion: workqueue.dev/v1alpha1
        kind: WorkQueueManager
        metadata:
          name: inside
        spec:
          image: example.org/my-manager:1
          command: [python3, /app/manager.py]
          port: 9200
        """
    )
    operator.apply(manifest, namespace)
    deployment = wait_for(
        lambda: operator.get("deployment", "inside", namespace), what="the manager Deployment"
    )
    service = wait_for(lambda: operator.get("service", "inside", namespace), what="the Service")
    owner = deployment["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == (
        "WorkQueueManager",
        "inside",
        True,
    )
    assert service["spec"]["ports"][0]["port"] == 9200
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["manager", "telemetry-agent"]
    assert containers[0]["image"] == "example.org/my-manager:1"

    operator.kubectl(
        "patch",
        "wqm",
        "inside",
        "--type=merge",
        "-p",
        '{"spec":{"image":"example.org/my-manager:2"}}',
        namespace=namespace,
    )
    wait_for(
        lambda: (
            (d := operator.get("deployment", "inside", namespace))
            and d["spec"]["template"]["spec"]["containers"][0]["image"]
            == "example.org/my-manager:2"
        ),
        what="the new image rolled out",
    )
