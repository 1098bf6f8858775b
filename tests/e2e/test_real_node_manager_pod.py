"""An InCluster manager whose pod cannot run, on the real node: its Reachable condition says why
in the kubelet's words (the image cannot be pulled), not only that its port does not answer."""

from __future__ import annotations

import json
import sys

import pytest

from tests.e2e.realnode import REAL_NODE_PLACEMENT, REGISTRY, free_cpu_millicores
from tests.harness import Cluster, wait_for
from tests.manifests import manifest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

POD_MILLICORES = 100 + 50
"""The manager container's request below plus the telemetry agent's (k8s/manager_objects.py)."""


def test_a_manager_image_that_cannot_be_pulled_is_named_in_reachable(
    operator: Cluster, namespace: str, real_node: str
) -> None:
    missing = f"{REGISTRY}/workqueue-operator/no-such-manager:1"
    spec = (
        f"image: {missing}\nport: 9200\npollIntervalSeconds: 1\n"
        "resources: {cpu: 100m, memory: 128Mi}\n"
        f"template: {json.dumps(REAL_NODE_PLACEMENT)}"
    )
    # The kubelet tries the pull only once the pod is scheduled. Until then (the last test's
    # pods may still hold the node while their namespace goes) Reachable gives the same reason
    # in the scheduler's words, so the wait is for the kubelet's; free CPU first saves time.
    wait_for(
        lambda: free_cpu_millicores(operator) >= POD_MILLICORES,
        timeout=300,
        what=f"{POD_MILLICORES}m free CPU on the node",
    )
    operator.apply(manifest("WorkQueueManager", "nopull", spec), namespace)
    stuck = operator.wait_condition(
        "wqm",
        "nopull",
        namespace,
        "Reachable",
        reason="ManagerPodNotRunning",
        message_has=("ErrImagePull", "ImagePullBackOff"),
        what="the kubelet's word on the image in Reachable",
        timeout=360,
        explain=lambda: operator.namespace_account(namespace),
    )
    print(f"\nReachable: {stuck['message']}", file=sys.__stdout__)  # the docs quote it
    assert stuck["status"] == "False"
    assert "container manager" in stuck["message"]
    assert missing in stuck["message"]
