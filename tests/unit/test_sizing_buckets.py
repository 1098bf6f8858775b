"""compute_buckets and category_policy: the pure entry points the operator uses."""

from __future__ import annotations

import random

import numpy as np
import pytest

from workqueue_operator.sizing.buckets import Bucket, Rung, joint_buckets
from workqueue_operator.sizing.recommend import (
    BUCKETING,
    category_policy,
    compute_buckets,
    limit_buckets,
)
from workqueue_operator.sizing.resources import DEFAULT_MACHINE, Allocation
from workqueue_operator.values.samples import Sample, TaskResult


def bimodal(count: int = 200) -> list[Sample]:
    rng = random.Random(5)
    return [
        Sample("c", 1, rng.uniform(90, 100), 50, 10)
        if i % 4
        else Sample("c", 4, rng.uniform(900, 1000), 500, 10)
        for i in range(count)
    ]


def test_joint_buckets_combine_rungs_by_task() -> None:
    usage = np.asarray([[1, 10, 5], [1, 10, 50], [2, 100, 50], [1, 10, 5]], dtype=np.float64)
    ladders = (
        (Rung(1, 0.75), Rung(2, 0.25)),
        (Rung(10, 0.75), Rung(100, 0.25)),
        (Rung(5, 0.5), Rung(50, 0.5)),
    )
    assert joint_buckets(usage, np.ones(4), ladders) == [
        Bucket(1, 10, 5, 0.5),
        Bucket(1, 10, 50, 0.25),
        Bucket(2, 100, 50, 0.25),
    ]


@pytest.mark.parametrize("strategy", sorted(BUCKETING))
def test_every_bucketing_strategy_separates_two_modes(strategy: str) -> None:
    buckets = compute_buckets(bimodal(), strategy, max_buckets=4)
    assert 1 <= len(buckets) <= 4
    assert sum(b.share for b in buckets) == pytest.approx(1.0)
    top = buckets[-1]
    assert top.memory_mb >= 900
    assert top.cores == 4
    # some bucket serves the small tasks with far less than the big ones need
    assert buckets[0].memory_mb <= 100 or strategy == "kmeans-bucketing"


def test_adaptive_buckets_cover_each_mode_with_its_share() -> None:
    buckets = compute_buckets(bimodal(), "adaptive-ladder")
    small = [b for b in buckets if b.cores == 1]
    big = [b for b in buckets if b.cores == 4]
    assert sum(b.share for b in small) == pytest.approx(0.75)
    assert [(b.disk_mb, b.share) for b in big] == [(500, pytest.approx(0.25))]
    assert max(small, key=lambda b: b.share).memory_mb <= 100
    # the top sits at or above the largest use seen: the next task may beat it
    assert big[0].memory_mb >= max(s.memory_mb for s in bimodal())


def test_failed_attempts_and_empty_input_give_no_buckets() -> None:
    failed = Sample("c", 1, 10, 10, 1, result=TaskResult.RESOURCE_EXHAUSTION)
    assert compute_buckets([failed]) == []
    assert compute_buckets([]) == []
    with pytest.raises(KeyError):
        compute_buckets(bimodal(), "whole-machine")


def test_usage_is_capped_at_the_machine() -> None:
    machine = Allocation(2, 500, 100)
    buckets = compute_buckets(bimodal(), "greedy-bucketing", machine=machine)
    assert buckets[-1].allocation == machine


def test_limit_buckets_merges_the_smallest_into_the_cheapest_neighbour() -> None:
    buckets = [Bucket(1, 10, 5, 0.5), Bucket(1, 12, 5, 0.125), Bucket(4, 100, 50, 0.375)]
    # into (1, 10, 5): its tasks get 2 MB more; into (4, 100, 50): the small ones get 3 cores
    assert limit_buckets(buckets, 2, DEFAULT_MACHINE) == [
        Bucket(1, 12, 5, 0.625),
        Bucket(4, 100, 50, 0.375),
    ]
    assert limit_buckets(buckets, 1, DEFAULT_MACHINE) == [Bucket(4, 100, 50, 1.0)]
    assert limit_buckets(buckets, 5, DEFAULT_MACHINE) == buckets


def test_category_policy_learns_then_answers_first_and_retry() -> None:
    policy = category_policy(bimodal(), "adaptive-ladder")
    first = policy.first(random.Random(0))
    assert first.memory_mb <= 1000
    assert category_policy([], "whole-machine").first(random.Random(0)) == DEFAULT_MACHINE
