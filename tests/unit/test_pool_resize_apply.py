"""The in-place resize applier against an in-memory KubeApi: a new resize relabels the pod and
records it before asking for it, a resize taken back asks first and then drops the record, a
finished one drops its record, and the apiserver's refusal is kept with its message."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from tests.unit.kube_memory import InMemoryKube
from tests.unit.test_pool_plan import observe
from workqueue_operator.controllers.pool_apply import apply_pool_resizes
from workqueue_operator.k8s.labels import RESIZE_AT_ANNOTATION, RESIZE_FROM_ANNOTATION
from workqueue_operator.scaling.inplace import InPlacePlan, ResizePod, ResizeResult
from workqueue_operator.scaling.plan import PoolMemory, PoolPlan, plan_pool
from workqueue_operator.values.shapes import WorkerShape

NS = "science"
STAMP = "2026-12-06T10:00:00Z"
OLD = WorkerShape.of(2, 4096, 4096)
NEW = WorkerShape.of(1, 512, 1024)


def stored_pod(name: str, shape: WorkerShape, annotations: dict[str, str] | None = None) -> Any:
    amounts = {"cpu": str(shape.cores), "memory": f"{shape.memory_mb}Mi"}
    return {
        "metadata": {
            "name": name,
            "labels": {"workqueue.dev/pool": "pool", "workqueue.dev/shape": shape.id},
            "annotations": dict(annotations or {}),
        },
        "spec": {
            "containers": [
                {"name": "worker", "resources": {"requests": amounts, "limits": dict(amounts)}}
            ]
        },
    }


def empty_plan() -> PoolPlan:
    return plan_pool(observe(), PoolMemory())


def with_resizes(*resizes: ResizePod, finished: tuple[str, ...] = ()) -> PoolPlan:
    return replace(empty_plan(), in_place=InPlacePlan(resizes=resizes, finished=finished))


def apply(kube: InMemoryKube, plan: PoolPlan) -> Any:
    return asyncio.run(apply_pool_resizes(plan, NS, kube, timestamp=STAMP))


def test_a_new_resize_relabels_and_records_the_pod_then_resizes_it() -> None:
    kube = InMemoryKube()
    kube.pods[(NS, "w")] = stored_pod("w", OLD)
    start = ResizePod("w", NEW, OLD.id, ResizeResult.REQUESTED, "")
    outcome = apply(kube, with_resizes(start))
    assert outcome.taken == ("w",) and outcome.refused == {}
    assert kube.calls == ["label w", "resize w"]
    pod = kube.pods[(NS, "w")]
    assert pod["metadata"]["labels"]["workqueue.dev/shape"] == NEW.id
    assert pod["metadata"]["annotations"] == {
        RESIZE_FROM_ANNOTATION: OLD.id,
        RESIZE_AT_ANNOTATION: STAMP,
    }
    assert pod["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}


def test_a_resize_taken_back_resizes_first_then_drops_the_record() -> None:
    kube = InMemoryKube()
    record = {RESIZE_FROM_ANNOTATION: OLD.id, RESIZE_AT_ANNOTATION: STAMP}
    kube.pods[(NS, "w")] = stored_pod("w", NEW, record)
    back = ResizePod("w", OLD, None, ResizeResult.CANCELLED, "")
    assert apply(kube, with_resizes(back)).taken == ("w",)
    assert kube.calls == ["resize w", "label w"]
    pod = kube.pods[(NS, "w")]
    assert pod["metadata"]["labels"]["workqueue.dev/shape"] == OLD.id
    assert pod["metadata"]["annotations"] == {}
    assert pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "2"


def test_a_finished_resize_drops_its_record_and_a_gone_pod_is_no_error() -> None:
    kube = InMemoryKube()
    record = {RESIZE_FROM_ANNOTATION: OLD.id, RESIZE_AT_ANNOTATION: STAMP, "other": "kept"}
    kube.pods[(NS, "w")] = stored_pod("w", NEW, record)
    gone = ResizePod("gone", NEW, OLD.id, ResizeResult.REQUESTED, "")
    outcome = apply(kube, with_resizes(gone, finished=("w",)))
    assert outcome.taken == () and outcome.refused == {}
    assert kube.pods[(NS, "w")]["metadata"]["annotations"] == {"other": "kept"}


def test_a_refused_resize_is_kept_with_the_apiservers_message_and_stops_nothing_else() -> None:
    kube = InMemoryKube(node_cpu_millicores=2000)
    for name in ("big", "small"):
        kube.pods[(NS, name)] = stored_pod(name, OLD)
    big = ResizePod("big", WorkerShape.of(4, 4096, 4096), OLD.id, ResizeResult.REQUESTED, "")
    small = ResizePod("small", NEW, OLD.id, ResizeResult.REQUESTED, "")
    outcome = apply(kube, with_resizes(big, small))
    assert outcome.taken == ("small",)
    assert outcome.refused == {
        "big": 'pods "big" is forbidden: node didn\'t have enough allocatable resources: cpu, '
        "requested: 4000, allocatable: 2000"
    }
    limits = kube.pods[(NS, "big")]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["cpu"] == "2"  # unchanged
