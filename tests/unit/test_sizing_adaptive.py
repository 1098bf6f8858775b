"""The project's own adaptive-ladder strategy: optimal ladders, coupling, categories, retries."""

from __future__ import annotations

import random

import numpy as np
import pytest

from workqueue_operator.sizing.resources import Allocation, Resource
from workqueue_operator.sizing.strategies.adaptive import (
    AdaptiveLadder,
    AdaptivePolicy,
    AdaptiveSettings,
    next_value,
    sample_weights,
)
from workqueue_operator.sizing.strategies.base import FixedPolicy, StrategyConfig
from workqueue_operator.sizing.strategies.ladder_dp import merge_levels, optimal_ladder
from workqueue_operator.values.samples import Sample, TaskResult

MACHINE = Allocation(16, 1000, 1000)
RNG = random.Random(0)


def arr(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def test_optimal_ladder_by_hand() -> None:
    # values 1, 2, 3, 10 once each. Ladder cost = sum of rung x weight still running:
    # [10]: 40; [3, 10]: 12 + 10 = 22; [2, 10]: 8 + 20 = 28; [1, 2, 3, 10]: 4 + 6 + 6 + 10 = 26
    values, weights = arr(1, 2, 3, 10), arr(1, 1, 1, 1)
    assert list(optimal_ladder(values, weights, max_rungs=10)) == [3, 10]
    assert list(optimal_ladder(values, weights, max_rungs=1)) == [10]
    # a fixed cost per attempt of 100 makes any failure too dear
    assert list(optimal_ladder(values, weights, 10, attempt_cost=100)) == [10]


def test_optimal_ladder_follows_the_weights() -> None:
    # a heavy (long) task at 10 makes rungs below it cheap to skip
    assert list(optimal_ladder(arr(1, 10), arr(1, 1), 5)) == [1, 10]  # 2 + 10 < 20
    assert list(optimal_ladder(arr(1, 10), arr(1, 20), 5)) == [10]  # 21 + 200 > 210


def test_merge_levels_keeps_the_top_and_the_total_weight() -> None:
    values = np.arange(1, 1001, dtype=np.float64)
    merged, weights = merge_levels(values, np.ones(1000), levels=10)
    assert len(merged) == 10
    assert merged[-1] == 1000
    assert weights.sum() == pytest.approx(1000)


def test_weights_are_time_times_recency() -> None:
    weights = sample_weights(arr(2, 0, 4), half_life=1)
    # the zero-time task weighs like the shortest measured one; each older task halves
    assert list(weights) == pytest.approx([2 * 0.25, 2 * 0.5, 4])
    assert list(sample_weights(arr(0, 0), half_life=0)) == [1, 1]


def test_next_value_climbs_own_then_pooled_then_grows() -> None:
    assert next_value(10, [(10, 20)], 1000, 2) == 20
    assert next_value(20, [(10, 20), (5, 30, 300)], 1000, 2) == 30
    assert next_value(300, [(10, 20), (5, 30, 300)], 1000, 2) == 600
    assert next_value(600, [(10,)], 1000, 2) == 1000
    assert next_value(0, [(0,)], 1000, 2) == 1000


def fed(settings: AdaptiveSettings | None = None) -> AdaptiveLadder:
    strategy = AdaptiveLadder(StrategyConfig(machine=MACHINE), settings or AdaptiveSettings())
    for memory in (100, 100, 100, 400):
        strategy.observe(Sample("small", 1, memory, 10, 1))
    strategy.observe(Sample("big", 2, 800, 10, 1))
    return strategy


def test_only_the_first_task_gets_the_machine() -> None:
    strategy = AdaptiveLadder(StrategyConfig(machine=MACHINE))
    assert isinstance(strategy.policy("x"), FixedPolicy)
    strategy.observe(Sample("x", 1, 100, 10, 1))
    assert strategy.policy("x").first(RNG) == Allocation(1, 100, 10)


def test_first_attempt_at_the_lowest_rung_retries_climb() -> None:
    policy = fed().policy("small")
    assert isinstance(policy, AdaptivePolicy)
    # weights ~1 on 100, 100, 100, 400; an attempt also costs 2 x mean = 350:
    # [100, 400] costs (100 + 350) x 4 + (400 + 350) x 1 = 2550 < [400]: (400 + 350) x 4 = 3000
    assert policy.rungs[1] == (100, 400)
    assert policy.first(RNG) == Allocation(1, 100, 10)
    memory = frozenset({Resource.MEMORY})
    assert policy.retry(Allocation(1, 100, 10), memory, RNG) == Allocation(1, 400, 10)
    # above the category's ladder: the pooled ladder (which knows the big task's 800)
    assert policy.retry(Allocation(1, 400, 10), memory, RNG) == Allocation(1, 800, 10)
    # above everything: doubled, capped at the machine
    assert policy.retry(Allocation(1, 800, 10), memory, RNG) == Allocation(1, 1000, 10)
    cores = frozenset({Resource.CORES})
    assert policy.retry(Allocation(1, 100, 10), cores, RNG) == Allocation(2, 100, 10)


def test_an_unseen_category_uses_the_pooled_ladders() -> None:
    strategy = fed()
    unseen = strategy.policy("new")
    assert isinstance(unseen, AdaptivePolicy)
    assert unseen.rungs == unseen.pooled()


def test_categories_can_be_pooled_as_in_the_papers() -> None:
    pooled = fed(AdaptiveSettings(use_categories=False))
    assert pooled.policy("big").rungs == pooled.policy("small").rungs  # type: ignore[union-attr]
    assert fed().policy("big").rungs[1] == (800,)  # type: ignore[union-attr]


def test_a_phase_change_takes_over_with_decay() -> None:
    strategy = AdaptiveLadder(StrategyConfig(machine=MACHINE), AdaptiveSettings(half_life=5))
    for _ in range(30):
        strategy.observe(Sample("c", 1, 900, 10, 1))
    for _ in range(30):
        strategy.observe(Sample("c", 1, 100, 10, 1))
    assert strategy.policy("c").first(RNG).memory_mb == 100
    no_decay = AdaptiveLadder(StrategyConfig(machine=MACHINE), AdaptiveSettings(half_life=0))
    for memory in [900] * 30 + [100] * 30:
        no_decay.observe(Sample("c", 1, memory, 10, 1))
    assert no_decay.policy("c").first(RNG).memory_mb == 900


def test_failed_attempts_are_not_learned_as_usage() -> None:
    strategy = fed()
    before = strategy.policy("small").rungs  # type: ignore[union-attr]
    strategy.observe(Sample("small", 1, 5, 1, 1, result=TaskResult.RESOURCE_EXHAUSTION))
    assert strategy.policy("small").rungs == before  # type: ignore[union-attr]
