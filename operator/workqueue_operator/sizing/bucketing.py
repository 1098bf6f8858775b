"""Bucket recommendations for one category: the pure entry points the operator uses.

``compute_buckets`` turns a category's samples into joint task shapes (worker pod sizes) with
the share of tasks each covers; ``category_policy`` gives the allocations a strategy would hand
that category's next task and its retries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from workqueue_operator.sizing.buckets import Bucket, Ladders, joint_buckets
from workqueue_operator.sizing.resources import DEFAULT_MACHINE, Allocation
from workqueue_operator.sizing.strategies import STRATEGIES
from workqueue_operator.sizing.strategies.adaptive import adaptive_ladders
from workqueue_operator.sizing.strategies.base import CategoryPolicy, StrategyConfig
from workqueue_operator.sizing.strategies.exhaustive import exhaustive_ladders
from workqueue_operator.sizing.strategies.greedy import greedy_ladders
from workqueue_operator.sizing.strategies.history import History
from workqueue_operator.sizing.strategies.kmeans import kmeans_ladders
from workqueue_operator.values.samples import Sample

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
