"""The best fixed ladder in hindsight: ladders known from the whole trace, played under rules."""

from __future__ import annotations

import random

import pytest

from workqueue_operator.sizing.hindsight import (
    HindsightLadder,
    groups,
    hindsight,
    hindsight_settings,
)
from workqueue_operator.sizing.replay import score
from workqueue_operator.sizing.resources import Allocation
from workqueue_operator.sizing.rules import OPERATOR, PAPERS, POOLED
from workqueue_operator.sizing.strategies.base import StrategyConfig
from workqueue_operator.values.samples import Sample

MACHINE = Allocation(cores=16, memory_mb=64_000, disk_mb=64_000)


def tasks(category: str, memories: list[float]) -> list[Sample]:
    return [Sample(category, 1, memory, 10, 1) for memory in memories]


def test_each_learner_gets_the_cheapest_ladder_of_all_its_tasks() -> None:
    # a: nine tasks of 100 MB and one of 1000 MB. One rung at 1000 costs 10 x 1000; the
    # ladder 100, 1000 costs 10 x 100 + 1 x 1000. b: 900, 950, 1000 alike: one rung at 1000
    # (3000) beats 950, 1000 (3 x 950 + 1000) and 900, 1000 (3 x 900 + 2 x 1000).
    trace = tasks("a", [100] * 9 + [1000]) + tasks("b", [900, 950, 1000])
    config = StrategyConfig(machine=MACHINE)
    per_category = HindsightLadder(config, groups(trace, OPERATOR), hindsight_settings())
    assert per_category.policy("a").rungs == ((1.0,), (100.0, 1000.0), (10.0,))
    assert per_category.policy("b").rungs[1] == (1000.0,)
    assert per_category.policy("a").first(random.Random(0)) == Allocation(1, 100, 10)
    # Pooled, 13 x 100 + 4 x 1000 beats every other ladder of the 13 tasks.
    pooled = HindsightLadder(config, groups(trace, PAPERS), hindsight_settings())
    assert pooled.policy(POOLED).rungs[1] == (100.0, 1000.0)


def test_a_category_named_like_the_pooled_learner_is_no_other_learners_task() -> None:
    trace = tasks(POOLED, [100, 200]) + tasks("b", [300])
    assert [len(g) for g in groups(trace, PAPERS).values()] == [3]
    assert {k: len(g) for k, g in groups(trace, OPERATOR).items()} == {POOLED: 2, "b": 1}


def test_under_the_operators_rules_the_ladder_starts_after_the_first_task() -> None:
    # The first task runs on the whole machine (the rules' cold start); the ladder, known from
    # the start, then holds the 100 MB tasks at 100, and the last task fails once at 100.
    trace = tasks("a", [100] * 9 + [1000])
    result = score(trace, hindsight(trace, OPERATOR), MACHINE)
    assert result.failed_attempts == 1
    assert result.memory.used == pytest.approx(9 * 100 + 1000)
    assert result.memory.allocated == pytest.approx(64_000 + 8 * 100 + 100 + 1000)


def test_under_the_papers_rules_every_category_shares_one_ladder() -> None:
    # Pooled, the 10-task cold start covers a's tasks; b's three get the pooled ladder 100,
    # 1000, whose first rung fails each of them once. Per category, b's ladder is 1000 alone.
    trace = tasks("a", [100] * 9 + [1000]) + tasks("b", [900, 950, 1000])
    result = score(trace, hindsight(trace, PAPERS), MACHINE)
    assert result.failed_attempts == 3
    assert result.memory.allocated == pytest.approx(10 * 64_000 + 3 * (100 + 1000))
    per_category = score(trace, hindsight(trace, OPERATOR), MACHINE)
    assert per_category.failed_attempts == 1
