"""K-means bucketing: seeded 1-D clusters, bucket = the cluster's largest member."""

from __future__ import annotations

import numpy as np

from workqueue_operator.sizing.buckets import Rung
from workqueue_operator.sizing.strategies.base import StrategyConfig
from workqueue_operator.sizing.strategies.kmeans import (
    grown_by_one_percent,
    kmeans_bucketing,
    kmeans_ladder,
)
from workqueue_operator.sizing.strategies.per_resource import LadderPolicy
from workqueue_operator.values.samples import Sample


def test_two_clusters_by_hand() -> None:
    values = np.asarray([1, 2, 3, 100, 101], dtype=np.float64)
    ladder = kmeans_ladder(values, np.ones(5), clusters=2, seed=0)
    assert ladder == (Rung(3, 0.6), Rung(101, 0.4))


def test_weights_count_and_clusters_never_exceed_distinct_values() -> None:
    values = np.asarray([5, 50], dtype=np.float64)
    assert kmeans_ladder(values, np.asarray([3.0, 1.0]), clusters=4) == (
        Rung(5, 0.75),
        Rung(50, 0.25),
    )
    assert kmeans_ladder(values[:1], np.ones(1), clusters=2) == (Rung(5, 1.0),)


def test_the_same_seed_gives_the_same_buckets() -> None:
    values = np.sort(np.random.default_rng(1).uniform(0, 100, 300))
    assert kmeans_ladder(values, np.ones(300), 3, seed=4) == kmeans_ladder(
        values, np.ones(300), 3, seed=4
    )


def test_refits_every_task_at_first_then_every_one_percent() -> None:
    assert grown_by_one_percent(50, 49)
    assert not grown_by_one_percent(50, 50)
    assert not grown_by_one_percent(1005, 1000)
    assert grown_by_one_percent(1010, 1000)


def test_strategy_after_cold_start() -> None:
    strategy = kmeans_bucketing(StrategyConfig(cold_start=4))
    for memory in (10, 11, 500, 510):
        strategy.observe(Sample("c", 1, memory, 5, 1))
    policy = strategy.policy("c")
    assert isinstance(policy, LadderPolicy)
    assert [r.value for r in policy.ladders[1]] == [11, 510]
