"""Bucket recommendations for a WorkerPool: from measured samples to worker shapes. Pure.

Per category: enough samples, or nothing is trusted; resource-exhaustion attempts count as
needing more than they were given (the VPA's OOM bump: x1.2 or at least +100 MB); buckets from
the chosen strategy; a margin on top; and no churn when the new buckets differ from the last
ones by less than half the margin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from workqueue_operator.api.pool import (
    BucketShape,
    CategoryRecommendation,
    SizingSpec,
    SizingStrategy,
)
from workqueue_operator.sizing.bucketing import compute_buckets
from workqueue_operator.sizing.resources import Allocation
from workqueue_operator.values.samples import Sample, TaskResult
from workqueue_operator.values.shapes import WorkerShape

STRATEGY_NAMES: dict[SizingStrategy, str] = {
    SizingStrategy.ADAPTIVE: "adaptive-ladder",
    SizingStrategy.GREEDY: "greedy-bucketing",
    SizingStrategy.EXHAUSTIVE: "exhaustive-bucketing",
    SizingStrategy.KMEANS: "kmeans-bucketing",
}

OOM_BUMP_FACTOR = 1.2
OOM_BUMP_MIN_MB = 100.0
POD_DISK_FLOOR_MB = 1024
"""Least disk a bucket-shaped pod gets: the worker's workspace, logs and task sandboxes count
against ephemeral-storage, and a kubelet evicts a pod that exceeds it."""


def bumped(sample: Sample) -> Sample:
    """An exhausted attempt as what it showed: more than it had, by the VPA's OOM bump."""
    if sample.result is not TaskResult.RESOURCE_EXHAUSTION:
        return sample
    memory = max(sample.memory_mb * OOM_BUMP_FACTOR, sample.memory_mb + OOM_BUMP_MIN_MB)
    return replace(sample, memory_mb=memory, result=TaskResult.SUCCESS)


def _with_margin(value: float, margin_percent: int) -> int:
    """``value`` plus the margin, in whole units (rounded first: 200 x 1.1 is 220, not 221)."""
    return math.ceil(round(value * (1 + margin_percent / 100), 6))


def _close(old: BucketShape, new: BucketShape, tolerance: float) -> bool:
    pairs = ((old.cores, new.cores), (old.memory_mb, new.memory_mb), (old.disk_mb, new.disk_mb))
    return all(abs(n - o) <= tolerance * max(o, 1e-9) for o, n in pairs)


def recommend_category(
    category: str,
    samples: Sequence[Sample],
    sizing: SizingSpec,
    machine: Allocation,
    previous: CategoryRecommendation | None = None,
) -> CategoryRecommendation:
    """The buckets one category's samples support (none below ``sizing.minSamples``)."""
    usable = [bumped(s) for s in samples if s.result is not TaskResult.OTHER]
    if len(usable) < sizing.min_samples:
        return CategoryRecommendation(category=category, buckets=[], samples=len(usable))
    raw = compute_buckets(
        usable, STRATEGY_NAMES[sizing.strategy], sizing.max_buckets, seed=0, machine=machine
    )
    shapes = [
        BucketShape(
            cores=max(1.0, math.ceil(b.cores)),
            memory_mb=_with_margin(b.memory_mb, sizing.margin_percent),
            disk_mb=_with_margin(b.disk_mb, sizing.margin_percent),
            share=round(b.share, 4),
        )
        for b in raw
    ]
    shapes = _merge_same_shapes(shapes)
    if previous is not None and len(previous.buckets) == len(shapes):
        tolerance = sizing.margin_percent / 200
        if all(_close(o, n, tolerance) for o, n in zip(previous.buckets, shapes, strict=True)):
            shapes = list(previous.buckets)
    return CategoryRecommendation(category=category, buckets=shapes, samples=len(usable))


def _merge_same_shapes(shapes: list[BucketShape]) -> list[BucketShape]:
    """Buckets that are one pod shape once rounded (whole cores) are one bucket."""
    merged: dict[tuple[float, float, float], BucketShape] = {}
    for shape in shapes:
        key = (shape.cores, shape.memory_mb, shape.disk_mb)
        if key in merged:
            share = round(merged[key].share + shape.share, 4)
            merged[key] = merged[key].model_copy(update={"share": share})
        else:
            merged[key] = shape
    return list(merged.values())


def recommend(
    samples: Mapping[str, Sequence[Sample]],
    sizing: SizingSpec,
    machine: Allocation,
    previous: Sequence[CategoryRecommendation] = (),
) -> list[CategoryRecommendation]:
    """Recommendations for every category with samples, in category order."""
    last = {r.category: r for r in previous}
    return [
        recommend_category(category, samples[category], sizing, machine, last.get(category))
        for category in sorted(samples)
    ]


def bucket_shape(bucket: BucketShape) -> WorkerShape:
    """The worker pod shape of a bucket (whole cores, whole MB, at least the disk floor)."""
    return WorkerShape.of(
        math.ceil(bucket.cores),
        math.ceil(bucket.memory_mb),
        max(POD_DISK_FLOOR_MB, math.ceil(bucket.disk_mb)),
    )
