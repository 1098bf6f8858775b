"""What the manager's status answers mean to the scaler: connected workers and each
category's backlog as the decision's inputs, and the waste of the workers a pool has. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from workqueue_operator.scaling.inputs import (
    UNKNOWN,
    CategoryDemand,
    PodView,
    PoolPolicy,
    TaskResources,
    WorkerView,
)
from workqueue_operator.scaling.workers import worker_host_key
from workqueue_operator.wq.status_models import (
    BoundKind,
    CategoryStatus,
    ResourceBound,
    WorkerStatus,
)


def worker_views(workers: Iterable[WorkerStatus]) -> list[WorkerView]:
    """Connected workers; the decision keeps only those whose hostname names one of its pods."""
    return [
        WorkerView(
            hostname=worker.hostname,
            tasks_running=worker.tasks_running,
            cores_inuse=worker.cores_inuse,
            memory_inuse_mb=worker.memory_inuse,
            disk_inuse_mb=worker.disk_inuse,
            gpus_inuse=worker.gpus_inuse,
        )
        for worker in workers
        if worker.hostname
    ]


def _declared(bound: ResourceBound) -> float:
    """A category's per-task figure the manager allocates by: the declared maximum. A measured
    peak alone does not limit what the manager gives a task (it still takes a whole worker)."""
    if bound.kind is BoundKind.DECLARED and bound.value is not None and bound.value > 0:
        return bound.value
    return UNKNOWN


def category_demands(categories: Sequence[CategoryStatus]) -> list[CategoryDemand]:
    """Each category's backlog (the manager's "whole queue" row is a sum, and is left out)."""
    return [
        CategoryDemand(
            category=row.category,
            waiting=row.tasks_waiting,
            running=row.tasks_running,
            task=TaskResources(
                cores=_declared(row.max_cores),
                memory_mb=_declared(row.max_memory),
                disk_mb=_declared(row.max_disk),
                gpus=_declared(row.max_gpus),
            ),
        )
        for row in categories
        if not row.is_whole_queue and (row.tasks_waiting or row.tasks_running)
    ]


def estimate_waste(
    pods: Sequence[PodView], workers: Sequence[WorkerView], policy: PoolPolicy
) -> tuple[float, float]:
    """What a pool's connected workers were given but do not use now: (memory MB, cores),
    summed over workers whose pod has a known shape."""
    shapes = {pod.name: policy.shape(pod.shape_id) for pod in pods}
    memory = cores = 0.0
    for worker in workers:
        shape = shapes.get(worker_host_key(worker.hostname))
        if shape is None:
            continue
        memory += max(0.0, shape.memory_mb - worker.memory_inuse_mb)
        cores += max(0.0, shape.cores - worker.cores_inuse)
    return memory, cores
