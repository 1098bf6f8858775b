"""What the operator reads from a worker pod about in-place resizes: its size, whether it can be
resized, the kubelet's state (from the conditions and the container's status, as kubelet 1.37.2
wrote them on the real node) and the operator's own record of a resize."""

from __future__ import annotations

import copy
from typing import Any

from workqueue_operator.k8s.observe import pod_view
from workqueue_operator.scaling.inputs import ResizeState
from workqueue_operator.values.shapes import WorkerShape


def resources(cpu: str, memory: str) -> dict[str, dict[str, str]]:
    amounts = {"cpu": cpu, "memory": memory, "ephemeral-storage": "1Gi"}
    return {"requests": dict(amounts), "limits": dict(amounts)}


POD: dict[str, Any] = {
    "metadata": {
        "name": "pool-c1m512d1024-ab12cd",
        "labels": {"workqueue.dev/shape": "c1m512d1024"},
        "creationTimestamp": "2026-12-06T10:51:40Z",
    },
    "spec": {
        "restartPolicy": "OnFailure",
        "containers": [
            {
                "name": "worker",
                "resizePolicy": [
                    {"resourceName": "cpu", "restartPolicy": "RestartContainer"},
                    {"resourceName": "memory", "restartPolicy": "RestartContainer"},
                ],
                "resources": resources("1", "512Mi"),
            }
        ],
    },
    "status": {
        "phase": "Running",
        "startTime": "2026-12-06T10:51:41Z",
        "containerStatuses": [
            {
                "name": "worker",
                "restartCount": 0,
                "resources": resources("1", "512Mi"),
                "allocatedResources": {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "1Gi"},
            }
        ],
    },
}


def test_a_settled_resizable_pod() -> None:
    view = pod_view(POD)
    assert view.size == WorkerShape.of(1, 512, 1024)
    assert view.resize.resizable and view.resize.state is ResizeState.NONE
    assert view.resize.from_shape is None and view.resize.requested_at is None


def test_a_pod_without_restarting_resize_policy_is_not_resizable() -> None:
    pod = copy.deepcopy(POD)
    del pod["spec"]["containers"][0]["resizePolicy"]
    assert not pod_view(pod).resize.resizable


def test_a_spec_the_container_does_not_run_yet_is_a_proposed_resize() -> None:
    pod = copy.deepcopy(POD)
    pod["spec"]["containers"][0]["resources"] = resources("2", "2Gi")
    view = pod_view(pod)
    assert view.size == WorkerShape.of(2, 2048, 1024)  # what the spec asks for now
    assert view.resize.state is ResizeState.PROPOSED
    pod["status"]["containerStatuses"][0]["resources"] = resources("2000m", "2048Mi")
    assert pod_view(pod).resize.state is ResizeState.NONE  # same amounts, other spellings


def test_the_kubelets_conditions_and_the_operators_record() -> None:
    pod = copy.deepcopy(POD)
    pod["metadata"]["annotations"] = {
        "workqueue.dev/resize-from": "c2m4096d1024",
        "workqueue.dev/resize-requested-at": "2026-12-06T10:54:16Z",
    }
    deferred = {
        "type": "PodResizePending",
        "status": "True",
        "reason": "Deferred",
        "message": "Node didn't have enough resource: cpu, requested: 1500, used: 1000, "
        "capacity: 2000",
        "lastTransitionTime": "2026-12-06T10:54:17Z",
        "observedGeneration": 3,
    }
    pod["status"]["conditions"] = [{"type": "Ready", "status": "True"}, deferred]
    view = pod_view(pod)
    assert view.resize.state is ResizeState.DEFERRED
    assert view.resize.message.startswith("Node didn't have enough resource: cpu")
    assert view.resize.from_shape == "c2m4096d1024"
    assert view.resize.since is not None and view.resize.requested_at is not None
    assert view.resize.since - view.resize.requested_at == 1
    deferred["reason"] = "Infeasible"
    assert pod_view(pod).resize.state is ResizeState.INFEASIBLE
    pod["status"]["conditions"] = [
        {"type": "PodResizeInProgress", "status": "True", "lastTransitionTime": None}
    ]
    assert pod_view(pod).resize.state is ResizeState.IN_PROGRESS
    pod["status"]["conditions"].append(deferred)  # a newer resize pending behind it
    assert pod_view(pod).resize.state is ResizeState.INFEASIBLE
