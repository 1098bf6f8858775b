"""Bucket recommendations: from measured samples to task shapes and worker pod shapes. Pure.

``compute_buckets`` turns a category's samples into joint task shapes with the share of tasks
each covers; ``category_policy`` gives the allocations a strategy would hand that category's
next task and its retries.

For a WorkerPool, per category: enough samples, or nothing is trusted; resource-exhaustion
attempts count as needing more than they were given (the VPA's OOM bump: x1.2 or at least
+100 MB); buckets from the chosen strategy; a margin on top; and no churn when the new buckets
differ from the last ones by less than half the margin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from workqueue_operator.api.pool import (
    BucketShape,
    CategoryRecommendation,
    SizingSpec,
    SizingStrategy,
)
from workqueue_operator.sizing.buckets import Bucket, Ladders, joint_buckets
from workqueue_operator.sizing.resources import DEFAULT_MACHINE, Allocation
from workqueue_operator.sizing.strategies import STRATEGIES
from workqueue_operator.sizing.strategies.adaptive import adaptive_ladders
from workqueue_operator.sizing.strategies.base import CategoryPolicy, StrategyConfig
from workqueue_operator.sizing.strategies.exhaustive import exhaustive_ladders
from workqueue_operator.sizing.strategies.greedy import greedy_ladders
from workqueue_operator.sizing.strategies.history import History
from workqueue_operator.sizing.strategies.kmeans import kmeans_ladders
from workqueue_operator.values.samples import Sample, TaskResult
from workqueue_operator.values.shapes import WorkerShape

LaddersFunction = Callable[[History, StrategyConfig], Ladders]

BUCKETING: dict[str, LaddersFunction] = {
    "greedy-bucketing": greedy_ladders,
    "exhaustive-bucketing": exhaustive_ladders,
    "kmeans-bucketing": kmeans_ladders,
    "adaptive-ladder": adaptive_ladders,
}
"""Strategies that produce buckets, by registry name."""


def compute_buckets(
    samples: Sequence[Sample],
    strategy: str = "adaptive-ladder",
    max_buckets: int = 10,
    seed: int = 0,
    machine: Allocation = DEFAULT_MACHINE,
) -> list[Bucket]:
    """Joint buckets for one category's samples, at most ``max_buckets`` of them.

    Each resource gets the strategy's ladder; a bucket is a combination of rungs that some
    successful task needs, and its share is the fraction of those tasks. Failed attempts in
    ``samples`` are ignored. Raises ``KeyError`` for a strategy that makes no buckets.
    """
    history = History(machine, samples)
    if len(history) == 0:
        return []
    config = StrategyConfig(machine=machine, seed=seed, max_buckets=max(1, max_buckets))
    ladders = BUCKETING[strategy](history, config)
    buckets = joint_buckets(history.usage(), np.ones(len(history)), ladders)
    return limit_buckets(buckets, max(1, max_buckets), machine)


def limit_buckets(buckets: Sequence[Bucket], limit: int, machine: Allocation) -> list[Bucket]:
    """Merge buckets until at most ``limit`` remain.

    The smallest-share bucket is merged into the bucket where the merge adds the least
    allocation over the tasks of both (each resource as a fraction of the machine); the merged
    bucket is their per-resource maximum and holds both shares.
    """
    result = list(buckets)
    scale = [v if v > 0 else 1.0 for v in machine.values()]

    def added(shape: Bucket, merged: Allocation) -> float:
        pairs = zip(merged.values(), shape.allocation.values(), scale, strict=True)
        return shape.share * sum((m - v) / s for m, v, s in pairs)

    while len(result) > max(1, limit):
        bucket = result.pop(min(range(len(result)), key=lambda i: result[i].share))
        merges = [other.allocation.at_least(bucket.allocation) for other in result]
        target = min(
            range(len(result)),
            key=lambda i: added(bucket, merges[i]) + added(result[i], merges[i]),
        )
        merged = merges[target]
        share = result[target].share + bucket.share
        result[target] = Bucket(merged.cores, merged.memory_mb, merged.disk_mb, share)
    return sorted(result, key=lambda b: (b.memory_mb, b.cores, b.disk_mb))


def category_policy(
    samples: Sequence[Sample], strategy: str, config: StrategyConfig | None = None
) -> CategoryPolicy:
    """The policy a strategy would give the next task of the category of ``samples``.

    The strategy learns from ``samples`` in order (all of one category); the category of an
    empty sequence is ``"default"``.
    """
    learner = STRATEGIES[strategy](config or StrategyConfig())
    for sample in samples:
        learner.observe(sample)
    category = samples[-1].category if samples else "default"
    return learner.policy(category)


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
