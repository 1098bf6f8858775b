"""A WorkerPool whose pods the apiserver refuses (here a ResourceQuota) says so in its status and
in an Event, keeps the pods it could create, and catches up when the quota allows more."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from tests.cctools.manager import ManagerFactory
from tests.e2e.test_autoscale import external_manager, pods, pool
from tests.harness import Cluster, condition, wait_for, wait_for_passes
from workqueue_operator.controllers import metrics

pytestmark = pytest.mark.e2e


def quota(pods: int) -> str:
    return textwrap.dedent(
        f"""
        apiVersion: v1
        kind: ResourceQuota
        metadata:
          name: pod-count
        spec:
          hard:
            pods: "{pods}"
        """
    )


def live_pods(cluster: Cluster, namespace: str) -> int:
    return len([p for p in pods(cluster, namespace) if not p["metadata"].get("deletionTimestamp")])


def pods_created(cluster: Cluster, namespace: str, status: str) -> dict[str, Any] | None:
    found = condition(cluster.get("wqpool", "workers", namespace), "PodsCreated")
    return found if found is not None and found["status"] == status else None


def test_pods_refused_by_a_quota_are_reported_and_created_once_it_allows_them(
    operator: Cluster, namespace: str, manager_factory: ManagerFactory
) -> None:
    operator.apply(quota(1), namespace)
    wait_for(
        lambda: (
            (operator.get("resourcequota", "pod-count", namespace) or {})
            .get("status", {})
            .get("hard")
        ),
        timeout=30,
        what="the quota's status.hard (enforced from then on)",
    )
    manager = manager_factory()
    operator.apply(external_manager(manager.port), namespace)
    operator.apply(pool(max_workers=5, autoscale=False), namespace)
    operator.kubectl("scale", "wqpool", "workers", "--replicas=3", namespace=namespace)

    refused = wait_for(
        lambda: pods_created(operator, namespace, "False"),
        timeout=60,
        what="PodsCreated=False",
    )
    assert refused["reason"] == "FailedCreate"
    assert refused["message"].startswith("the worker pod is forbidden: exceeded quota: pod-count")
    assert live_pods(operator, namespace) == 1

    def refusal_events() -> list[dict[str, Any]]:
        return [
            e
            for e in operator.events_for("workers", namespace)
            if e["reason"] == "FailedCreate" and e["type"] == "Warning"
        ]

    warnings = wait_for(refusal_events, timeout=30, what="a FailedCreate Warning Event")
    assert "exceeded quota" in warnings[0]["message"]
    # The next passes (1 s apart) try again and are refused again: same condition, no new Event.
    wait_for_passes("WorkerPool", namespace, "workers", 3)
    again = pods_created(operator, namespace, "False")
    assert again is not None and again["lastTransitionTime"] == refused["lastTransitionTime"]
    assert live_pods(operator, namespace) == 1

    # The operator runs in this process: its counter saw the refusals of several passes.
    refused_total = [
        sample.value
        for family in metrics.REGISTRY.collect()
        for sample in family.samples
        if sample.name == "workqueue_operator_pods_refused_total"
        and sample.labels == {"namespace": namespace, "pool": "workers"}
    ]
    assert refused_total and refused_total[0] >= 2, refused_total

    operator.apply(quota(5), namespace)
    wait_for(lambda: live_pods(operator, namespace) == 3, timeout=60, what="3 pods")
    created = wait_for(
        lambda: pods_created(operator, namespace, "True"), timeout=30, what="PodsCreated=True"
    )
    assert created["reason"] == "Created"
    reasons = [e["reason"] for e in operator.events_for("workers", namespace)]
    assert reasons.count("FailedCreate") == 1, reasons
    assert "Created" in reasons, reasons
