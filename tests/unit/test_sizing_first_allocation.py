"""Work Queue's first allocation (Tovar et al. 2017) on hand-checked histograms."""

from __future__ import annotations

import random

from tests.unit.sizing_data import arr
from workqueue_operator.sizing.replay import replay
from workqueue_operator.sizing.resources import Allocation, Resource
from workqueue_operator.sizing.strategies.base import FixedPolicy, StrategyConfig
from workqueue_operator.sizing.strategies.first_allocation import (
    MaxSeenRetryPolicy,
    max_throughput,
    max_throughput_strategy,
    min_waste,
    min_waste_strategy,
)
from workqueue_operator.values.samples import Sample

MACHINE = Allocation(16, 1000, 1000)


def test_min_waste_by_hand() -> None:
    # values 1, 2, 10 (one task each, 1 s): E[t] = 1; E[t; x > a] = 2/3, 1/3, 0.
    # a=1: 1 + 10*2/3 = 7.67; a=2: 2 + 10/3 = 5.33; a=10: 10 -> 2.
    assert min_waste(arr(1, 2, 10), arr(1, 1, 1), arr(1, 1, 1)) == 2
    # a 9 s task at 10: E[t] = 11/3; a=1: 3.67 + 10*10/3 = 37.0, a=2: 37.3, a=10: 36.7
    assert min_waste(arr(1, 2, 10), arr(1, 1, 9), arr(1, 1, 1)) == 10


def test_max_throughput_by_hand() -> None:
    # rate(a) = ((10/a) P(x<=a) + P(x>a)) / (E[t] + E[t; x>a]):
    # a=1: (10/3 + 2/3) / (5/3) = 2.4; a=2: (5*2/3 + 1/3) / (4/3) = 2.75; a=10: 1 -> 2.
    assert max_throughput(arr(1, 2, 10), arr(1, 1, 1), arr(1, 1, 1)) == 2
    assert max_throughput(arr(0, 4), arr(1, 1), arr(1, 1)) == 4  # zero is never a slot size


def test_without_a_clock_every_task_counts_one_time_unit() -> None:
    assert min_waste(arr(1, 2, 10), arr(0, 0, 0), arr(1, 1, 1)) == 2


def test_retry_goes_to_the_maximum_seen_then_the_machine() -> None:
    policy = MaxSeenRetryPolicy(Allocation(1, 10, 10), Allocation(2, 50, 10), MACHINE)
    rng = random.Random(0)
    memory = frozenset({Resource.MEMORY})
    assert policy.retry(Allocation(1, 10, 10), memory, rng) == Allocation(1, 50, 10)
    assert policy.retry(Allocation(1, 50, 10), memory, rng) == Allocation(1, 1000, 10)


def test_cold_start_then_first_allocation_from_the_pool() -> None:
    strategy = min_waste_strategy(StrategyConfig(machine=MACHINE, cold_start=3))
    for memory in (10, 20, 100):
        assert isinstance(strategy.policy("x"), FixedPolicy)
        strategy.observe(Sample("x", 1, memory, 5, 1))
    policy = strategy.policy("other category")
    assert isinstance(policy, MaxSeenRetryPolicy)
    assert policy.first(random.Random(0)) == Allocation(1, 20, 5)


def test_max_throughput_strategy_replays() -> None:
    trace = [Sample("x", 1, m, 5, 1) for m in (10, 20, 100, 20, 20, 10, 100, 20)]
    result = replay(trace, max_throughput_strategy(StrategyConfig(machine=MACHINE)), MACHINE)
    assert result.tasks == len(trace)
