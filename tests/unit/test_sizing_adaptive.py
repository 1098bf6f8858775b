"""The project's own adaptive-ladder strategy: optimal ladders, coupling, categories, retries."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from tests.unit.sizing_data import arr
from workqueue_operator.sizing.resources import Allocation, Resource
from workqueue_operator.sizing.strategies.adaptive import (
    AdaptiveLadder,
    AdaptivePolicy,
    AdaptiveSettings,
    ladder,
    next_value,
    sample_weights,
)
from workqueue_operator.sizing.strategies.base import FixedPolicy, StrategyConfig
from workqueue_operator.sizing.strategies.ladder_dp import merge_levels, optimal_ladder
from workqueue_operator.sizing.strategies.records import (
    next_record,
    position_weighted_excesses,
    record_excesses,
    record_rate,
)
from workqueue_operator.values.samples import Sample, TaskResult

MACHINE = Allocation(16, 1000, 1000)
RNG = random.Random(0)


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


def test_next_value_climbs_the_ladders_in_order_then_grows() -> None:
    assert next_value(10, [(10, 20)], 1000, 2) == 20
    assert next_value(20, [(10, 20), (5, 30, 300)], 1000, 2) == 30
    assert next_value(300, [(10, 20), (5, 30, 300)], 1000, 2) == 600
    assert next_value(600, [(10,)], 1000, 2) == 1000
    assert next_value(0, [(0,)], 1000, 2) == 1000


def fed(*memories: float) -> AdaptiveLadder:
    strategy = AdaptiveLadder(StrategyConfig(machine=MACHINE))
    for memory in memories:
        strategy.observe(Sample("c", 1, memory, 10, 1))
    return strategy


def test_only_the_first_task_gets_the_machine() -> None:
    strategy = AdaptiveLadder(StrategyConfig(machine=MACHINE))
    assert isinstance(strategy.policy("x"), FixedPolicy)
    strategy.observe(Sample("x", 1, 100, 10, 1))
    assert strategy.policy("x").first(RNG) == Allocation(1, 100, 10)


def test_first_attempt_at_the_lowest_rung_retries_climb() -> None:
    # The cheapest ladder of these 4 tasks, whatever the noise (the next test).
    balanced = AdaptiveSettings(memory_coupling=None, records=False, one_standard_error=False)
    strategy = AdaptiveLadder(StrategyConfig(machine=MACHINE), balanced)
    for memory in (100, 100, 100, 400):
        strategy.observe(Sample("c", 1, memory, 10, 1))
    policy = strategy.policy("c")
    assert isinstance(policy, AdaptivePolicy)
    # weights ~1 on 100, 100, 100, 400; an attempt also costs 2 x mean = 350:
    # [100, 400] costs (100 + 350) x 4 + (400 + 350) x 1 = 2550 < [400]: (400 + 350) x 4 = 3000
    assert policy.rungs[1] == (100, 400)
    assert policy.first(RNG) == Allocation(1, 100, 10)
    memory = frozenset({Resource.MEMORY})
    assert policy.retry(Allocation(1, 100, 10), memory, RNG) == Allocation(1, 400, 10)
    # above every rung (no record model): doubled, capped at the machine
    assert policy.retry(Allocation(1, 400, 10), memory, RNG) == Allocation(1, 800, 10)
    assert policy.retry(Allocation(1, 800, 10), memory, RNG) == Allocation(1, 1000, 10)
    cores = frozenset({Resource.CORES})
    assert policy.retry(Allocation(1, 100, 10), cores, RNG) == Allocation(2, 100, 10)


def test_a_rung_that_saves_less_than_the_samples_noise_is_left_out() -> None:
    # 100, 100, 100, 400: two rungs are the cheapest on the sample (the test above) but save
    # less than one standard error of the difference over so few tasks, so one rung it is;
    # the same sample three times makes the saving clear.
    for copies, rungs in ((1, (400,)), (2, (400,)), (3, (100, 400))):
        settings = AdaptiveSettings(memory_coupling=None, records=False)
        strategy = AdaptiveLadder(StrategyConfig(machine=MACHINE), settings)
        for _ in range(copies):
            for memory in (100, 100, 100, 400):
                strategy.observe(Sample("c", 1, memory, 10, 1))
        policy = strategy.policy("c")
        assert isinstance(policy, AdaptivePolicy)
        assert policy.rungs[1] == rungs, copies


def test_the_memory_ladder_is_charged_nothing_more_than_its_own_waste() -> None:
    # [100, 900] costs 100 x 2 + 900 x 1 = 1100 < [900]: 1800, whatever the coupling of the
    # others; with the balanced coupling (2 x mean 500 per attempt) one rung is cheaper
    for settings, rungs in (
        (AdaptiveSettings(records=False), (100, 900)),
        (AdaptiveSettings(records=False, memory_coupling=None), (900,)),
    ):
        strategy = AdaptiveLadder(StrategyConfig(machine=MACHINE), settings)
        for memory in (100, 900):
            strategy.observe(Sample("c", 1, memory, 10, 1))
        policy = strategy.policy("c")
        assert isinstance(policy, AdaptivePolicy)
        assert policy.rungs[1] == rungs


def test_a_rising_maximum_puts_the_top_rung_above_it() -> None:
    # 100, 101, 102, 102 without decay: two records of three later tasks, +1 % and +0.99 %; the
    # next record's mass, 2/3 of the weight 4, lands at 103.02 and 103.0099. One rung there
    # costs 103.02 x 6.67 = 687; stopping at 102 first would cost 102 x 6.67 + 103.02 x 2.67
    settings = AdaptiveSettings(half_life=0)
    strategy = AdaptiveLadder(StrategyConfig(machine=MACHINE), settings)
    for memory in (100, 101, 102, 102):
        strategy.observe(Sample("c", 1, memory, 10, 1))
    policy = strategy.policy("c")
    assert isinstance(policy, AdaptivePolicy)
    assert policy.rungs[1] == pytest.approx((103.02,))
    # a retry above it climbs the cheapest ladder over the records' excesses scaled to it (one
    # rung, the larger), then doubles
    assert policy.above[1] == pytest.approx((103.02 * 1.01,))
    memory = frozenset({Resource.MEMORY})
    retry = policy.retry(Allocation(1, 103.02, 10), memory, RNG)
    assert retry.memory_mb == pytest.approx(103.02 * 1.01)
    assert policy.retry(retry, memory, RNG).memory_mb == pytest.approx(2 * 103.02 * 1.01)


def test_a_phase_change_takes_over_with_decay() -> None:
    balanced = AdaptiveSettings(half_life=5, memory_coupling=None, records=False)
    strategy = AdaptiveLadder(StrategyConfig(machine=MACHINE), balanced)
    for _ in range(30):
        strategy.observe(Sample("c", 1, 900, 10, 1))
    for _ in range(30):
        strategy.observe(Sample("c", 1, 100, 10, 1))
    assert strategy.policy("c").first(RNG).memory_mb == 100
    no_decay = AdaptiveLadder(StrategyConfig(machine=MACHINE), replace(balanced, half_life=0))
    for memory in [900] * 30 + [100] * 30:
        no_decay.observe(Sample("c", 1, memory, 10, 1))
    assert no_decay.policy("c").first(RNG).memory_mb == 900


def test_failed_attempts_are_not_learned_as_usage() -> None:
    strategy = fed(100, 100, 100, 400)
    before = strategy.policy("c").rungs  # type: ignore[union-attr]
    strategy.observe(Sample("c", 1, 5, 1, 1, result=TaskResult.RESOURCE_EXHAUSTION))
    assert strategy.policy("c").rungs == before  # type: ignore[union-attr]


def test_record_excesses_are_relative_to_the_running_maximum() -> None:
    excesses, weights = record_excesses(arr(10, 5, 20, 15, 30, 0), arr(1, 2, 3, 4, 5, 6))
    assert list(excesses) == [1.0, 0.5]
    assert list(weights) == [3, 5]
    assert len(record_excesses(arr(0, 4), arr(1, 1))[0]) == 0  # no ratio to a maximum of 0


def test_a_records_weight_is_divided_by_the_chance_of_a_record_at_its_position() -> None:
    # records at the 3rd (chance 1/3) and 5th (chance 1/5) task
    excesses, weights = position_weighted_excesses(arr(10, 5, 20, 15, 30, 0), arr(1, 2, 3, 4, 5, 6))
    assert list(excesses) == [1.0, 0.5]
    assert list(weights) == [3 * 3, 5 * 5]
    assert len(position_weighted_excesses(arr(7), arr(1))[0]) == 0
    # so where the next record lands follows the later records more than the early ones
    ones = np.ones(6)
    values, masses = next_record(arr(100, 300, 300, 300, 300, 330), ones, ones)
    assert list(values) == pytest.approx(
        [330 * 3, 330 * 1.1]
    )  # +200 % at the 2nd, +10 % at the 6th
    assert masses[1] / masses[0] == pytest.approx(6 / 2)
    # unweighted (AdaptiveSettings(records_by_position=False)), both records alike
    _, alike = next_record(arr(100, 300, 300, 300, 300, 330), ones, ones, by_position=False)
    assert alike[1] / alike[0] == pytest.approx(1)


def test_the_record_rate_fades_with_recency() -> None:
    values = arr(1, 2, 3, 3, 3)  # records at the 2nd and 3rd of four later tasks
    assert record_rate(values, arr(1, 1, 1, 1, 1)) == pytest.approx(0.5)
    assert record_rate(values, arr(1, 1, 1, 4, 4)) == pytest.approx(2 / 10)
    assert record_rate(arr(5), arr(1)) == 0


def test_the_next_record_lands_past_the_maximum_with_the_record_rate_of_the_weight() -> None:
    values, weights = next_record(arr(100, 200, 200), arr(1, 1, 2), arr(1, 1, 1))
    # one record (+100 %) of two later tasks: mass 1/2 x total weight 4 at 400
    assert list(values) == [400]
    assert list(weights) == [2]
    assert len(next_record(arr(5, 5), arr(1, 1), arr(1, 1))[0]) == 0


def test_merging_never_swallows_the_maximum_into_a_far_record() -> None:
    # many values seen, a light record mass far above: the maximum seen keeps its own level
    values = np.arange(1.0, 1001.0)
    rungs = ladder(values, np.ones(1000), 10, 0.0, (arr(5000), arr(1e-9)))
    assert 1000 in rungs
    assert rungs[-1] == 5000
