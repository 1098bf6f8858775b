"""What the controllers observe, turned into the scaling decision's inputs. Pure functions.

Pods arrive as the apiserver's JSON; the manager's answers as the status client's models.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from workqueue_operator.k8s.labels import SHAPE_LABEL
from workqueue_operator.scaling import (
    UNKNOWN,
    CategoryDemand,
    PodPhase,
    PodView,
    PoolPolicy,
    TaskResources,
    WorkerView,
    worker_host_key,
)
from workqueue_operator.wq.status_models import (
    BoundKind,
    CategoryStatus,
    ResourceBound,
    WorkerStatus,
)

_PHASES = {phase.value: phase for phase in PodPhase}


def _timestamp(value: Any) -> float | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def pod_view(pod: Mapping[str, Any]) -> PodView:
    """One pod as the scaler sees it: a pod being deleted is Terminating whatever its phase."""
    metadata = pod.get("metadata", {})
    status = pod.get("status") or {}
    if metadata.get("deletionTimestamp"):
        phase = PodPhase.TERMINATING
    else:
        phase = _PHASES.get(status.get("phase") or "Pending", PodPhase.UNKNOWN)
    finished_at = None
    for container in status.get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated")
        if terminated:
            finished_at = _timestamp(terminated.get("finishedAt"))
    return PodView(
        name=metadata["name"],
        phase=phase,
        shape_id=(metadata.get("labels") or {}).get(SHAPE_LABEL, ""),
        created_at=_timestamp(metadata.get("creationTimestamp")) or 0.0,
        started_at=_timestamp(status.get("startTime")),
        finished_at=finished_at,
    )


def pod_views(pods: Iterable[Mapping[str, Any]]) -> list[PodView]:
    return [pod_view(pod) for pod in pods]


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
