"""Greedy bucketing (Phung et al.; CCTools bucketing_greedy) on hand-checked values."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.unit.sizing_data import arr
from workqueue_operator.sizing.buckets import Rung
from workqueue_operator.sizing.resources import Allocation, Resource
from workqueue_operator.sizing.strategies.base import FixedPolicy, StrategyConfig
from workqueue_operator.sizing.strategies.greedy import (
    greedy_breaks,
    greedy_bucketing,
    greedy_ladder,
    split_costs,
)
from workqueue_operator.sizing.strategies.per_resource import LadderPolicy
from workqueue_operator.values.samples import Sample


def test_split_costs_by_hand() -> None:
    # split after 1: p1 = p2 = .5, e1 = 1, e2 = 10, b = 1, m = 10:
    # .25*0 + .25*9 + .25*(1 + 10 - 10) + .25*0 = 2.5; no split: 10 - 5.5 = 4.5
    assert split_costs(arr(1, 10), arr(1, 1)) == pytest.approx([2.5, 4.5])
    # close values: splitting costs 2.5, keeping one bucket 0.5
    assert split_costs(arr(9, 10), arr(1, 1)) == pytest.approx([2.5, 0.5])


def test_far_apart_values_get_two_buckets_close_ones_one() -> None:
    assert greedy_ladder(arr(1, 10), arr(1, 1)) == (Rung(1, 0.5), Rung(10, 0.5))
    assert greedy_ladder(arr(9, 10), arr(1, 1)) == (Rung(10, 1.0),)


def test_significance_weights_the_shares() -> None:
    ladder = greedy_ladder(arr(1, 10), arr(1, 3))
    assert ladder == (Rung(1, 0.25), Rung(10, 0.75))


def test_recursive_splits_and_the_bucket_limit() -> None:
    values = arr(1, 2, 100, 101, 10000, 10001)
    weights = np.ones(6)
    assert greedy_breaks(values, weights) == [1, 3, 5]
    assert greedy_breaks(values, weights, limit=2) == [3, 5]
    assert greedy_breaks(values, weights, limit=1) == [5]


def test_strategy_cold_start_then_draws_and_retries_above() -> None:
    machine = Allocation(16, 1000, 1000)
    strategy = greedy_bucketing(StrategyConfig(machine=machine, cold_start=4))
    for memory in (10, 10, 500, 500):
        assert isinstance(strategy.policy("c"), FixedPolicy)
        strategy.observe(Sample("c", 1, memory, 5, 1))
    policy = strategy.policy("c")
    assert isinstance(policy, LadderPolicy)
    assert [r.value for r in policy.ladders[1]] == [10, 500]
    rng = random.Random(1)
    draws = {policy.first(rng).memory_mb for _ in range(50)}
    assert draws == {10, 500}
    failed = Allocation(1, 10, 5)
    assert policy.retry(failed, frozenset({Resource.MEMORY}), rng) == Allocation(1, 500, 5)
    # above the top rung the value doubles, up to the machine
    assert policy.retry(Allocation(1, 500, 5), frozenset({Resource.MEMORY}), rng).memory_mb == 1000
    assert policy.retry(Allocation(1, 10, 5), frozenset({Resource.DISK}), rng).disk_mb == 10
