"""Which worker shapes a WorkerPool's new pods get, and which backlog each shape serves. Pure.

Fixed sizing (or Buckets with updateMode Off) keeps the declared worker. Buckets with Initial,
Recreate or InPlace give each category's backlog to its buckets in proportion to their shares,
each bucket on pods of its own shape; a category without trusted buckets stays on the declared
worker. With InPlace every recommended shape is a shape of the pool, also without a backlog.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from workqueue_operator.api.pool import (
    CategoryRecommendation,
    SizingMode,
    UpdateMode,
    WorkerPoolSpec,
)
from workqueue_operator.scaling import (
    CategoryDemand,
    PodPhase,
    PodView,
    WorkerShape,
    WorkerView,
    apportion,
    worker_host_key,
)
from workqueue_operator.scaling.inputs import declared_shape
from workqueue_operator.scaling.workers import workers_by_host
from workqueue_operator.sizing.recommend import bucket_shape

SHARE_SCALE = 10_000


def sizes_pods(spec: WorkerPoolSpec) -> bool:
    """Whether measured buckets decide the shapes of new pods."""
    return spec.sizing.mode is SizingMode.BUCKETS and spec.sizing.update_mode is not UpdateMode.OFF


def shapes_and_demands(
    spec: WorkerPoolSpec,
    demands: Sequence[CategoryDemand],
    recommendations: Sequence[CategoryRecommendation],
) -> tuple[tuple[WorkerShape, ...], list[CategoryDemand]]:
    """The shapes new pods may have (declared worker first) and the backlog per shape."""
    declared = declared_shape(spec.worker)
    if not sizes_pods(spec):
        return (declared,), list(demands)
    by_category = {r.category: r for r in recommendations if r.buckets}
    shapes: dict[str, WorkerShape] = {declared.id: declared}
    if spec.sizing.update_mode is UpdateMode.IN_PLACE:
        # Pods resized to a bucket shape are that shape's pods even when no task of its
        # category waits or runs now (they are not pods "of other shapes", first to go).
        for category in by_category.values():
            for bucket in category.buckets:
                shape = bucket_shape(bucket)
                shapes.setdefault(shape.id, shape)
    sized: list[CategoryDemand] = []
    for demand in demands:
        recommendation = by_category.get(demand.category)
        if recommendation is None:
            sized.append(demand)
            continue
        bucket_shapes = [bucket_shape(b) for b in recommendation.buckets]
        weights = {
            str(i): max(1, round(b.share * SHARE_SCALE))
            for i, b in enumerate(recommendation.buckets)
        }
        waiting = apportion(demand.waiting, weights)
        running = apportion(demand.running, weights)
        for i, shape in enumerate(bucket_shapes):
            shapes.setdefault(shape.id, shape)
            if waiting[str(i)] or running[str(i)]:
                sized.append(
                    CategoryDemand(
                        category=f"{demand.category}/{shape.id}",
                        waiting=waiting[str(i)],
                        running=running[str(i)],
                        task=demand.task,
                        shape_id=shape.id,
                    )
                )
    return tuple(shapes.values()), sized


_SHAPE_ID = re.compile(r"^c(\d+)m(\d+)d(\d+)(?:g(\d+))?$")


def shape_of(shape_id: str) -> WorkerShape | None:
    """The shape a pod's shape label names (``c4m8192d16384``), or None for a hashed id."""
    match = _SHAPE_ID.match(shape_id)
    if match is None:
        return None
    cores, memory, disk, gpus = (int(g) if g else 0 for g in match.groups())
    return WorkerShape.of(cores, memory, disk, gpus)


def off_by(have: WorkerShape, want: WorkerShape) -> float:
    """The largest relative difference between two shapes' cores, memory and disk."""
    pairs = (
        (have.cores, want.cores),
        (have.memory_mb, want.memory_mb),
        (have.disk_mb, want.disk_mb),
    )
    return max(abs(h - w) / max(w, 1) for h, w in pairs)


def recreate_victims(
    spec: WorkerPoolSpec,
    *,
    shapes: Sequence[WorkerShape],
    pods: Sequence[PodView],
    workers: Sequence[WorkerView],
    idle_since: Mapping[str, float],
    now: float,
) -> list[str]:
    """With sizing updateMode Recreate: idle pods whose shape is off every wanted shape by more
    than the margin, idle for at least the pool's idle delay. Never a busy worker; the next
    decision creates their replacements in the recommended shapes."""
    if not sizes_pods(spec) or spec.sizing.update_mode is not UpdateMode.RECREATE:
        return []
    threshold = spec.sizing.margin_percent / 100
    wanted = {shape.id: shape for shape in shapes}
    connected = workers_by_host(workers)
    victims = []
    for pod in pods:
        if pod.phase is not PodPhase.RUNNING or pod.shape_id in wanted:
            continue
        have = shape_of(pod.shape_id)
        state = connected.get(worker_host_key(pod.name))
        if have is None or state is None or state.busy:
            continue
        since = idle_since.get(state.key)
        if since is None or now - since < spec.autoscale.idle_delay_seconds:
            continue
        if min(off_by(have, want) for want in wanted.values()) > threshold:
            victims.append(pod.name)
    return sorted(victims)
