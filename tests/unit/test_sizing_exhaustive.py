"""Exhaustive bucketing (Phung et al.; CCTools bucketing_exhaust) on hand-checked values."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.sizing_data import arr
from workqueue_operator.sizing.buckets import Rung
from workqueue_operator.sizing.strategies.base import StrategyConfig
from workqueue_operator.sizing.strategies.exhaustive import (
    candidate_tops,
    exhaustive_bucketing,
    exhaustive_ladder,
    expected_cost,
)
from workqueue_operator.values.samples import Sample


def test_candidates_are_powers_of_two_then_linear_steps() -> None:
    assert candidate_tops(10, 1) == [1, 2, 4, 10]
    assert candidate_tops(10, 2) == [1, 2, 5, 10]
    assert candidate_tops(0, 3) == [0, 0, 0]


def test_expected_cost_by_hand() -> None:
    # tops 1, 2, 3 each with p = 1/3 and mean = top. Fitting draws cost top - mean:
    # [[0, 1, 2], [., 0, 1], [., ., 0]]; misses: cost[2][1] = 2 + 0 = 2,
    # cost[1][0] = 1 + (0 + 1)/2 = 1.5, cost[2][0] = 1 + (2 + 0)/2 = 2. Sum 9.5 over 9 pairs.
    tops = arr(1, 2, 3)
    probs = np.full(3, 1 / 3)
    assert expected_cost(tops, probs, tops) == pytest.approx(9.5 / 9)


def test_one_bucket_when_splitting_does_not_pay() -> None:
    # 6 and 10: one bucket costs 10 - 8 = 2; buckets {6, 10} cost (0 + 4 + 6 + 0)/4 = 2.5
    assert exhaustive_ladder(arr(6, 10), arr(1, 1), max_buckets=3) == (Rung(10, 1.0),)


def test_far_apart_values_get_their_own_buckets() -> None:
    assert exhaustive_ladder(arr(1, 1000), arr(1, 1), max_buckets=2) == (
        Rung(1, 0.5),
        Rung(1000, 0.5),
    )


def test_strategy_replays_with_a_bucket_limit() -> None:
    strategy = exhaustive_bucketing(StrategyConfig(max_buckets=2, cold_start=2))
    for memory in (10, 1000, 10):
        strategy.observe(Sample("c", 1, memory, 5, 1))
    assert [r.value for r in strategy.policy("c").ladders[1]] == [10, 1000]  # type: ignore[union-attr]
