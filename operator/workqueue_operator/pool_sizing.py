"""Which worker shapes a WorkerPool's new pods get, and which backlog each shape serves. Pure.

Fixed sizing (or Buckets with updateMode Off) keeps the declared worker. Buckets with Initial or
Recreate give each category's backlog to its buckets in proportion to their shares, each bucket
on pods of its own shape; a category without trusted buckets stays on the declared worker.
"""

from __future__ import annotations

from collections.abc import Sequence

from workqueue_operator.api.pool import (
    CategoryRecommendation,
    SizingMode,
    UpdateMode,
    WorkerPoolSpec,
)
from workqueue_operator.scaling import CategoryDemand, WorkerShape, apportion
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
    declared = WorkerShape.from_resources(spec.worker)
    if not sizes_pods(spec):
        return (declared,), list(demands)
    by_category = {r.category: r for r in recommendations if r.buckets}
    shapes: dict[str, WorkerShape] = {declared.id: declared}
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
