"""An InCluster manager whose pod cannot run, on the real node: its Reachable condition says why
in the kubelet's words (the image cannot be pulled), not only that its port does not answer."""

from __future__ import annotations

import json
import sys

import pytest

from tests.e2e.realnode import REAL_NODE_PLACEMENT, REGISTRY, free_cpu_millicores
from tests.harness import Cluster, wait_for
from tests.manifests import manifest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_a_manager_image_that_cannot_be_pulled_is_named_in_reachable(
    operator: Cluster, namespace: str, real_node: str
) -> None:
    missing = f"{REGISTRY}/workqueue-operator/no-such-manager:1"
    spec = (
        f"image: {missing}\nport: 9200\npollIntervalSeconds: 1\n"
        f"template: {json.dumps(REAL_NODE_PLACEMENT)}"
    )
    # The pod must be scheduled for the kubelet to try the pull: the last test's pods may still
    # hold the node's CPU while their namespace is deleted. The manager requests 500m.
    wait_for(lambda: free_cpu_millicores(operator) >= 500, timeout=300, what="0.5 free CPU")
    operator.apply(manifest("WorkQueueManager", "nopull", spec), namespace)
    stuck = operator.wait_condition(
        "wqm",
        "nopull",
        namespace,
        "Reachable",
        reason="ManagerPodNotRunning",
        what="the kubelet's word on the image",
        timeout=180,
    )
    print(f"\nReachable: {stuck['message']}", file=sys.__stdout__)  # the docs quote it
    assert stuck["status"] == "False"
    assert "container manager" in stuck["message"]
    assert any(word in stuck["message"] for word in ("ErrImagePull", "ImagePullBackOff"))
    assert missing in stuck["message"]
